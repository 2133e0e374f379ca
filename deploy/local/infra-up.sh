#!/usr/bin/env bash
# Starts the local infrastructure: NATS with JetStream and FerretDB (MongoDB
# wire protocol on SQLite). Safe to run again: what is already running is left
# alone.
#
# Environment:
#   GUILD_NATS_URL           use this NATS server; start none
#                            (the NATS started here has one user per service: passwords in .local/nats/,
#                            <svc>.env for the services, the admin guild-admin in passwords.json)
#   GUILD_REGION_FILTER, GUILD_PROGRAMME_FILTER  the slice whose durable consumers the users may read
#   GUILD_NATS_PORT          NATS client port (default 4222)
#   GUILD_NATS_MONITOR_PORT  NATS HTTP monitoring port (default 8222)
#   GUILD_MONGO_URI          use this MongoDB server; start no FerretDB
#   GUILD_MONGO_PORT         FerretDB port (default 27017)
#   GUILD_FERRETDB_LOG_LEVEL debug, info, warn or error (default error: at warn FerretDB logs every
#                            error reply in full, e.g. each client's endSessions on close and every
#                            duplicate key the services rely on for idempotency)
#   GUILD_INFRA_TIMEOUT      seconds to wait for each port (default 30)
#   NATS_SERVER_BIN, FERRETDB_BIN  binaries to use
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

takes_no_arguments "$@"

timeout=${GUILD_INFRA_TIMEOUT:-30}

# start_or_reuse NAME ADDR HOST PORT [EXTRA_PORT...] -- CMD...
# Starts CMD as NAME unless NAME is already running, then waits for HOST:PORT.
start_or_reuse() {
  local name=$1 addr=$2 host=$3 port=$4 p hp rc=0
  shift 4
  local -a extra=()
  while [[ $1 != -- ]]; do
    extra+=("$1")
    shift
  done
  shift

  if is_running "$name"; then
    local have
    have=$(recorded_addr "$name" || true)
    if [[ -n $have && $have != "$addr" ]]; then
      log "$name is already running at $have (not $addr); leaving it as it is"
    else
      log "$name is already running (pid $(read_pid "$name"))"
    fi
    if [[ -n $have ]] && hp=$(url_hostport "$have" "$port"); then
      host=${hp% *}
      port=${hp#* }
    fi
  else
    for p in "$port" "${extra[@]}"; do
      if tcp_open "$host" "$p"; then
        die "$name: $host:$p is already in use by a process these scripts did not start; stop it or choose other ports (see --help)"
      fi
    done
    start_bg "$name" "$@"
    record_addr "$name" "$addr"
  fi

  wait_tcp "$host" "$port" "$timeout" "$name" || rc=$?
  case $rc in
    0) ;;
    2)
      tail_log "$name"
      forget "$name"
      die "$name exited before listening on $host:$port"
      ;;
    *)
      tail_log "$name"
      stop_bg "$name"
      die "$name did not listen on $host:$port within ${timeout}s"
      ;;
  esac
}

acquire_lock

# --- NATS -------------------------------------------------------------------
if [[ -n ${GUILD_NATS_URL:-} ]]; then
  log "NATS: using $(mask_url "$GUILD_NATS_URL") (GUILD_NATS_URL is set; not starting one)"
  check_url NATS "$GUILD_NATS_URL" 4222 "$timeout"
else
  nport=$(nats_port)
  mport=$(nats_monitor_port)
  require_port GUILD_NATS_PORT "$nport"
  require_port GUILD_NATS_MONITOR_PORT "$mport"
  nats_bin=$(find_nats_server)
  mkdir -p "$DATA_DIR/nats"
  was_running=0
  is_running nats && was_running=1
  # One user per service, passwords kept in .local/nats (made on the first run); anonymous clients refused.
  if ((!was_running)); then
    slice="${GUILD_REGION_FILTER:-*}.${GUILD_PROGRAMME_FILTER:-*}"
    "$ROOT/.venv/bin/python" -m guild_common.nats_access --dir "$NATS_AUTH_DIR" --slice "$slice"
  fi
  start_or_reuse nats "nats://127.0.0.1:$nport" 127.0.0.1 "$nport" "$mport" -- \
    "$nats_bin" -c "$NATS_AUTH_DIR/nats.conf" -js -sd "$DATA_DIR/nats" -a 127.0.0.1 -p "$nport" -m "$mport"
  if ((!was_running)); then
    printf 'http://127.0.0.1:%s\n' "$mport" >"$RUN_DIR/nats.http"
  fi
fi

# --- FerretDB ---------------------------------------------------------------
if [[ -n ${GUILD_MONGO_URI:-} ]]; then
  log "MongoDB: using $(mask_url "$GUILD_MONGO_URI") (GUILD_MONGO_URI is set; not starting FerretDB)"
  check_url MongoDB "$GUILD_MONGO_URI" 27017 "$timeout"
else
  mport=$(mongo_port)
  require_port GUILD_MONGO_PORT "$mport"
  if is_running ferretdb; then
    ferretdb_bin=${FERRETDB_BIN:-$DEFAULT_FERRETDB_BIN}
  elif [[ -n ${FERRETDB_BIN:-} ]]; then
    ferretdb_bin=$(find_ferretdb)
  else
    ferretdb_bin=$("$LOCAL_DIR/build-ferretdb.sh")
  fi
  mkdir -p "$DATA_DIR/ferretdb"
  start_or_reuse ferretdb "mongodb://127.0.0.1:$mport" 127.0.0.1 "$mport" -- \
    "$ferretdb_bin" -listen "127.0.0.1:$mport" -data-dir "$DATA_DIR/ferretdb" \
    -log-level "${GUILD_FERRETDB_LOG_LEVEL:-error}"
  # Indexes made by a build before the index pushdown serve no reads until rebuilt: once per data folder.
  index_stamp="$DATA_DIR/ferretdb/.index-format"
  if [[ $(cat "$index_stamp" 2>/dev/null) != typed-keys-1 ]]; then
    log "rebuilding the local store's indexes so that they serve queries (once per data folder)"
    "$ROOT/.venv/bin/python" "$LOCAL_DIR/reindex_ferretdb.py" "mongodb://127.0.0.1:$mport/" >&2
    printf 'typed-keys-1\n' >"$index_stamp"
  fi
fi

log "infrastructure is up: NATS $(mask_url "$(nats_url)"), MongoDB $(mask_url "$(mongo_uri)")"
