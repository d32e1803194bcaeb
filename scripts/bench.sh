#!/usr/bin/env bash
# Central Hub benchmarks (`make bench`, after `make build`):
#   go       Go micro-benchmarks (-benchmem, -count 6) summarised by benchstat, compared with the
#            previous run's results when .bench/gobench.txt exists; among them the history
#            queries of a week of samples on bbolt and on the PostgreSQL server, and the
#            dashboard page's overview render at 1,000 services in headless Chromium; the history
#            queries on the PostgreSQL server
#            CENTRALHUB_TEST_DATABASE_URL names (a run without one leaves those out, said so)
#   ingest   hub vs a bare handler under wrk (scripts/bench/ingest.lua), counted once durable,
#            with the store file checked afterwards by `loadgen verify`; then the same load (same
#            fleet, boot and wrk settings) against a hub on PostgreSQL (--database-url) in a
#            database of its own, created on the server CENTRALHUB_TEST_DATABASE_URL names and
#            dropped at the end, on failure too (without a server that part is left out, said so),
#            checked by `loadgen verify --database-url`. verify counts on both stores, through
#            their own methods, what the run made durable between the start of wrk and the drain:
#            reports, and history rows (instance samples × (checks + 1), transitions); the
#            document gives reports/s and rows/s for each and PostgreSQL ÷ embedded (goal ≥ 80%)
#   latency  ingest latency of the hub and the bare handler at the same fixed rate (open loop)
#   summary  GET /api/v1/dashboard/summary latency with hey, under 5,000 reports/s of ingest
#   agent    bin/agent RSS and CPU under GNU time with 10 checks at 10 s, then the same agent with
#            gossip on, joined to the hub
#   probes   the agent with every probe kind linked and one check of each of the 20 kinds at 10 s
#            (the machine's PostgreSQL, MariaDB, Redis, NATS, RabbitMQ and Mosquitto; Kafka, gRPC,
#            TLS, ZooKeeper and the HTTP presets from `loadgen serve-targets --probes`), against the
#            foundation agent (BENCH_FOUNDATION_REF, built the same way) with the agent part's 10
#            tcp/http checks, and this agent with those same 10: binary sizes, max RSS and CPU
#   gossip   against a real hub gossiping on the lan profile, with the other agents as members of
#            one `loadgen gossip` process: kill -9 of a real bin/agent → critical (at 10 and 50
#            agents), failures declared among 50 agents with both cores busy, convergence of 50
#            and 200 members started at once, and memberlist's bytes sent per member and second
#   agents   `loadgen agents`: 10,000 simulated agents reporting every 10 s for 3 minutes against a
#            hub on the embedded store, 5% flapping, 2% dying and rejoining; the hub's counters
#            against the generator's and, once the hub has stopped, the store against the last
#            answered report of each (`loadgen agents-verify`). `scripts/bench.sh agents` runs
#            this part alone and rewrites only its section of docs/BENCHMARKS.md. (The soak, 30
#            minutes on PostgreSQL, is `make soak`: scripts/soak.sh.)
# Raw outputs go to .bench/run-<time>/ (.bench/latest points at the last run); docs/BENCHMARKS.md
# is rewritten from them by `loadgen doc`, with the exact commands and the machine's facts.
#
# Environment:
#   BENCH_ONLY="ingest summary"  run only these parts (or name them as arguments); docs/BENCHMARKS.md is
#                                then left alone and the partial document is written to the run
#                                directory only, except for the agents part alone, which rewrites
#                                its own section there
#   BENCH_AGENTS_DURATION=3m                                  the agents part's run
#   BENCH_DURATION=20s BENCH_THREADS=2 BENCH_CONNECTIONS=32   the wrk runs
#   BENCH_LATENCY_RATE=10000 BENCH_LATENCY_DURATION=15s       the fixed-rate latency runs
#   BENCH_SUMMARY_RATE=5000 BENCH_SUMMARY_DURATION=15s        the summary run
#   BENCH_AGENT_SECONDS=60                                    each agent run (without, with gossip;
#                                                             each of the three probes runs)
#   BENCH_FOUNDATION_REF=d29578f                              the foundation agent's commit
#   BENCH_GOSSIP_TRIALS=20 BENCH_GOSSIP_AGENTS="10 50"        kill -9 trials, at each cluster size
#   BENCH_GOSSIP_SOAK=600 BENCH_GOSSIP_SOAK_AGENTS=50         the false-failure soak (seconds)
#   BENCH_GOSSIP_CONVERGE="50 200"                            members started at once, per run
#   BENCH_GOSSIP_BANDWIDTH=60 BENCH_GOSSIP_WARMUP=15          the bandwidth window and the wait
#   BENCH_GOSSIP_BANDWIDTH_AGENTS=50                          before it (seconds), and its members
#   CENTRALHUB_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#                                the PostgreSQL server of the history benchmarks and of the ingest
#                                run on PostgreSQL (the default when unset); each benchmark makes a
#                                schema of its own, the ingest run a database, and drops it. A
#                                password in it goes to the commands as PGPASSWORD, never on their
#                                command lines, so commands.txt and the document show none
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_PARTS="go ingest latency summary agent probes gossip agents"
PARTS=${*:-${BENCH_ONLY:-$ALL_PARTS}}
AGENTS_DURATION=${BENCH_AGENTS_DURATION:-3m}
AGENTS_FAILED=
DURATION=${BENCH_DURATION:-20s}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
LATENCY_RATE=${BENCH_LATENCY_RATE:-10000}
LATENCY_DURATION=${BENCH_LATENCY_DURATION:-15s}
SUMMARY_RATE=${BENCH_SUMMARY_RATE:-5000}
SUMMARY_DURATION=${BENCH_SUMMARY_DURATION:-15s}
AGENT_SECONDS=${BENCH_AGENT_SECONDS:-60}
# The last commit before the infrastructure probes (issue 7): the foundation agent they are
# compared with.
FOUNDATION_REF=${BENCH_FOUNDATION_REF:-d29578f}
GOSSIP_TRIALS=${BENCH_GOSSIP_TRIALS:-20}
GOSSIP_AGENTS=${BENCH_GOSSIP_AGENTS:-10 50}
GOSSIP_SOAK=${BENCH_GOSSIP_SOAK:-600}
GOSSIP_SOAK=${GOSSIP_SOAK%s}
GOSSIP_SOAK_AGENTS=${BENCH_GOSSIP_SOAK_AGENTS:-50}
GOSSIP_CONVERGE=${BENCH_GOSSIP_CONVERGE:-50 200}
GOSSIP_BANDWIDTH=${BENCH_GOSSIP_BANDWIDTH:-60}
GOSSIP_BANDWIDTH=${GOSSIP_BANDWIDTH%s}
GOSSIP_WARMUP=${BENCH_GOSSIP_WARMUP:-15}
GOSSIP_WARMUP=${GOSSIP_WARMUP%s}
GOSSIP_BANDWIDTH_AGENTS=${BENCH_GOSSIP_BANDWIDTH_AGENTS:-50}
INSTANCES=10000
PER_SERVICE=100
FLIP_SHARE=0.01
START_SEQ=2 # seq 1 is the registration
BENCHSTAT=golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
GO=${GO:-go}
export CENTRALHUB_TEST_DATABASE_URL=${CENTRALHUB_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
HUB_GOGC=400 # the hub's gc_percent default; the bare baseline gets the same

RUN=.bench/run-$(date -u +%Y%m%dT%H%M%SZ)
LOADGEN=.bench/bin/loadgen
mkdir -p "$RUN" .bench/bin
ln -sfn "$(basename "$RUN")" .bench/latest

SCRIPT=bench
# shellcheck source=scripts/bench/lib.sh
source scripts/bench/lib.sh
want() { [[ " $PARTS " == *" $1 "* ]]; }

# HUB_PID, HUB_URL, HUB_DIR: start_hub NAME [FLAG...] starts a --dev hub, with the further hub
# flags given, on a free loopback port with a fresh data directory under $RUN/NAME and signs the
# benchmark tokens into $RUN/NAME/tokens.
start_hub() {
  local name=$1
  shift
  HUB_DIR=$RUN/$name/data
  mkdir -p "$RUN/$name"
  printf '# bench: the limiter runs but never refuses (an instance sends one or two reports a second)\ningest: {rate_per_instance: 1000}\n' >"$RUN/hub.yaml"
  record "$name-hub-serve" bin/hub serve --dev --data-dir "$HUB_DIR" --listen 127.0.0.1:0 --config "$RUN/hub.yaml" "$@"
  bin/hub serve --dev --data-dir "$HUB_DIR" --listen 127.0.0.1:0 --config "$RUN/hub.yaml" "$@" \
    >"$RUN/$name/hub.out" 2>"$RUN/$name/hub.log" &
  HUB_PID=$!
  PIDS+=("$HUB_PID")
  HUB_URL=$(wait_for "$RUN/$name/hub.out" 'http://127\.0\.0\.1:[0-9]+' "$HUB_PID")
  run "$name-hub-tokens" "$LOADGEN" tokens --data-dir "$HUB_DIR" --out-dir "$RUN/$name/tokens" \
    --instances "$INSTANCES" --per-service "$PER_SERVICE" >&2
}

# peak_rss PID NAME prints "NAME <peak resident set in kB>" from /proc (VmHWM).
peak_rss() {
  printf '%s %s\n' "$2" "$(awk '/^VmHWM:/ {print $2}' "/proc/$1/status")"
}

stop_hub() {
  stop "$HUB_PID" || die "the hub exited with status $? on SIGTERM; see its log under $RUN"
}

# GOSSIP_KEY: gossip_key writes the benchmark cluster's gossip key (random, base64 of 32 bytes)
# once per run.
gossip_key() {
  GOSSIP_KEY=$RUN/gossip.key
  [[ -f $GOSSIP_KEY ]] && return 0
  # Recorded as the shell line it is (record would quote the pipe).
  printf 'gossip-key\t%s\n' "head -c32 /dev/urandom | base64 >$GOSSIP_KEY" >>"$RUN/commands.txt"
  (umask 077 && head -c32 /dev/urandom | base64 >"$GOSSIP_KEY")
}

# HUB_GOSSIP, GOSSIP_FLAGS: start_gossip_hub NAME starts a hub (start_hub) that gossips on a free
# loopback port with the benchmark key and the lan profile, and sets HUB_GOSSIP to the address it
# gossips at and GOSSIP_FLAGS to the flags `loadgen gossip` needs to join it.
start_gossip_hub() {
  local name=$1
  gossip_key
  start_hub "$name" --gossip-bind 127.0.0.1:0 --gossip-key-file "$GOSSIP_KEY" --gossip-profile lan
  HUB_GOSSIP=$(run "$name-hub-gossip-addr" "$LOADGEN" gossip hub-addr --url "$HUB_URL" --admin-token "$RUN/$name/tokens/admin.token")
  GOSSIP_FLAGS=(--url "$HUB_URL" --admin-token "$RUN/$name/tokens/admin.token" --join "$HUB_GOSSIP" --key-file "$GOSSIP_KEY")
}

# FLEET: set_fleet BOOT sets the flags that name the benchmark fleet booted at BOOT.
set_fleet() { FLEET=(--instances "$INSTANCES" --per-service "$PER_SERVICE" --boot "$1"); }

# wrk_ingest NAME URL TOKENS BOOT OUT runs the ingest load against URL.
wrk_ingest() {
  run "$1" wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --timeout 10s -s scripts/bench/ingest.lua "$2/api/v1/agent/reports" \
    -- "$3" "$THREADS" "$INSTANCES" "$PER_SERVICE" "$4" "$START_SEQ" "$FLIP_SHARE" "$5" >&2
}

bench_go() {
  log "Go micro-benchmarks (-count 6)"
  mkdir -p "$RUN/go"
  if [[ -f .bench/gobench.txt ]]; then cp .bench/gobench.txt "$RUN/go/old.txt"; fi
  run go-bench-pkg "$GO" -C pkg test -run '^$' -bench 'BenchmarkDecodeReport' -benchmem -count 6 ./protocol >"$RUN/go/new.txt"
  run go-bench-hub "$GO" -C hub test -run '^$' -bench 'BenchmarkIngest|BenchmarkSummary|BenchmarkImpact|BenchmarkBuild|BenchmarkEvaluate|BenchmarkHistory|BenchmarkOverviewRender' -benchmem -count 6 \
    ./internal/httpapi ./internal/registry ./internal/graph ./internal/alert ./internal/bolt ./internal/ui >>"$RUN/go/new.txt"
  # One probe round of each check kind against its server (CI=true: a missing server fails the
  # benchmark rather than skipping it).
  run go-bench-agent env CI=true "$GO" -C agent test -run '^$' -bench 'BenchmarkProbe' -benchmem -count 6 ./internal/check >>"$RUN/go/new.txt"
  # The same history benchmarks on PostgreSQL (CENTRALHUB_TEST_DATABASE_URL). Without a server
  # they fail: the run goes on, and the document shows their targets as not measured.
  if ! run go-bench-postgres "$GO" -C hub test -run '^$' -bench 'BenchmarkHistory' -benchmem -count 6 ./internal/postgres >"$RUN/go/postgres.txt"; then
    log "the PostgreSQL history benchmarks failed (is a server at CENTRALHUB_TEST_DATABASE_URL?); see $RUN/go/postgres.txt"
  fi
  cat "$RUN/go/postgres.txt" >>"$RUN/go/new.txt"
  local inputs=("new=$RUN/go/new.txt")
  [[ -f $RUN/go/old.txt ]] && inputs=("old=$RUN/go/old.txt" "${inputs[@]}")
  run go-benchstat "$GO" run "$BENCHSTAT" "${inputs[@]}" >"$RUN/go/benchstat.txt"
  cp "$RUN/go/new.txt" .bench/gobench.txt
  cat "$RUN/go/benchstat.txt" >&2
}

bench_ingest() {
  local dir=$RUN/ingest boot bare_pid bare_url start drained
  mkdir -p "$dir"
  boot=$(date +%s%N)
  set_fleet "$boot"

  log "ingest: bare handler"
  # The bare handler runs with the GC target the hub sets for itself (gc_percent, 400 by
  # default), so the two differ in the work they do and not in how often they collect.
  record ingest-bare-serve env GOGC="$HUB_GOGC" "$LOADGEN" serve-bare --listen 127.0.0.1:0
  GOGC=$HUB_GOGC "$LOADGEN" serve-bare --listen 127.0.0.1:0 >"$dir/bare.out" 2>&1 &
  bare_pid=$!
  PIDS+=("$bare_pid")
  bare_url=$(wait_for "$dir/bare.out" 'http://127\.0\.0\.1:[0-9]+' "$bare_pid")

  log "ingest: hub"
  start_hub ingest
  # The same warm-up for both: every instance's first report, then the measured run.
  run ingest-bare-register "$LOADGEN" register --url "$bare_url" --tokens "$dir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  wrk_ingest ingest-bare-wrk "$bare_url" "$dir/tokens/agent-tokens.txt" "$boot" "$dir/bare.wrk.json"
  peak_rss "$bare_pid" bare >>"$dir/memory.txt"
  stop "$bare_pid" || true

  run ingest-hub-register "$LOADGEN" register --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  start=$(date +%s%N)
  echo "$start" >"$dir/hub.start_ns"
  wrk_ingest ingest-hub-wrk "$HUB_URL" "$dir/tokens/agent-tokens.txt" "$boot" "$dir/hub.wrk.json"
  run ingest-hub-drain "$LOADGEN" drain --url "$HUB_URL" --admin-token "$dir/tokens/admin.token" \
    --tokens "$dir/tokens/agent-tokens.txt" --out "$dir/drain.json" >&2
  drained=$(grep -o '"drained_at_unix_nano": [0-9]*' "$dir/drain.json" | grep -o '[0-9]*$')
  peak_rss "$HUB_PID" hub-embedded >>"$dir/memory.txt"
  # The hub's metrics once drained, for reading where the time went (not in the document).
  curl_get "$HUB_URL/metrics" "$dir/tokens/admin.token" >"$dir/metrics-embedded.txt" || log "ingest: could not read the hub's /metrics"

  # The store as it was once drained (a copy, while the hub still runs and writes nothing),
  # then as the hub leaves it after SIGTERM.
  cp "$HUB_DIR/centralhub.db" "$dir/drained.db"
  local vflags=(--wrk "$dir/hub.wrk.json" --start-seq "$START_SEQ" --connections "$CONNS" --since "$start" --until "$drained")
  run ingest-verify-drained "$LOADGEN" verify --db "$dir/drained.db" "${vflags[@]}" "${FLEET[@]}" --out "$dir/verify-drained.json" >&2
  stop_hub
  run ingest-verify-final "$LOADGEN" verify --db "$HUB_DIR/centralhub.db" "${vflags[@]}" "${FLEET[@]}" --out "$dir/verify-final.json" >&2
  rm -f "$dir/drained.db"

  # The same measured load against a hub on PostgreSQL, in a database of its own; verify reads
  # it once drained (the hub still running) and after SIGTERM, as the file above.
  if ! bench_db_create ingest-postgres; then
    log "ingest: could not create a database on the server CENTRALHUB_TEST_DATABASE_URL names; the PostgreSQL run is left out"
    return 0
  fi
  log "ingest: hub on PostgreSQL"
  local pdir=$RUN/ingest-postgres
  start_hub ingest-postgres --database-url "$BENCH_DB_URL"
  run ingest-postgres-register "$LOADGEN" register --url "$HUB_URL" --tokens "$pdir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  start=$(date +%s%N)
  echo "$start" >"$dir/postgres.start_ns"
  wrk_ingest ingest-postgres-wrk "$HUB_URL" "$pdir/tokens/agent-tokens.txt" "$boot" "$dir/postgres.wrk.json"
  run ingest-postgres-drain "$LOADGEN" drain --url "$HUB_URL" --admin-token "$pdir/tokens/admin.token" \
    --tokens "$pdir/tokens/agent-tokens.txt" --out "$dir/drain-postgres.json" >&2
  drained=$(grep -o '"drained_at_unix_nano": [0-9]*' "$dir/drain-postgres.json" | grep -o '[0-9]*$')
  peak_rss "$HUB_PID" hub-postgres >>"$dir/memory.txt"
  # The hub's metrics once drained, for reading where the time went (not in the document).
  curl_get "$HUB_URL/metrics" "$pdir/tokens/admin.token" >"$dir/metrics-postgres.txt" || log "ingest: could not read the hub's /metrics"
  vflags=(--wrk "$dir/postgres.wrk.json" --start-seq "$START_SEQ" --connections "$CONNS" --since "$start" --until "$drained")
  run ingest-postgres-verify-drained "$LOADGEN" verify --database-url "$BENCH_DB_URL" "${vflags[@]}" "${FLEET[@]}" \
    --out "$dir/verify-postgres-drained.json" >&2
  stop_hub
  run ingest-postgres-verify-final "$LOADGEN" verify --database-url "$BENCH_DB_URL" "${vflags[@]}" "${FLEET[@]}" \
    --out "$dir/verify-postgres-final.json" >&2
  bench_db_drop ingest-postgres
}

# bench_latency sends the same reports to the bare handler and to the hub at one fixed rate
# from an open-loop generator, each latency counted from when its report was due: latency at a
# given load, where wrk's closed loop measures it at saturation.
bench_latency() {
  local dir=$RUN/latency boot bare_pid bare_url
  mkdir -p "$dir"
  log "ingest latency at a fixed ${LATENCY_RATE} reports/s"
  boot=$(date +%s%N)
  set_fleet "$boot"
  record latency-bare-serve env GOGC="$HUB_GOGC" "$LOADGEN" serve-bare --listen 127.0.0.1:0
  GOGC=$HUB_GOGC "$LOADGEN" serve-bare --listen 127.0.0.1:0 >"$dir/bare.out" 2>&1 &
  bare_pid=$!
  PIDS+=("$bare_pid")
  bare_url=$(wait_for "$dir/bare.out" 'http://127\.0\.0\.1:[0-9]+' "$bare_pid")
  start_hub latency
  local fixed=(--rate "$LATENCY_RATE" --duration "$LATENCY_DURATION" --start-seq "$START_SEQ" "${FLEET[@]}")
  run latency-bare-register "$LOADGEN" register --url "$bare_url" --tokens "$dir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  run latency-bare-fixed "$LOADGEN" background --url "$bare_url" --tokens "$dir/tokens/agent-tokens.txt" "${fixed[@]}" --out "$dir/bare.json" >&2
  stop "$bare_pid" || true
  run latency-hub-register "$LOADGEN" register --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  run latency-hub-fixed "$LOADGEN" background --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" "${fixed[@]}" --out "$dir/hub.json" >&2
  stop_hub
}

bench_summary() {
  local dir=$RUN/summary boot bg_pid secs
  log "summary latency under ${SUMMARY_RATE} reports/s of ingest"
  start_hub summary
  boot=$(date +%s%N)
  set_fleet "$boot"
  run summary-hub-register "$LOADGEN" register --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" "${FLEET[@]}" >&2
  secs=${SUMMARY_DURATION%s}
  record summary-background "$LOADGEN" background --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" --rate "$SUMMARY_RATE" \
    --duration "$((secs + 5))s" --start-seq "$START_SEQ" "${FLEET[@]}" --out "$dir/background.json"
  "$LOADGEN" background --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" --rate "$SUMMARY_RATE" \
    --duration "$((secs + 5))s" --start-seq "$START_SEQ" "${FLEET[@]}" --out "$dir/background.json" >&2 &
  bg_pid=$!
  PIDS+=("$bg_pid")
  sleep 3 # let the background rate settle before measuring
  record_secret summary-hey "$dir/tokens/viewer.token" hey -z "$SUMMARY_DURATION" -c 2 -q 25 -o csv \
    -H "Authorization: Bearer $(cat "$dir/tokens/viewer.token")" "$HUB_URL/api/v1/dashboard/summary"
  hey -z "$SUMMARY_DURATION" -c 2 -q 25 -o csv -H "Authorization: Bearer $(cat "$dir/tokens/viewer.token")" \
    "$HUB_URL/api/v1/dashboard/summary" >"$dir/hey.csv"
  wait "$bg_pid" || die "background load failed"
  forget "$bg_pid"
  [[ -s $dir/background.json ]] || die "background load wrote no result"
  stop_hub
}

bench_agent() {
  local dir=$RUN/agent tgt_pid
  if [[ ! -x bin/agent ]]; then
    die "bin/agent is missing: run make build (or BENCH_ONLY without agent)"
  fi
  log "agent RSS and CPU over ${AGENT_SECONDS}s, without and with gossip"
  start_gossip_hub agent
  run agent-hub-token bin/hub token issue --data-dir "$HUB_DIR" --role agent --subject bench-agent --service bench-agent --ttl 2h \
    >"$dir/agent.token"
  record agent-targets "$LOADGEN" serve-targets --tcp 5 --http 5 --out "$dir/targets.json"
  "$LOADGEN" serve-targets --tcp 5 --http 5 --out "$dir/targets.json" >"$dir/targets.out" 2>&1 &
  tgt_pid=$!
  PIDS+=("$tgt_pid")
  wait_for "$dir/targets.out" 'serving' "$tgt_pid" >/dev/null
  {
    printf 'service: bench-agent\ninstance: agent-1\naddress: 127.0.0.1:8080\ninterval: 10s\nlisten: 127.0.0.1:0\n'
    printf 'hub:\n  url: %s\n  token_file: %s\nchecks:\n' "$HUB_URL" "$(pwd)/$dir/agent.token"
    local i=0 addr
    for addr in $(grep -o '"127\.0\.0\.1:[0-9]*"' "$dir/targets.json" | tr -d '"'); do
      i=$((i + 1))
      printf '  - {name: tcp-%d, tcp: {address: "%s"}, interval: 10s}\n' "$i" "$addr"
    done
    i=0
    for addr in $(grep -o '"http://[^"]*"' "$dir/targets.json" | tr -d '"'); do
      i=$((i + 1))
      printf '  - {name: http-%d, http: {url: "%s"}, interval: 10s}\n' "$i" "$addr"
    done
  } >"$dir/agent.yaml"
  run agent-run /usr/bin/time -v -o "$dir/time.txt" timeout --signal=TERM --preserve-status "${AGENT_SECONDS}s" \
    bin/agent --config "$dir/agent.yaml" >"$dir/agent.log" 2>&1 || die "the agent failed; see $dir/agent.log and $dir/time.txt"
  kill -0 "$HUB_PID" 2>/dev/null || die "the hub (pid $HUB_PID) exited during the agent run; see $RUN/agent/hub.log"
  curl_get "$HUB_URL/api/v1/dashboard/health?service=bench-agent" "$dir/tokens/viewer.token" >"$dir/health.json"

  # The same agent with gossip on, joined to the hub; on SIGTERM it leaves the cluster, so the
  # hub lists its member as left afterwards.
  {
    cat "$dir/agent.yaml"
    printf 'gossip:\n  bind: 127.0.0.1:0\n  join: ["%s"]\n  key_file: %s\n  keyring_file: %s\n  profile: lan\n' \
      "$HUB_GOSSIP" "$(pwd)/$GOSSIP_KEY" "$(pwd)/$dir/agent-gossip.keyring"
  } >"$dir/agent-gossip.yaml"
  run agent-gossip-run /usr/bin/time -v -o "$dir/time-gossip.txt" timeout --signal=TERM --preserve-status "${AGENT_SECONDS}s" \
    bin/agent --config "$dir/agent-gossip.yaml" >"$dir/agent-gossip.log" 2>&1 ||
    die "the agent with gossip failed; see $dir/agent-gossip.log and $dir/time-gossip.txt"
  kill -0 "$HUB_PID" 2>/dev/null || die "the hub (pid $HUB_PID) exited during the agent run; see $RUN/agent/hub.log"
  curl_get "$HUB_URL/api/v1/dashboard/members" "$dir/tokens/admin.token" >"$dir/members-gossip.json"
  stop "$tgt_pid" || true
  stop_hub
}

# bench_probes runs three agents for AGENT_SECONDS each under GNU time against one hub: the
# foundation agent (FOUNDATION_REF, built with make build's flags from a worktree) and this agent
# with the agent part's 10 tcp/http checks, then this agent with one check of each of the 20
# kinds; and records both binaries' sizes.
bench_probes() {
  local dir=$RUN/probes tgt_pid src i addr
  if [[ ! -x bin/agent ]]; then
    die "bin/agent is missing: run make build (or BENCH_ONLY without probes)"
  fi
  need jq jq
  mkdir -p "$dir"
  log "probes: the foundation agent ($FOUNDATION_REF) against this one, and every probe kind"
  src=$(mktemp -d)
  run probes-foundation-worktree git worktree add --detach "$src" "$FOUNDATION_REF" >&2
  run probes-foundation-build "$GO" -C "$src" build -trimpath -ldflags '-s -w' -o "$(pwd)/$dir/agent-foundation" ./agent/cmd/agent ||
    { git worktree remove --force "$src"; die "could not build the foundation agent at $FOUNDATION_REF"; }
  git worktree remove --force "$src"
  {
    echo "foundation_ref=$FOUNDATION_REF"
    echo "foundation_bytes=$(stat -c %s "$dir/agent-foundation")"
    echo "agent_bytes=$(stat -c %s bin/agent)"
  } >"$dir/sizes.txt"
  record probes-sizes stat -c '%n %s' "$dir/agent-foundation" bin/agent

  start_hub probes
  run probes-hub-token bin/hub token issue --data-dir "$HUB_DIR" --role agent --subject bench-probes --service bench-probes --ttl 2h \
    >"$dir/agent.token"
  record probes-targets "$LOADGEN" serve-targets --tcp 5 --http 5 --probes --out "$dir/targets.json"
  "$LOADGEN" serve-targets --tcp 5 --http 5 --probes --out "$dir/targets.json" >"$dir/targets.out" 2>&1 &
  tgt_pid=$!
  PIDS+=("$tgt_pid")
  wait_for "$dir/targets.out" 'serving' "$tgt_pid" >/dev/null
  printf 'guest\n' >"$dir/amqp.password"
  local head
  head=$(printf 'service: bench-probes\ninstance: agent-1\naddress: 127.0.0.1:8080\ninterval: 10s\nlisten: 127.0.0.1:0\nhub:\n  url: %s\n  token_file: %s\nchecks:\n' \
    "$HUB_URL" "$(pwd)/$dir/agent.token")
  {
    printf '%s\n' "$head"
    i=0
    for addr in $(jq -r '.tcp[]' "$dir/targets.json"); do
      i=$((i + 1)); printf '  - {name: tcp-%d, tcp: {address: "%s"}, interval: 10s}\n' "$i" "$addr"
    done
    i=0
    for addr in $(jq -r '.http[]' "$dir/targets.json"); do
      i=$((i + 1)); printf '  - {name: http-%d, http: {url: "%s"}, interval: 10s}\n' "$i" "$addr"
    done
  } >"$dir/agent-10.yaml"
  {
    printf '%s\n' "$head"
    jq -r --arg pw "$(pwd)/$dir/amqp.password" '
      "  - {name: http, http: {url: \"\(.http[0])\"}}",
      "  - {name: tcp, tcp: {address: \"\(.tcp[0])\"}}",
      "  - {name: exec, exec: {command: [/bin/true]}}",
      "  - {name: ttl, ttl: {ttl: 1h}}",
      "  - {name: tls, tls: {address: \"\(.tls)\", ca_file: \"\(.tls_ca)\"}}",
      "  - {name: redis, redis: {address: \"127.0.0.1:6379\"}}",
      "  - {name: postgres, postgres: {url: \"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable\"}}",
      "  - {name: mysql, mysql: {dsn: \"root@tcp(127.0.0.1:3306)/test\"}}",
      "  - {name: nats, nats: {url: \"nats://127.0.0.1:4222\", jetstream: true}}",
      "  - {name: amqp, amqp: {url: \"amqp://guest@127.0.0.1:5672/\", password_file: \"\($pw)\"}}",
      "  - {name: mqtt, mqtt: {address: \"127.0.0.1:1883\"}}",
      "  - {name: kafka, kafka: {brokers: [\"\(.kafka)\"], topic: bench}}",
      "  - {name: grpc, grpc: {address: \"\(.grpc)\"}}",
      "  - {name: zookeeper, zookeeper: {address: \"\(.zookeeper)\"}}",
      "  - {name: clickhouse, clickhouse: {url: \"\(.products)\"}}",
      "  - {name: arangodb, arangodb: {url: \"\(.products)\"}}",
      "  - {name: weaviate, weaviate: {url: \"\(.products)\"}}",
      "  - {name: disk, disk: {path: /, warn_percent: 100, critical_percent: 100}}",
      "  - {name: memory, memory: {warn_percent: 100, critical_percent: 100}}",
      "  - {name: load, load: {warn_per_cpu: 1000, critical_per_cpu: 1000}}"' "$dir/targets.json"
  } >"$dir/agent-probes.yaml"
  local name bin cfg
  for name in foundation agent-10 agent-probes; do
    bin=bin/agent cfg=$dir/$name.yaml
    [[ $name == foundation ]] && bin=$dir/agent-foundation cfg=$dir/agent-10.yaml
    run "probes-run-$name" /usr/bin/time -v -o "$dir/time-$name.txt" timeout --signal=TERM --preserve-status "${AGENT_SECONDS}s" \
      "$bin" --config "$cfg" >"$dir/$name.log" 2>&1 || die "the $name agent failed; see $dir/$name.log and $dir/time-$name.txt"
  done
  kill -0 "$HUB_PID" 2>/dev/null || die "the hub (pid $HUB_PID) exited during the probe runs; see $RUN/probes/hub.log"
  curl_get "$HUB_URL/api/v1/dashboard/health?service=bench-probes" "$RUN/probes/tokens/viewer.token" >"$dir/health.json"
  stop "$tgt_pid" || true
  stop_hub
}

# bench_gossip measures gossip against a real hub; every measurement gets a fresh hub, and the
# agents but the one real bin/agent that detection kills are members of one loadgen process.
bench_gossip() {
  local n name dir
  for n in $GOSSIP_AGENTS; do
    name=gossip-detect-$n
    dir=$RUN/$name
    log "gossip: kill -9 → critical with $n agents, $GOSSIP_TRIALS trials"
    start_gossip_hub "$name"
    run "$name-victim-token" bin/hub token issue --data-dir "$HUB_DIR" --role agent --subject bench-gossip --service bench-gossip --ttl 2h \
      >"$dir/victim.token"
    run "$name" "$LOADGEN" gossip detect "${GOSSIP_FLAGS[@]}" --agents "$n" --trials "$GOSSIP_TRIALS" \
      --tokens "$dir/tokens/agent-tokens.txt" --viewer-token "$dir/tokens/viewer.token" \
      --agent bin/agent --agent-token "$dir/victim.token" --dir "$dir/victim" --out "$dir/detect.json" >&2
    stop_hub
  done

  name=gossip-soak
  dir=$RUN/$name
  log "gossip: $GOSSIP_SOAK_AGENTS agents for ${GOSSIP_SOAK}s with both cores busy"
  start_gossip_hub "$name"
  run "$name" "$LOADGEN" gossip soak "${GOSSIP_FLAGS[@]}" --agents "$GOSSIP_SOAK_AGENTS" --duration "${GOSSIP_SOAK}s" --busy 2 \
    --tokens "$dir/tokens/agent-tokens.txt" --out "$dir/soak.json" >&2
  stop_hub

  for n in $GOSSIP_CONVERGE; do
    name=gossip-converge-$n
    dir=$RUN/$name
    log "gossip: convergence of $n members started at once"
    start_gossip_hub "$name"
    # A cluster that does not converge in time is a result, written to converge.json and
    # shown as such in the document, not a reason to stop the run.
    run "$name" "$LOADGEN" gossip converge "${GOSSIP_FLAGS[@]}" --agents "$n" --out "$dir/converge.json" >&2 ||
      log "gossip: $n members did not converge in time; recorded in $dir/converge.json"
    stop_hub
  done

  name=gossip-bandwidth
  dir=$RUN/$name
  log "gossip: bytes sent by $GOSSIP_BANDWIDTH_AGENTS members over ${GOSSIP_BANDWIDTH}s"
  start_gossip_hub "$name"
  run "$name" "$LOADGEN" gossip bandwidth "${GOSSIP_FLAGS[@]}" --agents "$GOSSIP_BANDWIDTH_AGENTS" \
    --warmup "${GOSSIP_WARMUP}s" --window "${GOSSIP_BANDWIDTH}s" --out "$dir/bandwidth.json" >&2
  stop_hub
}

# bench_agents runs `loadgen agents` with one agent per instance of the benchmark fleet,
# reporting every 10 s for AGENTS_DURATION, against a hub on the embedded store; the store is
# checked once the hub has stopped (it holds the file's lock while it runs). A lost report fails
# the run after the document is written.
bench_agents() {
  local dir=$RUN/agents
  log "agents: $INSTANCES agents every 10s for $AGENTS_DURATION"
  start_hub agents
  run agents-run "$LOADGEN" agents --url "$HUB_URL" --tokens "$dir/tokens/agent-tokens.txt" --admin-token "$dir/tokens/admin.token" \
    --agents "$INSTANCES" --per-service "$PER_SERVICE" --interval 10s --duration "$AGENTS_DURATION" --flap 0.05 --die 0.02 \
    --hub-pid "$HUB_PID" --out-dir "$dir" >&2 || AGENTS_FAILED="loadgen agents failed"
  stop_hub
  [[ -s $dir/summary.json ]] || die "agents: loadgen agents wrote no summary; see above"
  run agents-verify "$LOADGEN" agents-verify --db "$HUB_DIR/centralhub.db" --out-dir "$dir" >&2 ||
    AGENTS_FAILED="${AGENTS_FAILED:+$AGENTS_FAILED; }the store check failed"
}

# curl_get URL TOKEN_FILE prints the body of an authenticated GET.
curl_get() { curl -fsS -H "Authorization: Bearer $(cat "$2")" "$1"; }

# ---- main
need wrk wrk
need hey hey
need /usr/bin/time time
for p in $PARTS; do
  case $p in go | ingest | latency | summary | agent | probes | gossip | agents) ;; *) die "unknown part $p (want go, ingest, latency, summary, agent, probes, gossip, agents)" ;; esac
