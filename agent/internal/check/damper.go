package check

import "github.com/centralhub/centralhub/pkg/status"

// damper applies rise/fall flap damping to a stream of raw statuses. The first result applies at
// once; after that the reported status turns passing only after rise consecutive passing results,
// and non-passing only after fall consecutive non-passing ones. Warning and critical count as one
// run of failures, and the latest of them is what gets reported.
type damper struct {
	rise, fall int
	seen       bool
	current    status.Check
	passes     int // consecutive passing results
	fails      int // consecutive non-passing results
}

func newDamper(rise, fall int) damper {
	return damper{rise: max(rise, 1), fall: max(fall, 1), current: status.Unknown}
}

// observe feeds one raw result and returns the damped status.
func (d *damper) observe(s status.Check) status.Check {
	if s == status.Passing {
		d.passes++
		d.fails = 0
	} else {
		d.fails++
		d.passes = 0
	}
	switch {
	case !d.seen:
		d.seen = true
		d.current = s
	case s == status.Passing && d.passes >= d.rise:
		d.current = s
	case s != status.Passing && (d.fails >= d.fall || d.current != status.Passing):
		// Once non-passing (by a first result or a completed fall), the latest non-passing
		// status shows at once: moving between warning and critical is not a flap.
		d.current = s
	}
	return d.current
}
