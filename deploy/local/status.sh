#!/usr/bin/env bash
# Prints one line per component: whether it is running, its pid and address.
# "external" means GUILD_NATS_URL / GUILD_MONGO_URI names a server these
# scripts did not start.
#
# Usage: deploy/local/status.sh
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

takes_no_arguments "$@"

# line NAME DEFAULT_ADDR EXTERNAL_URL DEFAULT_PORT
line() {
  local name=$1 addr=$2 external=${3:-} default_port=${4:-} state pid=- hp note=
  if is_running "$name"; then
    state=running
    pid=$(read_pid "$name")
    addr=$(recorded_addr "$name" || printf '%s' "$addr")
    if hp=$(url_hostport "$addr" "$default_port") && ! tcp_open "${hp% *}" "${hp#* }"; then
      note=" (not accepting connections)"
    fi
    if [[ -s "$RUN_DIR/$name.http" ]]; then
      note+=" monitoring $(<"$RUN_DIR/$name.http")"
    fi
  elif [[ -n $external ]]; then
    state=external
    addr=$(mask_url "$external")
  else
    state=stopped
  fi
  printf '%-11s %-9s %-8s %s%s\n' "$name" "$state" "$pid" "$addr" "$note"
}

printf '%-11s %-9s %-8s %s\n' COMPONENT STATE PID ADDRESS
line nats "nats://127.0.0.1:$(nats_port)" "${GUILD_NATS_URL:-}" 4222
line ferretdb "mongodb://127.0.0.1:$(mongo_port)" "${GUILD_MONGO_URI:-}" 27017
for svc in "${SERVICES[@]}"; do
  line "$svc" "127.0.0.1:$(service_port "$svc")" "" "$(service_port "$svc")"
done
line console "http://127.0.0.1:$(console_port)" "" "$(console_port)"