done
[[ -x bin/hub ]] || die "bin/hub is missing: run make build"
want agent && { [[ -x bin/agent ]] || die "bin/agent is missing: run make build (or BENCH_ONLY without agent)"; }
want gossip && { [[ -x bin/agent ]] || die "bin/agent is missing: run make build (or BENCH_ONLY without gossip)"; }
{ want agent || want ingest; } && need curl curl
want ingest && need psql postgresql-client

log "building loadgen"
"$GO" build -o "$LOADGEN" ./hub/cmd/loadgen

{
  machine_info
  echo "wrk=$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
  echo "services=$(((INSTANCES + PER_SERVICE - 1) / PER_SERVICE))"
  echo "agent_seconds=$AGENT_SECONDS"
  echo "connections=$CONNS"
} >"$RUN/machine.txt"
: >"$RUN/commands.txt"

want go && bench_go
want ingest && bench_ingest
want latency && bench_latency
want summary && bench_summary
want agent && bench_agent
want probes && bench_probes
want gossip && bench_gossip
want agents && bench_agents

echo "elapsed=$(((SECONDS + 30) / 60)) min ($SECONDS s)" >>"$RUN/machine.txt"
if [[ $PARTS == agents ]]; then
  log "rewriting the agents section of docs/BENCHMARKS.md"
  "$LOADGEN" doc --run "$RUN" --out docs/BENCHMARKS.md --only agents
  [[ -z $AGENTS_FAILED ]] || die "agents: $AGENTS_FAILED; see $RUN/agents/summary.json"
  exit 0
fi
if [[ $PARTS == "$ALL_PARTS" ]]; then
  out=docs/BENCHMARKS.md
else
  out=$RUN/BENCHMARKS.md
  log "partial run (BENCH_ONLY=$PARTS): docs/BENCHMARKS.md left alone"
fi
log "writing $out"
"$LOADGEN" doc --run "$RUN" --out "$out"
[[ $out == "$RUN/BENCHMARKS.md" ]] || cp "$out" "$RUN/BENCHMARKS.md"
[[ -z $AGENTS_FAILED ]] || die "agents: $AGENTS_FAILED; see $RUN/agents/summary.json"
