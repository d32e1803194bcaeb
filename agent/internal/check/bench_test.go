package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// BenchmarkProbe measures one probe round of each check kind against the server the kind's
// test uses (the machine's PostgreSQL, MariaDB, Redis, NATS, RabbitMQ and Mosquitto; kfake,
// grpc-go's health server, ZooKeeper and ClickHouse started by the benchmark): the agent's side
// of a round, connection set-up and teardown included. A round that does not pass fails the
// benchmark, so what is measured is a working probe.
func BenchmarkProbe(b *testing.B) {
	web := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.Cleanup(web.Close)
	ca := newTestCA(b)
	amqpPassword := writeSecret(b, "guest")
	kafka := kafkaCluster(b, kfake.NumBrokers(1), kfake.SeedTopics(1, "bench"))
	clickhouse := clickHouseURL(b)
	product := func(path string) string { return productServer(b, path, http.StatusOK, `{"mode":"default"}`) }

	kinds := []struct {
		name  string
		build func(b *testing.B) Prober
	}{
		{"http", func(b *testing.B) Prober {
			return mustProber(b, func(c *config.HTTPCheck) (*HTTP, error) { return NewHTTP(c, "bench") },
				config.HTTPCheck{URL: web.URL, Method: "GET", ExpectStatus: "200-299"})
		}},
		{"tcp", func(b *testing.B) Prober {
			return NewTCP(&config.TCPCheck{Address: listenLoopback(b, func(net.Conn) {})})
		}},
		{"exec", func(b *testing.B) Prober { return NewExec(&config.ExecCheck{Command: []string{"/bin/true"}}) }},
		{"tls", func(b *testing.B) Prober {
			return mustProber(b, NewTLS, config.TLSCheck{Address: ca.serve(b, time.Now().Add(90*24*time.Hour)), ServerName: "127.0.0.1",
				CAFile: ca.file, WarnDays: 14, CriticalDays: 3})
		}},
		{"redis", func(b *testing.B) Prober { return mustProber(b, NewRedis, config.RedisCheck{Address: redisAddr(b)}) }},
		{"postgres", func(b *testing.B) Prober {
			return mustProber(b, NewPostgres, config.PostgresCheck{URL: "postgres://postgres@" + postgresAddr(b) + "/postgres?sslmode=disable"})
		}},
		{"mysql", func(b *testing.B) Prober {
			return mustProber(b, NewMySQL, config.MySQLCheck{DSN: "root@tcp(" + mysqlAddr(b) + ")/test"})
		}},
		{"nats", func(b *testing.B) Prober {
			addr := serverAddr(b, "NATS", "CENTRALHUB_TEST_NATS_ADDR", "127.0.0.1:4222")
			return mustProber(b, NewNATS, config.NATSCheck{URL: "nats://" + addr, JetStream: true})
		}},
		{"amqp", func(b *testing.B) Prober {
			return mustProber(b, NewAMQP, config.AMQPCheck{URL: "amqp://guest@" + amqpAddr(b) + "/", Secret: config.Secret{PasswordFile: amqpPassword}})
		}},
		{"mqtt", func(b *testing.B) Prober {
			addr := serverAddr(b, "Mosquitto", "CENTRALHUB_TEST_MQTT_ADDR", "127.0.0.1:1883")
			return mustProber(b, NewMQTT, config.MQTTCheck{Address: addr})
		}},
		{"kafka", func(b *testing.B) Prober {
			return mustProber(b, NewKafka, config.KafkaCheck{Brokers: kafka.ListenAddrs(), Topic: "bench"})
		}},
		{"grpc", func(b *testing.B) Prober { return mustProber(b, NewGRPC, config.GRPCCheck{Address: healthServer(b)}) }},
		{"zookeeper", func(b *testing.B) Prober {
			return mustProber(b, NewZooKeeper, config.ZooKeeperCheck{Address: startZooKeeper(b, "ruok")})
		}},
		{"clickhouse", func(b *testing.B) Prober {
			return mustProber(b, func(c *config.PresetCheck) (*HTTP, error) { return NewPreset(PresetClickHouse, c, "bench") },
				config.PresetCheck{URL: clickhouse})
		}},
		{"arangodb", func(b *testing.B) Prober {
			return mustProber(b, func(c *config.PresetCheck) (*HTTP, error) { return NewPreset(PresetArangoDB, c, "bench") },
				config.PresetCheck{URL: product("/_admin/server/availability")})
		}},
		{"weaviate", func(b *testing.B) Prober {
			return mustProber(b, func(c *config.PresetCheck) (*HTTP, error) { return NewPreset(PresetWeaviate, c, "bench") },
				config.PresetCheck{URL: product("/v1/.well-known/ready")})
		}},
		{"disk", func(*testing.B) Prober {
			return NewDisk(&config.DiskCheck{Path: "/", WarnPercent: 100, CriticalPercent: 100})
		}},
		{"memory", func(*testing.B) Prober { return NewMemory(&config.MemoryCheck{WarnPercent: 100, CriticalPercent: 100}) }},
		{"load", func(*testing.B) Prober {
			return NewLoad(&config.LoadCheck{Window: "1m", WarnPerCPU: 1000, CriticalPerCPU: 1000})
		}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			p := k.build(b)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			b.ReportAllocs()
			for b.Loop() {
				if r := p.Probe(ctx); r.Status != status.Passing {
					b.Fatalf("%s: %s %q", k.name, r.Status, r.Output)
				}
			}
		})
	}
}
