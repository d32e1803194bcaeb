#!/usr/bin/env bash
# Bring up deploy/compose: make the secrets that are missing under secrets/, build the hub and
# agent images, issue the agents' and Prometheus's tokens with the hub image itself, start
# everything, and print where to look and an admin token.
#
# Needs Docker with the compose plugin (`docker compose`), nothing else: tokens are signed by
# `hub token issue` run in the hub image. Run it again at any time: existing secrets are kept.
# To start afresh (new secrets need a new database volume):
#   docker compose -f deploy/compose/compose.yaml down -v
#   find deploy/compose/secrets -type f ! -name README.md ! -name .gitignore -delete
set -euo pipefail
cd "$(dirname "$0")"

if ! docker compose version >/dev/null 2>&1; then
  echo "up.sh: needs Docker with the compose plugin (docker compose version failed)" >&2
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  echo "up.sh: no Docker engine answers (docker info failed)" >&2
  exit 1
fi

# The image tag: the Makefile's VERSION, so `make images` and this build the same tags.
export CENTRALHUB_VERSION=${CENTRALHUB_VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}

# secrets/ is private to you; the files in it must be readable by the containers' users (the hub
# and agents run as uid 65532, Prometheus as 65534, Grafana as 472), since compose mounts them as they are.
mkdir -p secrets
chmod 0700 secrets

missing() { [ ! -s "secrets/$1" ]; }
put() { # name: stdin into secrets/name; empty input is an error
  cat >"secrets/$1.tmp"
  if [ ! -s "secrets/$1.tmp" ]; then
    rm -f "secrets/$1.tmp"
    echo "up.sh: nothing to write into secrets/$1" >&2
    return 1
  fi
  chmod 0644 "secrets/$1.tmp"
  mv "secrets/$1.tmp" "secrets/$1"
  echo "made secrets/$1"
}
random_base64() { head -c 32 /dev/urandom | base64; }
random_hex() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

missing jwt-secret && random_base64 | put jwt-secret
missing gossip-key && random_base64 | put gossip-key
missing postgres-password && random_hex | put postgres-password
missing grafana-admin-password && random_hex | put grafana-admin-password
if missing database-url; then
  printf 'postgres://centralhub:%s@postgres:5432/centralhub?sslmode=disable\n' "$(cat secrets/postgres-password)" | put database-url
fi

# Every secret file must exist before compose creates any container; the tokens are filled below.
for f in orders-agent-token payments-agent-token metrics-token; do
  [ -e "secrets/$f" ] || { : >"secrets/$f"; chmod 0644 "secrets/$f"; }
done

docker compose build

issue() { # file, hub token issue flags...
  local file=$1
  shift
  if missing "$file"; then
    docker compose run --rm --no-deps -T hub token issue "$@" | put "$file"
  fi
}
issue orders-agent-token --role agent --service orders --subject orders-agent --ttl 8760h
issue payments-agent-token --role agent --service payments --subject payments-agent --ttl 8760h
issue metrics-token --role metrics --tenant '*' --subject prometheus --ttl 8760h

docker compose up -d --wait

admin=$(docker compose run --rm --no-deps -T hub token issue --role admin --tenant '*' --subject "${USER:-admin}" --ttl 24h)
cat <<EOF

Central Hub is up (images centralhub/hub:$CENTRALHUB_VERSION, centralhub/agent:$CENTRALHUB_VERSION).

  dashboard     http://127.0.0.1:7000/   (paste the admin token below)
  Prometheus    http://127.0.0.1:9090/
  Alertmanager  http://127.0.0.1:9093/
  Grafana       http://127.0.0.1:3000/   (user admin, password in deploy/compose/secrets/grafana-admin-password)

Admin token (24h, every tenant):
$admin

Another one:
  docker compose -f deploy/compose/compose.yaml run --rm --no-deps -T hub token issue --role admin --tenant '*' --subject you --ttl 24h

Break and heal the orders demo service:
  curl -X POST -d 503 http://127.0.0.1:8081/health
  curl -X POST -d 200 http://127.0.0.1:8081/health

Stop: docker compose -f deploy/compose/compose.yaml down   (add -v to drop the data too)
EOF
