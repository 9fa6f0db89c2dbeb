#!/usr/bin/env bash
# Chart checks with the real tools, registered as ctest tests by tests/chart/CMakeLists.txt.
#
#   chart_test.sh lint      helm lint --strict with the defaults and every tests/chart/values/*.yaml;
#                           every tests/chart/values-invalid/*.yaml must be rejected with the
#                           message in its "# expect:" line
#   chart_test.sh openapi   helm template (defaults and each values file) + manifests/carplb.yaml +
#                           a VirtualIP example, validated against the Kubernetes OpenAPI document
#   chart_test.sh selftest  the validator rejects each tests/chart/testdata/invalid/*.yaml with
#                           the message in its "# expect:" line (so a broken validator cannot pass)
#   chart_test.sh render    semantic checks of the rendered objects (render_checks.py)
#   chart_test.sh rbac      structural RBAC checks (check_rbac.py); what the controller calls is
#                           checked against the code by tests/controller/app (enforced RBAC)
#   chart_test.sh drift     manifests/carplb.yaml is exactly what manifests/render produces
#
# Environment: HELM (helm binary), PYTHON (Debian python3 with python3-jsonschema),
# CARPLB_SHARED_DIR (../shared).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
chart=$src/charts/carplb
helm=${HELM:-$src/.tools/bin/helm}
py=${PYTHON:-/usr/bin/python3}
shared=${CARPLB_SHARED_DIR:-$src/../shared}
openapi=$shared/kubernetes/openapi-v2-k8s-1.36.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ -x "$helm" ]] || fail "helm not found at $helm (scripts/install-kube-tools)"
"$py" -c 'import jsonschema, yaml' 2>/dev/null || fail "$py lacks python3-jsonschema/python3-yaml"

value_sets=("" "$here"/values/*.yaml)
render() { # values-file-or-empty output
  local args=(template carplb "$chart" --namespace carplb --include-crds)
  [[ -n "$1" ]] && args+=(-f "$1")
  "$helm" "${args[@]}" >"$2"
}
expect_of() { sed -n '1s/^# expect: //p' "$1"; }

case "${1:-}" in
lint)
  for v in "${value_sets[@]}"; do
    args=(lint --strict "$chart")
    [[ -n "$v" ]] && args+=(-f "$v")
    "$helm" "${args[@]}" >"$tmp/out" 2>&1 || { cat "$tmp/out"; fail "helm lint ${v:-defaults}"; }
    echo "ok: helm lint --strict ${v:+-f $(basename "$v")}"
  done
  for v in "$here"/values-invalid/*.yaml; do
    want=$(expect_of "$v")
    [[ -n "$want" ]] || fail "$v has no '# expect:' first line"
    if "$helm" template x "$chart" -f "$v" >"$tmp/out" 2>&1; then
      fail "$(basename "$v"): rendered although it is invalid"
    fi
    grep -qF -- "$want" "$tmp/out" || { cat "$tmp/out"; fail "$(basename "$v"): error does not mention '$want'"; }
    echo "ok: rejected $(basename "$v"): $want"
  done
  ;;
openapi)
  [[ -r "$openapi" ]] || fail "$openapi not readable (CARPLB_SHARED_DIR)"
  files=()
  for v in "${value_sets[@]}"; do
    out="$tmp/render-$(basename "${v:-defaults}")"
    render "$v" "$out"
    files+=("$out")
  done
  "$py" "$here/validate_openapi.py" --openapi "$openapi" \
    --crd "$chart/crds/virtualips.carplb.io.yaml" \
    --extra-schema "$here/schemas/servicemonitor-v1-subset.json" \
    "${files[@]}" "$src/manifests/carplb.yaml" "$here/testdata/virtualip-example.yaml"
  ;;
selftest)
  [[ -r "$openapi" ]] || fail "$openapi not readable (CARPLB_SHARED_DIR)"
  n=0
  for f in "$here"/testdata/invalid/*.yaml; do
    want=$(expect_of "$f")
    [[ -n "$want" ]] || fail "$f has no '# expect:' first line"
    if "$py" "$here/validate_openapi.py" --quiet --openapi "$openapi" \
         --crd "$chart/crds/virtualips.carplb.io.yaml" "$f" >"$tmp/out" 2>&1; then
      cat "$tmp/out"; fail "validator accepted $(basename "$f")"
    fi
    grep -qF -- "$want" "$tmp/out" || { cat "$tmp/out"; fail "$(basename "$f"): no '$want' in the validator's output"; }
    echo "ok: validator rejects $(basename "$f"): $want"
    n=$((n + 1))
  done
  ((n > 0)) || fail "no invalid samples"
  ;;
render)
  for v in "${value_sets[@]}"; do
    out="$tmp/render-$(basename "${v:-defaults}")"
    render "$v" "$out"
    "$py" "$here/render_checks.py" --values "${v:-}" --rendered "$out" || fail "render checks ${v:-defaults}"
  done
  ;;
rbac)
  for v in "${value_sets[@]}"; do
    out="$tmp/render-$(basename "${v:-defaults}")"
    render "$v" "$out"
    "$py" "$here/check_rbac.py" --rendered "$out" || fail "RBAC checks ${v:-defaults}"
  done
  ;;
drift)
  HELM=$helm "$src/manifests/render" --check
  ;;
*)
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
