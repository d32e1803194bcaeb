package alert

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // maintenance windows name IANA zones; the hub must know them on a minimal image

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// MaxSilenceLength bounds a fixed-time silence.
const MaxSilenceLength = 366 * 24 * time.Hour

// days maps a schedule's day names to weekdays.
var days = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// silence is a validated silence with its matchers compiled.
type silence struct {
	hub.Silence
	re  []*regexp.Regexp // per matcher; nil for exact ones
	loc *time.Location   // of the schedule
	win []window
}

// window is one weekly slot in minutes from the week's start (Sunday 00:00); end may pass the
// week's end (a Saturday night slot running past midnight).
type window struct{ start, end int }

// ValidateSilence checks s as a client sent it, naming the field at fault; now judges whether
// its end has already passed.
func ValidateSilence(s *hub.Silence, now time.Time) error {
	_, err := compileSilence(*s, now, true)
	return err
}

func compileSilence(s hub.Silence, now time.Time, fresh bool) (*silence, error) {
	out := &silence{Silence: s}
	if len(s.Matchers) == 0 {
		return nil, errors.New("matchers: at least one is required")
	}
	if len(s.Matchers) > 20 {
		return nil, errors.New("matchers: at most 20")
	}
	for i, m := range s.Matchers {
		field := fmt.Sprintf("matchers[%d]", i)
		if !slices.Contains(labelNames, m.Name) {
			return nil, fmt.Errorf("%s.name: %q is not one of %s", field, m.Name, strings.Join(labelNames, ", "))
		}
		if m.Name == "tenant" {
			return nil, fmt.Errorf("%s.name: a silence is of its own tenant; give tenant in the silence, not as a matcher", field)
		}
		if m.Value == "" {
			return nil, fmt.Errorf("%s.value: must not be empty", field)
		}
		if len(m.Value) > 1024 {
			return nil, fmt.Errorf("%s.value: longer than 1024 bytes", field)
		}
		var re *regexp.Regexp
		if m.IsRegex {
			var err error
			if re, err = regexp.Compile("^(?:" + m.Value + ")$"); err != nil {
				return nil, fmt.Errorf("%s.value: %w", field, err)
			}
		}
		out.re = append(out.re, re)
	}
	if len(s.Comment) > 2000 {
		return nil, errors.New("comment: longer than 2000 bytes")
	}
	if s.Schedule == nil {
		switch {
		case s.StartsAt.IsZero():
			return nil, errors.New("starts_at: required (or give a schedule)")
		case s.EndsAt.IsZero():
			return nil, errors.New("ends_at: required (or give a schedule)")
		case !s.EndsAt.After(s.StartsAt):
			return nil, errors.New("ends_at: must be after starts_at")
		case s.EndsAt.Sub(s.StartsAt) > MaxSilenceLength:
			return nil, fmt.Errorf("ends_at: a silence lasts at most %s (use a schedule for recurring windows)", MaxSilenceLength)
		case fresh && !s.EndsAt.After(now):
			return nil, errors.New("ends_at: already past")
		}
		return out, nil
	}
	if !s.StartsAt.IsZero() || !s.EndsAt.IsZero() {
		return nil, errors.New("schedule: give either a schedule or starts_at/ends_at, not both")
	}
	sch := s.Schedule
	if len(sch.Weekly) == 0 {
		return nil, errors.New("schedule.weekly: at least one window is required")
	}
	if len(sch.Weekly) > 50 {
		return nil, errors.New("schedule.weekly: at most 50 windows")
	}
	tz := sch.Timezone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, fmt.Errorf("schedule.timezone: %q is not an IANA time zone such as Europe/Berlin", sch.Timezone)
	}
	out.loc = loc
	for i, w := range sch.Weekly {
		field := fmt.Sprintf("schedule.weekly[%d]", i)
		d, ok := days[strings.ToLower(w.Day)]
		if !ok {
			return nil, fmt.Errorf("%s.day: %q is not mon, tue, wed, thu, fri, sat or sun", field, w.Day)
		}
		start, err := parseClock(w.Start, false)
		if err != nil {
			return nil, fmt.Errorf("%s.start: %w", field, err)
		}
		end, err := parseClock(w.End, true)
		if err != nil {
			return nil, fmt.Errorf("%s.end: %w", field, err)
		}
		if end == start {
			return nil, fmt.Errorf("%s.end: must differ from start", field)
		}
		base := int(d) * 24 * 60
		if end < start { // runs past midnight into the next day
			end += 24 * 60
		}
		out.win = append(out.win, window{base + start, base + end})
	}
	return out, nil
}

// parseClock parses HH:MM into minutes; 24:00 only as an end.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("%q is not a time from 00:00 to 23:59 (24:00 as an end)", s)
	}
	return hh*60 + mm, nil
}

const week = 7 * 24 * 60

// activeAt reports whether the silence mutes at t.
func (s *silence) activeAt(t time.Time) bool {
	if s.Schedule == nil {
		return !t.Before(s.StartsAt) && t.Before(s.EndsAt)
	}
	lt := t.In(s.loc)
	m := int(lt.Weekday())*24*60 + lt.Hour()*60 + lt.Minute()
	for _, w := range s.win {
		if (m >= w.start && m < w.end) || (w.end > week && m < w.end-week) {
			return true
		}
	}
	return false
}

// expired reports whether a fixed-time silence has ended for good; schedules never do.
func (s *silence) expired(t time.Time) bool {
	return s.Schedule == nil && !t.Before(s.EndsAt)
}

// stateAt is what the API says of the silence at t: active, pending or expired.
func (s *silence) stateAt(t time.Time) string {
	switch {
	case s.expired(t):
		return "expired"
	case s.activeAt(t):
		return "active"
	}
	return "pending"
}

// matches reports whether the silence selects a (its tenant's) alert.
func (s *silence) matches(a *hub.Alert) bool {
	if a.Tenant != s.Tenant {
		return false
	}
	for i, m := range s.Matchers {
		var v string
		switch m.Name {
		case "service":
			v = a.Service
		case "instance":
			v = a.Instance
		case "component":
			v = a.Component
		case "check":
			v = a.Check
		case "rule":
			v = a.Rule
		case "severity":
			v = string(a.Severity)
		}
		if s.re[i] != nil {
			if !s.re[i].MatchString(v) {
				return false
			}
		} else if v != m.Value {
			return false
		}
	}
	return true
}

// coversService reports whether the silence, a maintenance window, takes a whole service of its
// tenant: every matcher is on the service (or its node, the component of the same name).
func (s *silence) coversService(tenant, service string) bool {
	if s.Schedule == nil || s.Tenant != tenant {
		return false
	}
	for i, m := range s.Matchers {
		if m.Name != "service" && m.Name != "component" {
			return false
		}
		if s.re[i] != nil {
			if !s.re[i].MatchString(service) {
				return false
			}
		} else if m.Value != service {
			return false
		}
	}
	return true
}

// validTenant checks a silence's tenant.
func validTenant(t string) error {
	if err := protocol.ValidName(t); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	return nil
}
