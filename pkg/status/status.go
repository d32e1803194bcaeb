// Package status defines the status words of checks, instances, services and components, and the
// rules that roll one level up into the next (DESIGN.md, "Status rules").
package status

import "fmt"

// Check is the status of one check, of an instance or of a component.
type Check string

// The check statuses, from best to worst by Severity.
const (
	Passing  Check = "passing"
	Warning  Check = "warning"
	Critical Check = "critical"
	Unknown  Check = "unknown"
)

// Service is the status of a service, of a component in rollups, and of the whole system.
type Service string

// The service and overall statuses.
const (
	Healthy        Service = "healthy"
	Degraded       Service = "degraded"
	Unhealthy      Service = "unhealthy"
	ServiceUnknown Service = "unknown"
)

// ParseCheck returns the Check for s, or an error naming the accepted words.
func ParseCheck(s string) (Check, error) {
	switch c := Check(s); c {
	case Passing, Warning, Critical, Unknown:
		return c, nil
	}
	return "", fmt.Errorf("unknown check status %q (want passing, warning, critical or unknown)", s)
}

// Valid reports whether c is one of the four check statuses.
func (c Check) Valid() bool {
	_, err := ParseCheck(string(c))
	return err == nil
}

// Code numbers the check statuses for compact storage and indexing: 0 passing, 1 warning,
// 2 critical, 3 unknown (and anything that is not a status). Up is Code() <= 1.
func (c Check) Code() int {
	switch c {
	case Passing:
		return 0
	case Warning:
		return 1
	case Critical:
		return 2
	}
	return 3
}

// Up reports whether an instance or check with this status counts as available, for uptime:
// passing or warning.
func (c Check) Up() bool { return c == Passing || c == Warning }

// Severity orders check statuses for "take the worst": critical > warning > unknown > passing.
func (c Check) Severity() int {
	switch c {
	case Passing:
		return 0
	case Unknown:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 1
}

// Worst returns the worse of a and b by Severity.
func Worst(a, b Check) Check {
	if b.Severity() > a.Severity() {
		return b
	}
	return a
}

// Instance rolls the check statuses of a reporting instance into the instance status: its
// worst check. An instance that reports with no checks at all is passing: its agent is alive.
func Instance(checks []Check) Check {
	worst := Passing
	for _, c := range checks {
		worst = Worst(worst, c)
	}
	return worst
}

// ServiceOf rolls instance statuses into a service status: healthy when every instance is
// passing, unhealthy when every instance is critical, unknown with no instances, and degraded
// otherwise.
func ServiceOf(instances []Check) Service {
	if len(instances) == 0 {
		return ServiceUnknown
	}
	passing, critical := 0, 0
	for _, s := range instances {
		switch s {
		case Passing:
			passing++
		case Critical:
			critical++
		}
	}
	switch {
	case passing == len(instances):
		return Healthy
	case critical == len(instances):
		return Unhealthy
	}
	return Degraded
}

// Component is one component's status and whether it is declared critical, as Overall needs it.
type Component struct {
	Status   Check
	Critical bool
}

// Overall rolls services and components into the system status: unhealthy when a critical
// component is critical or any service is unhealthy; degraded when anything else is not
// healthy; healthy when everything is; unknown when there is nothing at all.
func Overall(services []Service, components []Component) Service {
	if len(services) == 0 && len(components) == 0 {
		return ServiceUnknown
	}
	result := Healthy
	for _, s := range services {
		switch s {
		case Unhealthy:
			return Unhealthy
		case Healthy:
		default:
			result = Degraded
		}
	}
	for _, c := range components {
		if c.Status == Critical && c.Critical {
			return Unhealthy
		}
		if c.Status != Passing {
			result = Degraded
		}
	}
	return result
}

// Rank orders service statuses from worst (0) to best, for "worst offenders" lists.
func (s Service) Rank() int {
	switch s {
	case Unhealthy:
		return 0
	case Degraded:
		return 1
	case ServiceUnknown:
		return 2
	}
	return 3
}
