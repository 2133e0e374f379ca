#!/usr/bin/env bash
# Starts the insights console (`.venv/bin/python -m guild_console`) on a fixed local
# port, reading the community and reputation services with each viewer's token, and
# waits for it. Left alone if it is already running. Start the services first
# (deploy/local/services-up.sh) and copy Chart.js in (make console-assets).
#
# Usage: deploy/local/console-up.sh
#
# Environment:
#   GUILD_CONSOLE_PORT    HTTP port on 127.0.0.1 (default 8090)
#   GUILD_COMMUNITY_ADDR  default 127.0.0.1:<community port>
#   GUILD_REPUTATION_ADDR default 127.0.0.1:<reputation port>
#   GUILD_SERVICE_TIMEOUT seconds to wait for the port (default 60)
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

takes_no_arguments "$@"

python="$ROOT/.venv/bin/python"
[[ -x $python ]] || die "$python not found: run 'uv sync' in $ROOT first"
[[ -s "$ROOT/services/console/src/guild_console/static/vendor/chart.umd.min.js" ]] ||
  die "Chart.js is not in the console's static folder: run 'make console-assets' first"

port=$(console_port)
require_port GUILD_CONSOLE_PORT "$port"
timeout=${GUILD_SERVICE_TIMEOUT:-60}

acquire_lock

if is_running console; then
  log "console is already running (pid $(read_pid console))"
  exit 0
fi
if tcp_open 127.0.0.1 "$port"; then
  die "console: 127.0.0.1:$port is already in use by a process these scripts did not start"
fi
start_bg console env \
  PYTHONUNBUFFERED=1 \
  GUILD_HTTP_HOST=127.0.0.1 \
  GUILD_HTTP_PORT="$port" \
  GUILD_COMMUNITY_ADDR="${GUILD_COMMUNITY_ADDR:-127.0.0.1:$(service_port community)}" \
  GUILD_REPUTATION_ADDR="${GUILD_REPUTATION_ADDR:-127.0.0.1:$(service_port reputation)}" \
  "$python" -m guild_console
record_addr console "http://127.0.0.1:$port"

rc=0
wait_tcp 127.0.0.1 "$port" "$timeout" console || rc=$?
if ((rc != 0)); then
  log "console did not listen on 127.0.0.1:$port"
  tail_log console 30
  stop_bg console
  exit 1
fi
log "console is listening on http://127.0.0.1:$port"
