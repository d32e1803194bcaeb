package graph_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/centralhub/centralhub/hub/internal/browsertest"
)

// labelCheck is what the page reports: how many labels it measured and which fall outside
// their node's box.
type labelCheck struct {
	Measured int      `json:"measured"`
	Outside  []string `json:"outside"`
	Overlaps []string `json:"overlaps"`
}

// TestSVGLabelsFitInBrowser lays out the 60-node graph, opens the picture in headless
// Chromium, and measures every label with getBBox: each must lie inside its box, and no two
// boxes may overlap as rendered.
func TestSVGLabelsFitInBrowser(t *testing.T) {
	ctx := browsertest.Context(t, "to measure the picture's labels in a browser", 60*time.Second)
	svg := sixtyNodes().SVG()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(svg))
	}))
	defer srv.Close()

	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/graph.svg")); err != nil {
		t.Fatalf("open the picture: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[labelCheck](`(() => {
		const out = {measured: 0, outside: [], overlaps: []};
		const boxes = [];
		for (const g of document.querySelectorAll("g.node")) {
			const r = g.querySelector("rect").getBBox();
			boxes.push([g.id, r]);
			for (const t of g.querySelectorAll("text")) {
				const b = t.getBBox();
				out.measured++;
				if (b.x < r.x || b.y < r.y || b.x + b.width > r.x + r.width || b.y + b.height > r.y + r.height) {
					out.outside.push(g.id + ": " + t.textContent + " " + JSON.stringify([b.x, b.y, b.width, b.height]) +
						" in " + JSON.stringify([r.x, r.y, r.width, r.height]));
				}
			}
		}
		for (let i = 0; i < boxes.length; i++) {
			for (let j = i + 1; j < boxes.length; j++) {
				const [ia, a] = boxes[i], [ib, b] = boxes[j];
				if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
					out.overlaps.push(ia + " / " + ib);
				}
			}
		}
		return out;
	})()`))
	if err != nil {
		t.Fatalf("measure: %v", err)
	}
	if got.Measured != 120 {
		t.Fatalf("measured %d labels, want 120 (two per node)", got.Measured)
	}
	if len(got.Outside) > 0 || len(got.Overlaps) > 0 {
		t.Fatalf("labels outside their boxes: %v\noverlapping boxes: %v", got.Outside, got.Overlaps)
	}
}
