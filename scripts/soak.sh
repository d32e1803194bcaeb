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

SCRIPT=soak
export CENTRALHUB_TEST_DATABASE_URL=$DBURL
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh

command -v gnuplot >/dev/null 2>&1 || die "gnuplot is missing: install the Debian package gnuplot-nox (sudo apt-get install gnuplot-nox)"
command -v psql >/dev/null 2>&1 || die "psql is missing: install the Debian package postgresql-client"
[[ -x bin/hub ]] || die "bin/hub is missing: run make build (or make soak)"

log "building loadgen"
"$GO" build -o "$LOADGEN" ./hub/cmd/loadgen

machine_info >"$RUN/machine.txt"
: >"$RUN/commands.txt"

bench_db_create soak centralhub_soak || die "could not create the soak's database on $DBURL"
log "soak: database $BENCH_DB"

log "soak: hub on PostgreSQL"
record soak-hub-serve bin/hub serve --dev --data-dir "$RUN/data" --listen 127.0.0.1:0 --database-url "$BENCH_DB_URL"
bin/hub serve --dev --data-dir "$RUN/data" --listen 127.0.0.1:0 --database-url "$BENCH_DB_URL" >"$RUN/hub.out" 2>"$RUN/hub.log" &
HUB_PID=$!
PIDS+=("$HUB_PID")
HUB_URL=$(wait_for "$RUN/hub.out" 'http://127\.0\.0\.1:[0-9]+' "$HUB_PID")
run soak-hub-tokens "$LOADGEN" tokens --data-dir "$RUN/data" --out-dir "$RUN/tokens" --instances "$AGENTS" --per-service "$PER_SERVICE" --ttl 24h >&2

log "soak: $AGENTS agents every $INTERVAL for $DURATION"
status=0
run soak-agents "$LOADGEN" agents --url "$HUB_URL" --tokens "$RUN/tokens/agent-tokens.txt" --admin-token "$RUN/tokens/admin.token" \
  --agents "$AGENTS" --per-service "$PER_SERVICE" --interval "$INTERVAL" --duration "$DURATION" --sample "$SAMPLE" \
  --flap "$FLAP" --die "$DIE" --hub-pid "$HUB_PID" --database-url "$BENCH_DB_URL" --out-dir "$RUN/soak" || status=$?
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/machine.txt"

hub_status=0
stop "$HUB_PID" || hub_status=$?
[[ $hub_status -eq 0 ]] || log "the hub exited with status $hub_status on SIGTERM; see $RUN/hub.log"
bench_db_drop soak
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
