#!/usr/bin/env bash
# Installs the headless browser the console's browser tests drive: Debian's chromium package
# (/usr/bin/chromium). Does nothing when it is already there; uses sudo only when not run as root.
#
# Usage: deploy/local/install-browser.sh
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: apt-get not found; install Chromium so that /usr/bin/chromium exists" >&2
  exit 1
fi
as_root=()
if [[ $(id -u) != 0 ]]; then
  as_root=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium
