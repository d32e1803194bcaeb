#!/usr/bin/env bash
# Central Hub soak (`make soak`, after `make build`): a hub on PostgreSQL, in a database of its
# own (created here, dropped at the end, on failure too), with its defaults otherwise
# (ingest.rate_per_instance, gossip off), takes `loadgen agents` — SOAK_AGENTS agents reporting
# every 10 s, 5% of them flapping and 2% dying and rejoining — for SOAK_DURATION. loadgen
# samples the hub's /metrics and its VmRSS from /proc every 10 s, and at the end checks that no
# report was lost (the hub's ingest counters equal its own answers, and the database holds every
# instance at its last answered report); it judges whether heap and goroutines stayed flat and
# p99 steady after the warm-up. gnuplot draws docs/soak.png, and `loadgen doc --only soak`
# rewrites section 8 of docs/BENCHMARKS.md and its rows of the targets table, leaving the rest.
#
# Environment:
#   SOAK_AGENTS=1000 SOAK_DURATION=30m     the fleet and how long it reports
#   SOAK_INTERVAL=10s SOAK_SAMPLE=10s       each agent's report interval; the sample window
#   SOAK_FLAP=0.05 SOAK_DIE=0.02            shares of flapping and of dying agents
#   SOAK_DOC=docs/BENCHMARKS.md             the document to update ("" to leave it alone)
#   CENTRALHUB_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#                                           the server the soak database is created on; a
#                                           password in it goes to psql and the hub as
#                                           PGPASSWORD, never on a command line
# Raw outputs go to .bench/soak-<time>/; the exit status is loadgen's: non-zero when a report
# was lost, after the plot and the document are written.
set -euo pipefail
cd "$(dirname "$0")/.."

AGENTS=${SOAK_AGENTS:-1000}
DURATION=${SOAK_DURATION:-30m}
INTERVAL=${SOAK_INTERVAL:-10s}
SAMPLE=${SOAK_SAMPLE:-10s}
FLAP=${SOAK_FLAP:-0.05}
DIE=${SOAK_DIE:-0.02}
DOC=${SOAK_DOC-docs/BENCHMARKS.md}
PER_SERVICE=100
GO=${GO:-go}
DBURL=${CENTRALHUB_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}

RUN=.bench/soak-$(date -u +%Y%m%dT%H%M%SZ)
LOADGEN=.bench/bin/loadgen
mkdir -p "$RUN/soak" .bench/bin

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'soak: %s\n' "$*" >&2; exit 1; }

# record NAME CMD... writes the command line, as run from the repository root, to commands.txt.
record() {
  local name=$1
  shift
  printf '%s\t%s\n' "$name" "$(printf '%q ' "$@" | sed 's/ $//')" >>"$RUN/commands.txt"
}

# run NAME CMD... records the command and runs it in the foreground.
run() {
  record "$@"
  shift
  "$@"
}

