package check

import (
	"strings"
	"testing"

	"github.com/centralhub/centralhub/pkg/status"
)

func TestDamper(t *testing.T) {
	const (
		P = status.Passing
		W = status.Warning
		C = status.Critical
	)
	tests := []struct {
		name       string
		rise, fall int
		in         []status.Check
		want       []status.Check
	}{
		{"no damping follows every result", 1, 1, []status.Check{P, C, P, W, C}, []status.Check{P, C, P, W, C}},
		{"first result applies at once", 3, 3, []status.Check{C}, []status.Check{C}},
		{"first passing applies at once", 3, 3, []status.Check{P}, []status.Check{P}},
		{"fall 2 ignores a single failure", 1, 2, []status.Check{P, C, P, C, C}, []status.Check{P, P, P, P, C}},
		{"rise 2 needs two passes", 2, 1, []status.Check{C, P, C, P, P, P}, []status.Check{C, C, C, C, P, P}},
		{"warning and critical are one run", 1, 2, []status.Check{P, W, C}, []status.Check{P, P, C}},
		{"latest non-passing reported", 1, 2, []status.Check{P, C, W, W, C}, []status.Check{P, P, W, W, C}},
		{"non-passing to other non-passing is immediate once fallen", 1, 3, []status.Check{C, W}, []status.Check{C, W}},
		{"pass interrupts the failure run", 1, 2, []status.Check{P, C, P, C, P}, []status.Check{P, P, P, P, P}},
		{"rise and fall 3", 3, 3, []status.Check{P, C, C, C, P, P, C, P, P, P},
			[]status.Check{P, P, P, C, C, C, C, C, C, P}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDamper(tt.rise, tt.fall)
			var got []string
			for _, s := range tt.in {
				got = append(got, string(d.observe(s)))
			}
			var want []string
			for _, s := range tt.want {
				want = append(want, string(s))
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("in %v\n got %v\nwant %v", tt.in, got, want)
			}
		})
	}
}

func TestDamperStartsUnknown(t *testing.T) {
	d := newDamper(2, 2)
	if d.current != status.Unknown {
		t.Fatalf("initial status %q, want unknown", d.current)
	}
}
