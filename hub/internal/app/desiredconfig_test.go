package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// devHub runs `hub serve --dev` on dir until the returned stop is called, and returns its API
// URL and the admin token it printed.
func devHub(t *testing.T, dir string) (url, token string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"serve", "--dev", "--data-dir", dir, "--listen", "127.0.0.1:0"}, &out, &errb, envOf(nil))
	}()
	stop = func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("hub did not stop")
		}
	}
	url, token = devPrintout(&out)
	if token == "" {
		stop()
		t.Fatalf("no dev token printed; stdout %q stderr %q", out.String(), errb.String())
	}
	return url, token, stop
}

func call(t *testing.T, method, url, token, body string, header map[string]string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// TestDesiredConfigSurvivesRestart: a desired config written (answered 200) is there after the
// hub restarts on the same data directory, and its versions go on rising from where they were.
func TestDesiredConfigSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	url, token, stop := devHub(t, dir)
	code, written, _ := call(t, "PUT", url+"/api/v1/config/orders", token, `{"db":{"url":"postgres://db/orders","password":"s3cret"}}`, nil)
	if code != 200 || !strings.Contains(written, `"version":1`) {
		stop()
		t.Fatalf("PUT: %d %s", code, written)
	}
	stop()

	url, token, stop = devHub(t, dir)
	defer stop()
	code, read, header := call(t, "GET", url+"/api/v1/config/orders", token, "", nil)
	if code != 200 || read != written || header.Get("ETag") != `"1"` {
		t.Fatalf("after the restart: %d %s, want %s", code, read, written)
	}
	code, body, _ := call(t, "PUT", url+"/api/v1/config/orders", token, `{"db":{"url":"postgres://db2/orders","password":"<redacted>"}}`,
		map[string]string{"If-Match": `"1"`})
	if code != 200 || !strings.Contains(body, `"version":2`) {
		t.Fatalf("PUT after the restart: %d %s", code, body)
	}
	code, audit, _ := call(t, "GET", url+"/api/v1/dashboard/audit", token, "", nil)
	if code != 200 || strings.Count(audit, `"action":"config.put"`) != 2 || strings.Contains(audit, "s3cret") {
		t.Fatalf("audit after the restart: %d %s", code, audit)
	}
}