HUB_PID=
SOAK_DB=
cleanup() {
  if [[ -n $HUB_PID ]]; then
    kill -TERM "$HUB_PID" 2>/dev/null || true
    wait "$HUB_PID" 2>/dev/null || true
  fi
  if [[ -n $SOAK_DB ]]; then
    PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -Xqc "DROP DATABASE IF EXISTS $SOAK_DB WITH (FORCE)" >/dev/null 2>&1 ||
      printf 'soak: could not drop the database %s; drop it by hand\n' "$SOAK_DB" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v gnuplot >/dev/null 2>&1 || die "gnuplot is missing: install the Debian package gnuplot-nox (sudo apt-get install gnuplot-nox)"
command -v psql >/dev/null 2>&1 || die "psql is missing: install the Debian package postgresql-client"
[[ -x bin/hub ]] || die "bin/hub is missing: run make build (or make soak)"

# The server's URL without its database, and a password out of it (PGPASSWORD instead).
re='^(postgres(ql)?://)(([^:@/]*)(:([^@/]*))?@)?([^/?]*)(/[^?]*)?(\?.*)?$'
[[ $DBURL =~ $re ]] || die "CENTRALHUB_TEST_DATABASE_URL is not a postgres:// URL"
server=${BASH_REMATCH[1]}${BASH_REMATCH[4]:+${BASH_REMATCH[4]}@}${BASH_REMATCH[7]}
if [[ -n ${BASH_REMATCH[6]} ]]; then
  PGPASSWORD=$(printf '%b' "${BASH_REMATCH[6]//%/\\x}")
  export PGPASSWORD
fi
ADMIN_URL=$server${BASH_REMATCH[8]}${BASH_REMATCH[9]}
db=centralhub_soak_$(date -u +%Y%m%d_%H%M%S)
DB_URL=$server/$db${BASH_REMATCH[9]}

log "building loadgen"
"$GO" build -o "$LOADGEN" ./hub/cmd/loadgen

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem_total=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "go=$("$GO" env GOVERSION)"
  echo "postgres=$(PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -XAtwc 'SHOW server_version' 2>/dev/null || echo unknown)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RUN/machine.txt"
: >"$RUN/commands.txt"

log "soak: database $db"
run soak-createdb env PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -Xqc "CREATE DATABASE $db" >&2
SOAK_DB=$db

log "soak: hub on PostgreSQL"
record soak-hub-serve bin/hub serve --dev --data-dir "$RUN/data" --listen 127.0.0.1:0 --database-url "$DB_URL"
bin/hub serve --dev --data-dir "$RUN/data" --listen 127.0.0.1:0 --database-url "$DB_URL" >"$RUN/hub.out" 2>"$RUN/hub.log" &
HUB_PID=$!
HUB_URL=
for _ in $(seq 1 300); do
  HUB_URL=$(grep -o -m1 -E 'http://127\.0\.0\.1:[0-9]+' "$RUN/hub.out" 2>/dev/null) && break
  kill -0 "$HUB_PID" 2>/dev/null || { cat "$RUN/hub.log" >&2; die "the hub exited; see $RUN/hub.log"; }
  sleep 0.1
done
[[ -n $HUB_URL ]] || die "the hub printed no URL; see $RUN/hub.out"
run soak-hub-tokens "$LOADGEN" tokens --data-dir "$RUN/data" --out-dir "$RUN/tokens" --instances "$AGENTS" --per-service "$PER_SERVICE" --ttl 24h >&2

log "soak: $AGENTS agents every $INTERVAL for $DURATION"
status=0
run soak-agents "$LOADGEN" agents --url "$HUB_URL" --tokens "$RUN/tokens/agent-tokens.txt" --admin-token "$RUN/tokens/admin.token" \
  --agents "$AGENTS" --per-service "$PER_SERVICE" --interval "$INTERVAL" --duration "$DURATION" --sample "$SAMPLE" \
  --flap "$FLAP" --die "$DIE" --hub-pid "$HUB_PID" --database-url "$DB_URL" --out-dir "$RUN/soak" || status=$?
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.txt"

kill -TERM "$HUB_PID" 2>/dev/null || true
hub_status=0
wait "$HUB_PID" || hub_status=$?
HUB_PID=
[[ $hub_status -eq 0 ]] || log "the hub exited with status $hub_status on SIGTERM; see $RUN/hub.log"
run soak-dropdb env PGCONNECT_TIMEOUT=5 psql "$ADMIN_URL" -Xqc "DROP DATABASE $db WITH (FORCE)" >&2
SOAK_DB=
echo "elapsed=$(((SECONDS + 30) / 60)) min ($SECONDS s)" >>"$RUN/machine.txt"

if [[ ! -s $RUN/soak/summary.json ]]; then
  die "loadgen agents wrote no summary (status $status); see above and $RUN"
fi
warmup=$(grep -o '"warmup_seconds": [0-9.]*' "$RUN/soak/summary.json" | grep -o '[0-9.]*$')
log "soak: plotting $RUN/soak/soak.png"
plot_vars="csv='$RUN/soak/agents.csv'; out='$RUN/soak/soak.png'; warmup=$warmup; title='Central Hub soak: $AGENTS agents every $INTERVAL for $DURATION on PostgreSQL'"
# Recorded as the shell line it is (record would quote every quote).
printf 'soak-plot\t%s\n' "gnuplot -e \"$plot_vars\" scripts/bench/agents.gp" >>"$RUN/commands.txt"
gnuplot -e "$plot_vars" scripts/bench/agents.gp
if [[ -n $DOC ]]; then
  cp "$RUN/soak/soak.png" "$(dirname "$DOC")/soak.png"
  log "soak: rewriting the soak section of $DOC"
  "$LOADGEN" doc --run "$RUN" --out "$DOC" --only soak
fi
[[ $status -eq 0 ]] || log "loadgen agents failed with status $status: reports were lost (see $RUN/soak/summary.json)"
exit "$status"
