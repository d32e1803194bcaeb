package status

import (
	"slices"
	"testing"
)

func TestParseCheck(t *testing.T) {
	tests := []struct {
		in      string
		want    Check
		wantErr bool
	}{
		{in: "passing", want: Passing},
		{in: "warning", want: Warning},
		{in: "critical", want: Critical},
		{in: "unknown", want: Unknown},
		{in: "", wantErr: true},
		{in: "Passing", wantErr: true},
		{in: " passing", wantErr: true},
		{in: "healthy", wantErr: true},
		{in: "ok", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCheck(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseCheck(%q) = %q, want an error", tt.in, got)
				}
				if got != "" {
					t.Errorf("ParseCheck(%q) returned %q with its error, want \"\"", tt.in, got)
				}
				if Check(tt.in).Valid() {
					t.Errorf("Check(%q).Valid() = true, want false", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCheck(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseCheck(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !got.Valid() {
				t.Errorf("%q.Valid() = false, want true", got)
			}
		})
	}
}

func TestSeverityOrder(t *testing.T) {
	// critical > warning > unknown > passing; anything unrecognised ranks as unknown.
	tests := []struct {
		name        string
		worse, less Check
	}{
		{"critical over warning", Critical, Warning},
		{"warning over unknown", Warning, Unknown},
		{"unknown over passing", Unknown, Passing},
		{"critical over passing", Critical, Passing},
		{"critical over unknown", Critical, Unknown},
		{"warning over passing", Warning, Passing},
		{"garbage over passing", Check("bogus"), Passing},
		{"warning over garbage", Warning, Check("bogus")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.worse.Severity() <= tt.less.Severity() {
				t.Errorf("%q.Severity() = %d, not above %q.Severity() = %d",
					tt.worse, tt.worse.Severity(), tt.less, tt.less.Severity())
			}
		})
	}
	if got, want := Check("bogus").Severity(), Unknown.Severity(); got != want {
		t.Errorf("unrecognised status severity = %d, want unknown's %d", got, want)
	}
}

func TestWorst(t *testing.T) {
	all := []Check{Passing, Unknown, Warning, Critical}
	for i, a := range all {
		for j, b := range all {
			want := all[max(i, j)]
			t.Run(string(a)+"_"+string(b), func(t *testing.T) {
				if got := Worst(a, b); got != want {
					t.Errorf("Worst(%q, %q) = %q, want %q", a, b, got, want)
				}
			})
		}
	}
}

func TestInstance(t *testing.T) {
	tests := []struct {
		name   string
		checks []Check
		want   Check
	}{
		{"nil is passing", nil, Passing},
		{"empty is passing", []Check{}, Passing},
		{"all passing", []Check{Passing, Passing}, Passing},
		{"one unknown", []Check{Passing, Unknown, Passing}, Unknown},
		{"only unknown", []Check{Unknown}, Unknown},
		{"warning beats unknown", []Check{Unknown, Warning, Passing}, Warning},
		{"critical beats warning", []Check{Warning, Critical, Unknown}, Critical},
		{"critical last", []Check{Passing, Warning, Unknown, Critical}, Critical},
		{"critical first", []Check{Critical, Passing}, Critical},
		{"single critical", []Check{Critical}, Critical},
		{"single warning", []Check{Warning}, Warning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.checks)
			if got := Instance(tt.checks); got != tt.want {
				t.Errorf("Instance(%v) = %q, want %q", tt.checks, got, tt.want)
			}
			if !slices.Equal(in, tt.checks) {
				t.Errorf("Instance changed its input: %v, was %v", tt.checks, in)
			}
		})
	}
}

func TestServiceOf(t *testing.T) {
	tests := []struct {
		name      string
		instances []Check
		want      Service
	}{
		{"nil is unknown", nil, ServiceUnknown},
		{"empty is unknown", []Check{}, ServiceUnknown},
		{"one passing", []Check{Passing}, Healthy},
		{"all passing", []Check{Passing, Passing, Passing}, Healthy},
		{"one critical", []Check{Critical}, Unhealthy},
		{"all critical", []Check{Critical, Critical}, Unhealthy},
		{"passing and critical", []Check{Passing, Critical}, Degraded},
		{"warning only", []Check{Warning, Warning}, Degraded},
		{"unknown only", []Check{Unknown}, Degraded},
		{"critical and warning", []Check{Critical, Warning}, Degraded},
		{"critical and unknown", []Check{Critical, Unknown}, Degraded},
		{"passing and unknown", []Check{Passing, Unknown}, Degraded},
		{"passing and warning", []Check{Passing, Warning, Passing}, Degraded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServiceOf(tt.instances); got != tt.want {
				t.Errorf("ServiceOf(%v) = %q, want %q", tt.instances, got, tt.want)
			}
		})
	}
}

func TestOverall(t *testing.T) {
	tests := []struct {
		name       string
		services   []Service
		components []Component
		want       Service
	}{
		{"nothing is unknown", nil, nil, ServiceUnknown},
		{"empty slices are unknown", []Service{}, []Component{}, ServiceUnknown},
		{"all healthy", []Service{Healthy, Healthy}, nil, Healthy},
		{"healthy services and passing components", []Service{Healthy},
			[]Component{{Passing, true}, {Passing, false}}, Healthy},
		{"only passing components", nil, []Component{{Passing, true}}, Healthy},
		{"critical component critical beats healthy services", []Service{Healthy, Healthy},
			[]Component{{Passing, false}, {Critical, true}}, Unhealthy},
		{"critical component critical with no services", nil,
			[]Component{{Critical, true}}, Unhealthy},
		{"non-critical component critical is degraded", []Service{Healthy},
			[]Component{{Critical, false}}, Degraded},
		{"critical component warning is degraded", []Service{Healthy},
			[]Component{{Warning, true}}, Degraded},
		{"critical component unknown is degraded", []Service{Healthy},
			[]Component{{Unknown, true}}, Degraded},
		{"non-critical component unknown is degraded", []Service{Healthy},
			[]Component{{Unknown, false}}, Degraded},
		{"one unhealthy service", []Service{Healthy, Unhealthy, Healthy}, nil, Unhealthy},
		{"unhealthy service beats passing components", []Service{Unhealthy},
			[]Component{{Passing, true}}, Unhealthy},
		{"unhealthy service after degraded", []Service{Degraded, Unhealthy}, nil, Unhealthy},
		{"degraded service", []Service{Healthy, Degraded}, nil, Degraded},
		{"unknown service is degraded", []Service{Healthy, ServiceUnknown}, nil, Degraded},
		{"only unknown services are degraded", []Service{ServiceUnknown}, nil, Degraded},
		{"degraded service and critical component critical", []Service{Degraded},
			[]Component{{Critical, true}}, Unhealthy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Overall(tt.services, tt.components); got != tt.want {
				t.Errorf("Overall(%v, %v) = %q, want %q", tt.services, tt.components, got, tt.want)
			}
		})
	}
}

func TestRank(t *testing.T) {
	// Worst first: unhealthy < degraded < unknown < healthy.
	order := []Service{Unhealthy, Degraded, ServiceUnknown, Healthy}
	for i := 1; i < len(order); i++ {
		worse, better := order[i-1], order[i]
		t.Run(string(worse)+"_before_"+string(better), func(t *testing.T) {
			if worse.Rank() >= better.Rank() {
				t.Errorf("%q.Rank() = %d, not below %q.Rank() = %d", worse, worse.Rank(), better, better.Rank())
			}
		})
	}
}
