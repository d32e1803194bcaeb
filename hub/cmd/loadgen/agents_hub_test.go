package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/app"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
)

// syncBuffer is a bytes.Buffer safe for the hub writing and the test reading.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startHub runs a real hub in this process (`hub serve --dev`) on a free loopback port with
// the further flags given, and returns its URL and data directory; it stops with the test.
func startHub(t *testing.T, flags ...string) (url, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var out, logs syncBuffer
	done := make(chan int, 1)
	args := append([]string{"serve", "--dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-level", "warn"}, flags...)
	go func() { done <- app.Main(ctx, args, &out, &logs, func(string) (string, bool) { return "", false }) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("the hub exited with %d: %s", code, logs.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		for _, line := range strings.Split(out.String(), "\n") {
			if v, ok := strings.CutPrefix(line, "dev mode: API on "); ok {
				return v, dataDir
			}
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("the hub exited with %d: %s", code, logs.String())
		case <-time.After(20 * time.Millisecond): // polling its printout until the deadline
		}
	}
	t.Fatalf("the hub printed no URL: %s", logs.String())
	return "", ""
}

// healthOf returns instance's status and whether it has the hub's heartbeat check critical,
// from the hub's health API, read with the test's own decoding.
func healthOf(t *testing.T, url, auth, service, instance string) (status string, heartbeatCritical bool) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/api/v1/dashboard/health?service="+service, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Services []struct {
			Instances []struct {
				Instance, Status string
				Checks           []struct{ Name, Status string }
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	for _, s := range h.Services {
		for _, in := range s.Instances {
			if in.Instance != instance {
				continue
			}
			for _, c := range in.Checks {
				if c.Name == "hub:heartbeat" && c.Status == "critical" {
					heartbeatCritical = true
				}
			}
			return in.Status, heartbeatCritical
		}
	}
	return "", false
}

// TestAgentsAgainstHub runs `loadgen agents` — 40 agents at 1 s, a quarter flapping and an
// eighth dying and rejoining — against a real hub on PostgreSQL, and checks that nothing was
// lost: the hub counted every answer, and its database holds each instance at its last
// answered report. Meanwhile it watches, itself, a dying agent go critical on the hub and come
// back.
func TestAgentsAgainstHub(t *testing.T) {
	dbURL := pgtest.Schema(t)
	url, dataDir := startHub(t, "--database-url", dbURL)
	dir := t.TempDir()
	const agentsN, perService, flap, die = 40, 10, 0.25, 0.125
	if err := tokens(context.Background(), []string{"--data-dir", dataDir, "--out-dir", dir,
		"--instances", strconv.Itoa(agentsN), "--per-service", strconv.Itoa(perService)}, io.Discard); err != nil {
		t.Fatal(err)
	}
	admin, err := readToken(filepath.Join(dir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	roles, err := assignRoles(agentsN, flap, die, 1)
	if err != nil {
		t.Fatal(err)
	}
	dier := -1
	for j, r := range roles {
		if r == roleDier {
			dier = j
			break
		}
	}
	f := loadtest.Fleet{Instances: agentsN, PerService: perService}

	out := filepath.Join(dir, "run")
	done := make(chan error, 1)
	go func() {
		done <- agents(context.Background(), []string{"--url", url, "--tokens", filepath.Join(dir, agentTokensFile), "--admin-token", filepath.Join(dir, adminTokenFile),
			"--agents", strconv.Itoa(agentsN), "--per-service", strconv.Itoa(perService), "--interval", "1s", "--duration", "9s", "--sample", "1s",
			"--flap", fmt.Sprint(flap), "--die", fmt.Sprint(die), "--alive-min", "1", "--alive-max", "2", "--seed", "1",
			"--database-url", dbURL, "--out-dir", out}, io.Discard)
	}()

	// The dying agent goes critical by its heartbeat check, then comes back.
	svc, inst := f.Service(dier), loadtest.InstanceName(dier)
	var sawStale, sawBack bool
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !sawBack; {
		st, stale := healthOf(t, url, admin, svc, inst)
		sawStale = sawStale || (st == "critical" && stale)
		sawBack = sawStale && st != "" && !stale
		time.Sleep(50 * time.Millisecond) // polling the hub's view until the deadline
	}
	if !sawStale || !sawBack {
		t.Errorf("the dying agent %s/%s: went stale %v, came back %v", svc, inst, sawStale, sawBack)
	}
	if err := <-done; err != nil {
		t.Fatalf("loadgen agents: %v", err)
	}

	var sum agentsSummary
	if err := readJSONFile(filepath.Join(out, agentsSummaryFile), &sum); err != nil {
		t.Fatal(err)
	}
	if !sum.Loss.Equal || !sum.Loss.OK || sum.Loss.Hub["stored"] == 0 || sum.Loss.Hub["heartbeat"] == 0 {
		t.Errorf("hub counters against the generator's: %+v", sum.Loss)
	}
	if sum.Store == nil || !sum.Store.OK || sum.Store.Acked != agentsN || sum.Store.AtLastAcked != agentsN || sum.Store.Store != "postgres" {
		t.Errorf("store check %+v, want all %d instances at their last answered report", sum.Store, agentsN)
	}
	// 40 agents for 9 s at 1 s, less the dead ones' silence; every first report of a boot
	// and every flap stored.
	if sum.Sent < 200 || sum.OK != sum.Sent || sum.Failed != 0 || sum.Non2xx != 0 {
		t.Errorf("sent %d, answered 2xx %d, no answer %d, non-2xx %d", sum.Sent, sum.OK, sum.Failed, sum.Non2xx)
	}
	if sum.Diers != 5 || sum.Flappers != 10 || sum.Rejoins < 5 || sum.Probes < 5 || sum.ProbesStale != sum.Probes || !sum.ProbesOK {
		t.Errorf("%d diers, %d flappers, %d rejoins, %d of %d probes stale", sum.Diers, sum.Flappers, sum.Rejoins, sum.ProbesStale, sum.Probes)
	}
	if min := uint64(agentsN) + sum.Rejoins + uint64(sum.Flappers); sum.Outcomes["stored"] < min {
		t.Errorf("%d stored, want at least %d (first reports, rejoins, a flap each)", sum.Outcomes["stored"], min)
	}
	if sum.UnexpectedOutcomes != 0 {
		t.Errorf("%d answers other than the reports called for", sum.UnexpectedOutcomes)
	}
	// A loaded CI machine may drop ticks of the 1 s window, so only a few windows are asked for.
	if len(sum.Windows) < 3 {
		t.Errorf("%d windows, want at least 3", len(sum.Windows))
	} else if sum.Windows[0].Hub == nil || sum.Windows[0].Hub.Goroutines == 0 {
		t.Errorf("the first window's hub figures: %+v", sum.Windows[0].Hub)
	}
}
