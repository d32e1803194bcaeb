// Package ui is the dashboard page the hub serves at /: static assets embedded in the binary
// (no CDN, no build step), under a strict Content Security Policy. The page signs in with a
// bearer token kept for the browser tab only and reads nothing but the dashboard API, so it
// never sees more than its token allows.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// CSP allows the page its own scripts, styles and API only: no inline script or style, no
// frames, no other origin.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// Files is the page's assets: index.html, app.js and style.css.
func Files() fs.FS {
	static, _ := fs.Sub(files, "static")
	return static
}

// Handler serves the page at / and its assets at /static/{file}.
func Handler() http.Handler {
	static := Files()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if r.URL.Path == "/" {
			name = "index.html"
		}
		b, err := fs.ReadFile(static, name)
		if err != nil || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", contentTypes[path.Ext(name)])
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		_, _ = w.Write(b)
	})
}
