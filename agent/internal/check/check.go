// Package check runs the agent's health checks: one type per check kind (http, tcp, exec, ttl, and
// the infrastructure and host probes)
// behind the small Prober interface, and a Runner that schedules each check in its own goroutine,
// bounds every run by its timeout, caps its output, damps flapping with rise/fall, and signals
// status changes without ever blocking on the network.
package check

import (
	"context"
	"errors"
	"fmt"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// Prober runs one probe of a scheduled check. Probe must return soon after ctx ends (the runner
// bounds ctx by the check's timeout); its Output need not be capped, the runner caps it.
type Prober interface {
	Probe(ctx context.Context) Result
}

// Result is the raw outcome of one probe or one TTL update, before flap damping.
type Result struct {
	Status status.Check
	Output string
}

// Errors of Runner.UpdateTTL.
var (
	ErrUnknownCheck = errors.New("no such check")
	ErrNotTTL       = errors.New("not a ttl check")
)

// newProber builds the prober of a scheduled check kind. TTL checks have none: the runner drives
// them from updates.
func newProber(c *config.Check, userAgent string) (Prober, error) {
	switch {
	case c.HTTP != nil:
		return NewHTTP(c.HTTP, userAgent)
	case c.TCP != nil:
		return NewTCP(c.TCP), nil
	case c.Exec != nil:
		return NewExec(c.Exec), nil
	case c.TLS != nil:
		return NewTLS(c.TLS)
	case c.Redis != nil:
		return NewRedis(c.Redis)
	case c.Postgres != nil:
		return NewPostgres(c.Postgres)
	case c.MySQL != nil:
		return NewMySQL(c.MySQL)
	case c.NATS != nil:
		return NewNATS(c.NATS)
	case c.AMQP != nil:
		return NewAMQP(c.AMQP)
	case c.MQTT != nil:
		return NewMQTT(c.MQTT)
	case c.Kafka != nil:
		return NewKafka(c.Kafka)
	case c.GRPC != nil:
		return NewGRPC(c.GRPC)
	case c.ZooKeeper != nil:
		return NewZooKeeper(c.ZooKeeper)
	case c.ClickHouse != nil:
		return NewPreset(PresetClickHouse, c.ClickHouse, userAgent)
	case c.ArangoDB != nil:
		return NewPreset(PresetArangoDB, c.ArangoDB, userAgent)
	case c.Weaviate != nil:
		return NewPreset(PresetWeaviate, c.Weaviate, userAgent)
	case c.Disk != nil:
		return NewDisk(c.Disk), nil
	case c.Memory != nil:
		return NewMemory(c.Memory), nil
	case c.Load != nil:
		return NewLoad(c.Load), nil
	}
	return nil, fmt.Errorf("check %q: no scheduled kind", c.Name)
}
