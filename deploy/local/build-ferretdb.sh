#!/usr/bin/env bash
# Builds deploy/local/bin/ferretdb from deploy/local/ferretdb when the binary is
# missing, older than main.go/go.mod/go.sum/patches, or was built with another Go
# version or GOFLAGS. Prints the binary's path on stdout.
#
# The FerretDB module is vendored into a scratch folder and the patches in
# deploy/local/ferretdb/patches are applied to it before building (see
# patches/README.md for what each one fixes).
#
# Usage: deploy/local/build-ferretdb.sh [--force]
set -euo pipefail

# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

force=0
for arg in "$@"; do
  case $arg in
    --force) force=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument: $arg" ;;
  esac
done

src="$LOCAL_DIR/ferretdb"
bin="$DEFAULT_FERRETDB_BIN"
stamp="$LOCAL_DIR/bin/.ferretdb.stamp"
patches=("$src"/patches/*.patch)
sources=("$src/main.go" "$src/go.mod" "$src/go.sum" "${patches[@]}")

for f in "${sources[@]}"; do
  [[ -f $f ]] || die "missing $f"
done

reason=
if ((force)); then
  reason="--force"
elif [[ ! -x $bin ]]; then
  reason="no binary yet"
else
  for f in "${sources[@]}"; do
    if [[ $f -nt $bin ]]; then
      reason="${f#"$LOCAL_DIR"/} changed"
      break
    fi
  done
fi

if ! command -v go >/dev/null 2>&1; then
  if [[ -z $reason ]]; then
    log "go is not installed; using the existing $bin"
    printf '%s\n' "$bin"
    exit 0
  fi
  die "go is not installed and ferretdb needs building ($reason)"
fi

want_stamp="$(go version) GOFLAGS=${GOFLAGS:-}"
if [[ -z $reason ]]; then
  if [[ ! -f $stamp ]] || [[ $(<"$stamp") != "$want_stamp" ]]; then
    reason="Go version or GOFLAGS changed"
  fi
fi

if [[ -n $reason ]]; then
  log "building ferretdb ($reason): about 40 s to 2 min the first time (downloading Go modules when they are"
  log "not cached yet, then compiling), progress every ${GUILD_PROGRESS_SECONDS:-15} s; later runs reuse the binary"
  mkdir -p "$(dirname "$bin")"
  tmp="$bin.tmp.$$"
  work="$(dirname "$bin")/.ferretdb-src.$$"
  trap 'rm -rf "$tmp" "$work"' EXIT
  mkdir -p "$work"
  cp "$src/main.go" "$src/go.mod" "$src/go.sum" "$work/"
  run_with_progress "fetching ferretdb's Go modules" go -C "$work" mod vendor
  for p in "${patches[@]}"; do
    patch --quiet --forward -p1 -d "$work/vendor/github.com/FerretDB/FerretDB" <"$p" || die "cannot apply $p"
  done
  run_with_progress "compiling ferretdb" go -C "$work" build -mod=vendor -o "$tmp" .
  mv -f "$tmp" "$bin"
  rm -rf "$work"
  trap - EXIT
  printf '%s\n' "$want_stamp" >"$stamp"
  log "built $bin"
fi

printf '%s\n' "$bin"
