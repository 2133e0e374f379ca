#!/usr/bin/env bash
# Brings up the whole local environment: builds FerretDB if needed, starts
# NATS and FerretDB (infra-up.sh), then the four services (services-up.sh)
# and the insights console (console-up.sh), and prints where everything is.
# Safe to run again.
#
# Usage: deploy/local/up.sh
# Environment: see deploy/local/infra-up.sh --help and services-up.sh --help.
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

takes_no_arguments "$@"

if [[ -z ${GUILD_MONGO_URI:-} && -z ${FERRETDB_BIN:-} ]]; then
  "$LOCAL_DIR/build-ferretdb.sh" >/dev/null
fi
"$LOCAL_DIR/infra-up.sh"
"$LOCAL_DIR/services-up.sh"
"$LOCAL_DIR/console-up.sh"

nats=$(mask_url "$(nats_url)")
mongo=$(mask_url "$(mongo_uri)")
monitor=
if [[ -z ${GUILD_NATS_URL:-} && -s "$RUN_DIR/nats.http" ]]; then
  monitor="  (monitoring $(<"$RUN_DIR/nats.http"))"
fi
community="127.0.0.1:$(service_port community)"

printf '\nGuild is running locally.\n\n'
printf '  %-12s %s\n' COMPONENT ADDRESS
printf '  %-12s %s%s\n' NATS "$nats" "$monitor"
printf '  %-12s %s\n' FerretDB "$mongo"
for svc in "${SERVICES[@]}"; do
  printf '  %-12s %s\n' "$svc" "127.0.0.1:$(service_port "$svc") (gRPC)"
done
printf '  %-12s %s\n' console "http://127.0.0.1:$(console_port)/ (insights console)"
cat <<INFO

Logs:    ${LOG_DIR#"$ROOT"/}/<component>.log   (e.g. tail -f ${LOG_DIR#"$ROOT"/}/community.log)
Status:  deploy/local/status.sh
Stop:    deploy/local/down.sh   (--purge also deletes ${DATA_DIR#"$ROOT"/})

Development token and a first call (from $ROOT):
  TOKEN=\$(.venv/bin/python -m guild_common.devtoken --sub alice)
  .venv/bin/grpcurl -plaintext -H "authorization: Bearer \$TOKEN" $community list

Insights console: open http://127.0.0.1:$(console_port)/ and paste a token from
  make token SUB=alice
(it shows the communities and figures that member may read).
INFO
