package localapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/centralhub/centralhub/pkg/protocol"
)

func TestConfigState(t *testing.T) {
	drifted := protocol.ConfigState{Status: protocol.ConfigDrifted, Version: "3",
		Problems: []protocol.ConfigProblem{{File: "/etc/a.yaml", Key: "db.url", Reason: "differs from desired version 3"}}}
	for _, tc := range []struct {
		name  string
		state func() protocol.ConfigState
		want  string
	}{
		{"no config checker", nil, `{"status":"none","version":"","problems":[]}`},
		{"drifted", func() protocol.ConfigState { return drifted },
			`{"status":"drifted","version":"3","problems":[{"file":"/etc/a.yaml","key":"db.url","reason":"differs from desired version 3"}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler(Config{Deliveries: &fakeDeliveries{}, Metrics: http.NotFoundHandler(), Config: tc.state})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/config", nil))
			if rec.Code != 200 || rec.Body.String() != tc.want+"\n" {
				t.Fatalf("GET /v1/config = %d %s, want %s", rec.Code, rec.Body.String(), tc.want)
			}
		})
	}
}
