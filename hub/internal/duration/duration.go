// Package duration parses the durations the hub's configuration and API take: Go's (90s,
// 1h30m) and whole days (7d), which Go's parser lacks and retention settings need.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse parses a Go duration (90s, 1h30m) or a whole number of days (7d).
func Parse(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 3650 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse duration: %w", err)
	}
	return d, nil
}
