#!/usr/bin/env bash
# Starts the Guild services (community, content, reputation, notify), each as
# `.venv/bin/python -m guild_<svc>`, and waits for their gRPC ports. Services
# that are already running are left alone. Start the infrastructure first
# (deploy/local/infra-up.sh).
#
# Usage: deploy/local/services-up.sh [SERVICE...]   (default: all four)
#
# Environment (passed on to the services):
#   GUILD_MONGO_URI       default mongodb://127.0.0.1:${GUILD_MONGO_PORT:-27017}
#   GUILD_NATS_URL        default nats://127.0.0.1:${GUILD_NATS_PORT:-4222}
#   GUILD_NATS_USER, GUILD_NATS_PASSWORD  default: each service's own user from
#                         .local/nats/<svc>.env (written by infra-up.sh)
#   GUILD_COMMUNITY_ADDR  default 127.0.0.1:<community port>
#   GUILD_REPUTATION_ADDR default 127.0.0.1:<reputation port>
#   GUILD_GRPC_PORT       set per service: community 50051, content 50052,
#                         reputation 50053, notify 50054; override one with
#                         GUILD_<SVC>_GRPC_PORT, e.g. GUILD_CONTENT_GRPC_PORT
#   GUILD_GRPC_HOST       interface the services listen on (default 127.0.0.1)
#   GUILD_SERVICE_TIMEOUT seconds to wait for each gRPC port (default 60)
#   GUILD_BADGE_SIGNING_KEY  reputation's key for signing badge credentials;
#                         default: a local EC P-256 key made once in .local/badges/
#   Any other GUILD_* setting in the environment reaches every service as it is,
#   e.g. GUILD_XAPI_ENDPOINTS for notify's Learning Record Stores.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

selected=()
for arg in "$@"; do
  case $arg in
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option: $arg" ;;
    *)
      [[ -n ${SERVICE_DEFAULT_PORT[$arg]:-} ]] || die "unknown service: $arg (one of: ${SERVICES[*]})"
      selected+=("$arg")
      ;;
  esac
done
if ((${#selected[@]} == 0)); then
  selected=("${SERVICES[@]}")
fi

python="$ROOT/.venv/bin/python"
[[ -x $python ]] || die "$python not found: run 'uv sync' in $ROOT first"

timeout=${GUILD_SERVICE_TIMEOUT:-60}

mongo=$(mongo_uri)
nats=$(nats_url)
community_addr=${GUILD_COMMUNITY_ADDR:-127.0.0.1:$(service_port community)}
reputation_addr=${GUILD_REPUTATION_ADDR:-127.0.0.1:$(service_port reputation)}
grpc_host=${GUILD_GRPC_HOST:-127.0.0.1}

acquire_lock

# The services need both servers; fail early and clearly if they are not there.
for pair in "NATS|$nats|4222" "MongoDB|$mongo|27017"; do
  IFS='|' read -r label url default_port <<<"$pair"
  if hp=$(url_hostport "$url" "$default_port"); then
    if ! wait_tcp "${hp% *}" "${hp#* }" 5; then
      die "$label is not reachable at ${hp% *}:${hp#* }: run deploy/local/infra-up.sh first (or set the URL)"
    fi
  fi
done

# start_service SVC: starts SVC unless it is running.
start_service() {
  local svc=$1 port
  port=$(service_port "$svc")
  require_port "GUILD_${svc^^}_GRPC_PORT" "$port"
  if is_running "$svc"; then
    log "$svc is already running (pid $(read_pid "$svc"))"
    return 0
  fi
  if tcp_open 127.0.0.1 "$port"; then
    die "$svc: 127.0.0.1:$port is already in use by a process these scripts did not start"
  fi
  # The service's NATS user, unless the caller gives one; passed in the environment, not the logged command.
  local nats_user=${GUILD_NATS_USER:-} nats_password=${GUILD_NATS_PASSWORD:-}
  if [[ -z $nats_user && -s "$NATS_AUTH_DIR/$svc.env" ]]; then
    nats_user=$(sed -n 's/^GUILD_NATS_USER=//p' "$NATS_AUTH_DIR/$svc.env")
    nats_password=$(sed -n 's/^GUILD_NATS_PASSWORD=//p' "$NATS_AUTH_DIR/$svc.env")
  fi
  local badge_key=${GUILD_BADGE_SIGNING_KEY:-}
  if [[ $svc == reputation && -z $badge_key ]]; then
    badge_key=$(<"$(local_badge_key)")
  fi
  GUILD_BADGE_SIGNING_KEY=$badge_key \
    GUILD_NATS_USER=$nats_user GUILD_NATS_PASSWORD=$nats_password start_bg "$svc" env \
    PYTHONUNBUFFERED=1 \
    GUILD_MONGO_URI="$mongo" \
    GUILD_NATS_URL="$nats" \
    GUILD_COMMUNITY_ADDR="$community_addr" \
    GUILD_REPUTATION_ADDR="$reputation_addr" \
    GUILD_GRPC_HOST="$grpc_host" \
    GUILD_GRPC_PORT="$port" \
    "$python" -m "guild_$svc"
  record_addr "$svc" "127.0.0.1:$port"
}

# local_badge_key: prints the path of the local badge signing key, made on first use (a development key:
# credentials signed with it verify against the key set GetBadgeIssuer publishes, nothing more).
local_badge_key() {
  local dir="$STATE/badges" key="$STATE/badges/signing-key.pem"
  if [[ ! -s $key ]]; then
    mkdir -p "$dir"
    (umask 077 && "$ROOT/.venv/bin/python" -c '
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
sys.stdout.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode())
' >"$key.tmp" && mv "$key.tmp" "$key")
  fi
  printf '%s\n' "$key"
}

# wait_service SVC: waits for SVC's gRPC port; on failure shows its log, stops
# it and exits 1.
wait_service() {
  local svc=$1 port rc=0
  port=$(service_port "$svc")
  wait_tcp 127.0.0.1 "$port" "$timeout" "$svc" || rc=$?
  case $rc in
    0)
      log "$svc is listening on 127.0.0.1:$port"
      return 0
      ;;
    2) log "$svc exited before listening on 127.0.0.1:$port" ;;
    *) log "$svc did not listen on 127.0.0.1:$port within ${timeout}s" ;;
  esac
  tail_log "$svc" 30
  stop_bg "$svc"
  exit 1
}

# community first: the other services call it.
rest=()
for svc in "${selected[@]}"; do
  if [[ $svc == community ]]; then
    start_service community
    wait_service community
  else
    rest+=("$svc")
  fi
done
for svc in "${rest[@]}"; do
  start_service "$svc"
done
for svc in "${rest[@]}"; do
  wait_service "$svc"
done
