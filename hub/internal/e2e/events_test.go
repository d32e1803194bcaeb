package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// streamLines opens the hub's event stream with token and returns its lines as they come; the
// channel closes when the stream ends.
func streamLines(t *testing.T, hubURL, token string) <-chan string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, hubURL+"/api/v1/dashboard/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("open the stream: %v %v", res, err)
	}
	t.Cleanup(func() { res.Body.Close() })
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// TestEventsFromTheHub: the hub binary streams a report's change to a viewer as it happens, and
// ends the stream when it stops.
func TestEventsFromTheHub(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/data", freePort(t))
	lines := streamLines(t, h.url, issue(t, auth.Viewer, "default", ""))
	rep := protocol.Report{Version: 1, Tenant: "default", Service: "orders", Instance: "o1", Boot: 1, Seq: 1,
		Interval: protocol.Duration(10 * time.Second), Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: status.Critical, Output: "HTTP 503"}}}
	body, _ := json.Marshal(rep)
	post, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/agent/reports", bytes.NewReader(body))
	post.Header.Set("Authorization", "Bearer "+issue(t, auth.Agent, "default", "orders"))
	sent := time.Now()
	if r, err := http.DefaultClient.Do(post); err != nil || r.StatusCode != 200 {
		t.Fatalf("report: %v %v", r, err)
	}
	deadline := time.After(10 * time.Second)
	event := ""
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			if strings.HasPrefix(line, "event: ") {
				event = strings.TrimPrefix(line, "event: ")
			}
			if event == "instance" && strings.HasPrefix(line, "data: ") && strings.Contains(line, `"instance":"o1"`) {
				if !strings.Contains(line, `"status":"critical"`) {
					t.Fatalf("instance event: %s", line)
				}
				t.Logf("the change reached the stream %s after the report", time.Since(sent).Round(time.Millisecond))
				// A stopping hub ends its streams rather than wait on them.
				stopped := time.Now()
				h.stop(t)
				for range lines {
				}
				t.Logf("the hub stopped, stream included, in %s", time.Since(stopped).Round(time.Millisecond))
				return
			}
		case <-deadline:
			t.Fatal("no instance event within 10 s")
		}
	}
}
