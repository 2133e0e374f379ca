#!/usr/bin/env bash
# Fail if protos/ breaks a caller or consumer of the last committed state (buf breaking, FILE rules).
#
# Usage: tools/contracts/breaking.sh [repository root]   (default: this repository)
#
# BUF_BREAKING_AGAINST chooses what to compare with:
#   unset              the merge-base of HEAD with origin/main if origin/main exists, else HEAD
#                      (the last commit: uncommitted changes to protos/ are what is checked);
#   a git ref or sha   e.g. origin/main, v1.4.0, 3f2c1e0;
#   a buf input        anything with a '#', e.g. '.git#branch=main,subdir=protos' or
#                      'https://github.com/org/guild.git#branch=main,subdir=protos'.
set -euo pipefail

tools_root="$(cd "$(dirname "$0")/../.." && pwd)"
BUF="${BUF:-$tools_root/node_modules/.bin/buf}"
repo="$(cd "${1:-$tools_root}" && pwd)"
cd "$repo"

if [ ! -x "$BUF" ]; then
  echo "breaking: $BUF not found; run make sync" >&2
  exit 2
fi

against="${BUF_BREAKING_AGAINST:-}"
if [ -z "$against" ]; then
  if git rev-parse --verify --quiet origin/main >/dev/null && base="$(git merge-base HEAD origin/main)"; then
    against="$base"
  else
    # No origin/main, or a shallow clone without the common history: the last commit.
    against="$(git rev-parse HEAD)"
  fi
fi
if [[ "$against" != *"#"* ]]; then
  sha="$(git rev-parse --verify --quiet "${against}^{commit}" || true)"
  if [ -z "$sha" ]; then
    echo "breaking: $against is not a commit of $repo" >&2
    exit 2
  fi
  if ! git cat-file -e "${sha}:protos/buf.yaml" 2>/dev/null; then
    echo "breaking: no protos/ at $against; nothing to compare with"
    exit 0
  fi
  against=".git#ref=${sha},subdir=protos"
fi

echo "buf breaking protos --against '$against'"
"$BUF" breaking protos --against "$against"
