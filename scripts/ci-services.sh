#!/usr/bin/env bash
# Start the local services the tests talk to (harmless when they are already up), install the
# Debian packages the tests need when they are missing, and wait for every port to answer.
set -uo pipefail

start_if_down() { # port, command...
  local port=$1; shift
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "starting service on :$port"
    "$@" >/dev/null 2>&1 || echo "warning: could not start service on :$port"
  fi
}

wait_port() { # port, name
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then return 0; fi
    sleep 1
  done
  echo "error: $name did not answer on 127.0.0.1:$port" >&2
  return 1
}

if command -v pg_ctlcluster >/dev/null; then
  start_if_down 5432 pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
fi
command -v redis-server >/dev/null && start_if_down 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
command -v rabbitmq-server >/dev/null && start_if_down 5672 rabbitmq-server -detached
command -v mosquitto >/dev/null && start_if_down 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf
[ -x /usr/sbin/nats-server ] && start_if_down 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
[ -x /usr/sbin/mariadbd ] && start_if_down 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd

status=0

# Debian packages the tests need (../shared/CI.md), installed only when missing.
missing=()
command -v chromium >/dev/null || missing+=(chromium)  # the dependency picture's browser test
command -v ip >/dev/null || missing+=(iproute2)        # the gossip partition test (ip netns)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)  # the Alertmanager receiver's end-to-end test
command -v pg_restore >/dev/null || missing+=(postgresql-client)  # the PostgreSQL backup/restore test (pg_dump, pg_restore)
{ command -v promtool >/dev/null && command -v prometheus >/dev/null; } || missing+=(prometheus)  # deploy/prometheus checks and the real-Prometheus scrape test (hub/internal/e2e/prometheus_test.go)
command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)  # the agent's clickhouse preset test (it starts its own server)
{ command -v java >/dev/null && [ -e /usr/share/java/zookeeper.jar ]; } || missing+=(zookeeperd)   # the agent's zookeeper probe test (it starts its own server)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    { echo "error: could not install ${missing[*]}" >&2; status=1; }
fi

# kustomize, for `kustomize build deploy/kubernetes` (hub/internal/e2e/deploy_test.go), built through the Go module proxy.
if ! command -v kustomize >/dev/null; then
  echo "installing kustomize"
  GOBIN=/usr/local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 || { echo "error: could not install kustomize" >&2; status=1; }
fi

for svc in 5432:postgresql 6379:redis 5672:rabbitmq 1883:mosquitto 4222:nats 3306:mariadb; do
  wait_port "${svc%%:*}" "${svc#*:}" || status=1
done
exit $status
