#!/usr/bin/env bash
# Stops what the deploy/local scripts started: the services first, then
# FerretDB and NATS. Only processes recorded in .local/run are touched, so
# servers given through GUILD_NATS_URL / GUILD_MONGO_URI are left alone. Safe
# to run when nothing is running.
#
# Usage: deploy/local/down.sh [--purge]
#   --purge  also delete .local/data (NATS JetStream store, FerretDB databases)
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

purge=0
for arg in "$@"; do
  case $arg in
    --purge) purge=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $arg" ;;
  esac
done

if [[ ! -d $RUN_DIR ]] && ((!purge)); then
  log "nothing to stop"
  exit 0
fi

acquire_lock

stop_bg console
for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
  stop_bg "${SERVICES[i]}"
done
stop_bg ferretdb
stop_bg nats

if ((purge)); then
  rm -rf "$DATA_DIR"
  log "deleted ${DATA_DIR#"$ROOT"/}"
fi
log "stopped"
