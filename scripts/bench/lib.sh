# shellcheck shell=bash
# Shared by scripts/bench.sh and scripts/soak.sh (sourced, after they set RUN, GO and SCRIPT, the
# name their messages start with): logging, recording each command into $RUN/commands.txt,
# background processes stopped on any exit, a PostgreSQL database of the run's own, and the
# machine's description in $RUN/machine.txt.

log() { printf '== %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# Everything started in the background is listed here and stopped, by PID, on any exit.
PIDS=()
BENCH_DB= # the run's PostgreSQL database while it exists (bench_db_create)
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  # The run's database, once nothing of ours uses it (FORCE ends any session left).
  if [[ -n $BENCH_DB ]]; then
    PGCONNECT_TIMEOUT=5 psql "$BENCH_DB_ADMIN_URL" -Xqc "DROP DATABASE IF EXISTS $BENCH_DB WITH (FORCE)" >/dev/null 2>&1 ||
      printf '%s: could not drop the database %s; drop it by hand\n' "$SCRIPT" "$BENCH_DB" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# record NAME CMD... writes the command line, as run from the repository root, to commands.txt.
record() {
  local name=$1
  shift
  printf '%s\t%s\n' "$name" "$(printf '%q ' "$@" | sed 's/ $//')" >>"$RUN/commands.txt"
}

# record_secret NAME FILE CMD... records the command with FILE's content (a token) shown as
# "$(cat FILE)", so that the documented command works in a later run and shows no token.
record_secret() {
  local name=$1 file=$2 secret line
  shift 2
  secret=$(cat "$file")
  line=$(printf '%q ' "$@" | sed 's/ $//')
  printf '%s\t%s\n' "$name" "${line//$secret/\"\$(cat $file)\"}" >>"$RUN/commands.txt"
}

# run NAME CMD... records the command and runs it in the foreground.
run() {
  record "$@"
  shift
  "$@"
}

# forget PID takes PID off the list of processes to stop on exit.
forget() {
  local kept=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  PIDS=("${kept[@]+"${kept[@]}"}")
}

# stop PID stops one process we started (SIGTERM, then wait) and returns its exit status.
stop() {
  local pid=$1 status=0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  forget "$pid"
  return $status
}

# wait_for FILE PATTERN PID waits until FILE matches PATTERN (or PID died), printing the match.
wait_for() {
  local file=$1 pattern=$2 pid=$3 match
  for _ in $(seq 1 200); do
    if match=$(grep -o -m1 -E "$pattern" "$file" 2>/dev/null); then
      printf '%s\n' "$match"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" "${file%.out}.log" 2>/dev/null >&2; die "process $pid exited; see $file"; }
    sleep 0.05
  done
  die "timed out waiting for $pattern in $file"
}

need() { # command, Debian package: install the package only when the command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing Debian package $2"
  local sudo=
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q "$2" >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q "$2" >/dev/null; } ||
    die "could not install $2"
}

# BENCH_DB, BENCH_DB_URL: bench_db_create NAME [PREFIX] creates the database
# <PREFIX>_<time> (PREFIX centralhub_bench) on the server CENTRALHUB_TEST_DATABASE_URL names
# (a postgres:// URL), from that URL's database, and sets BENCH_DB_URL to the new database's URL;
# cleanup drops it on any exit. A password in the URL is exported as PGPASSWORD (psql and pgx
# read it) and left out of every URL used here, so that no recorded command holds it. Returns
# non-zero, and creates nothing, without a server.
bench_db_create() {
  local name=$1 prefix=${2:-centralhub_bench} url=$CENTRALHUB_TEST_DATABASE_URL server
  local re='^(postgres(ql)?://)(([^:@/]*)(:([^@/]*))?@)?([^/?]*)(/[^?]*)?(\?.*)?$'
  if [[ ! $url =~ $re ]]; then
    log "CENTRALHUB_TEST_DATABASE_URL is not a postgres:// URL"
    return 1
  fi
  server=${BASH_REMATCH[1]}${BASH_REMATCH[4]:+${BASH_REMATCH[4]}@}${BASH_REMATCH[7]}
  if [[ -n ${BASH_REMATCH[6]} ]]; then
    PGPASSWORD=$(printf '%b' "${BASH_REMATCH[6]//%/\\x}") # percent-decoded
    export PGPASSWORD
  fi
  BENCH_DB_ADMIN_URL=$server${BASH_REMATCH[8]}${BASH_REMATCH[9]}
  local db
  db=${prefix}_$(date -u +%Y%m%d_%H%M%S)
  # shellcheck disable=SC2034 # read by the sourcing script
  BENCH_DB_URL=$server/$db${BASH_REMATCH[9]}
  BENCH_DB=$db
  run "$name-createdb" env PGCONNECT_TIMEOUT=5 psql "$BENCH_DB_ADMIN_URL" -Xqc "CREATE DATABASE $db" >&2 || { BENCH_DB=; return 1; }
}

# bench_db_drop NAME drops the database bench_db_create made.
bench_db_drop() {
  run "$1-dropdb" env PGCONNECT_TIMEOUT=5 psql "$BENCH_DB_ADMIN_URL" -Xqc "DROP DATABASE $BENCH_DB WITH (FORCE)" >&2
  BENCH_DB=
}

# machine_info prints the lines of machine.txt every run has: when, what, on what.
machine_info() {
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$(git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "nproc=$(nproc)"
  echo "cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "mem_total=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel=$(uname -sr)"
  echo "go=$("$GO" env GOVERSION)"
  echo "postgres=$(PGCONNECT_TIMEOUT=5 psql "$CENTRALHUB_TEST_DATABASE_URL" -XAtwc 'SHOW server_version' 2>/dev/null || echo unknown)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
}
