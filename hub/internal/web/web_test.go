package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/hub/internal/web"
)

// TestPageUnderCSP: the page and its assets come with the strict policy, the page holds no
// inline script or style (the policy would block them), and nothing else is served.
func TestPageUnderCSP(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for path, ctype := range map[string]string{"/": "text/html", "/static/app.js": "text/javascript", "/static/style.css": "text/css"} {
		res, body := get(path)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) || len(body) == 0 {
			t.Fatalf("%s: %d %s", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
			t.Fatalf("%s: CSP %q", path, csp)
		}
	}
	_, page := get("/")
	for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*`).FindAllString(page, -1) {
		if !strings.Contains(tag, " src=") || !strings.HasSuffix(tag, ">") {
			t.Fatalf("inline script: %q", tag)
		}
	}
	if m := regexp.MustCompile(`\son[a-z]+=|<style|\sstyle=`).FindString(page); m != "" {
		t.Fatalf("the page holds an inline handler or style: %q", m)
	}
	for _, path := range []string{"/static/nope.js", "/static/..%2fweb.go", "/index.html.bak"} {
		if res, _ := get(path); res.StatusCode != 404 {
			t.Fatalf("%s: %d, want 404", path, res.StatusCode)
		}
	}
}
