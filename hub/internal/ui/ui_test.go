package ui_test

import (
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/hub/internal/ui"
)

// TestPageUnderCSP: the page and its assets come with the strict policy, the page holds no
// inline script or style (the policy would block them), and nothing else is served.
func TestPageUnderCSP(t *testing.T) {
	srv := httptest.NewServer(ui.Handler())
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

// TestContrast reads the stylesheet and holds its colours to WCAG 2.1 contrast: text 4.5:1
// against its own background (or the page's, or the header's when the rule sets none) and
// focus outlines 3:1 against what they are drawn on.
func TestContrast(t *testing.T) {
	css, err := fs.ReadFile(ui.Files(), "style.css")
	if err != nil {
		t.Fatal(err)
	}
	src := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(css), "")
	const page, header = "#fff", "#17324d"
	hex := regexp.MustCompile(`#[0-9a-fA-F]{3,6}\b`)
	checked := 0
	for _, m := range regexp.MustCompile(`([^{}]+)\{([^}]*)\}`).FindAllStringSubmatch(src, -1) {
		sel := strings.TrimSpace(m[1])
		decl := map[string]string{}
		for _, d := range strings.Split(m[2], ";") {
			if k, v, ok := strings.Cut(d, ":"); ok {
				if c := hex.FindString(v); c != "" {
					decl[strings.TrimSpace(k)] = c
				}
			}
		}
		bg, ok := decl["background"]
		if !ok {
			bg = page
			if strings.HasPrefix(sel, "header") {
				bg = header
			}
		}
		if fg, ok := decl["color"]; ok {
			if r := contrast(t, fg, bg); r < 4.5 {
				t.Errorf("%s: text %s on %s has contrast %.2f:1, want at least 4.5:1", sel, fg, bg, r)
			}
			checked++
		}
		for _, prop := range []string{"outline", "stroke"} {
			if c, ok := decl[prop]; ok && strings.Contains(sel, "focus") {
				if r := contrast(t, c, bg); r < 3 {
					t.Errorf("%s: focus %s %s on %s has contrast %.2f:1, want at least 3:1", sel, prop, c, bg, r)
				}
				checked++
			}
		}
	}
	// The current view's button sets only its background; its text is header buttons' colour.
	if r := contrast(t, "#17324d", "#ffd166"); r < 4.5 || !strings.Contains(src, `nav button[aria-current="page"] { background: #ffd166; }`) {
		t.Errorf("the current view's button: contrast %.2f:1 or its rule changed", r)
	}
	if checked < 15 {
		t.Fatalf("only %d colours checked: the stylesheet was not read as expected", checked)
	}
}

// contrast is the WCAG contrast ratio of two #rgb or #rrggbb colours.
func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(t *testing.T, c string) float64 {
	h := strings.TrimPrefix(c, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil || len(h) != 6 {
		t.Fatalf("colour %q", c)
	}
	lin := func(x uint64) float64 {
		s := float64(x) / 255
		if s <= 0.03928 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(v>>16&0xff) + 0.7152*lin(v>>8&0xff) + 0.0722*lin(v&0xff)
}
