#!/usr/bin/env bash
# kubectl apply -f manifests/ against the API server double (tests/kube_double), then:
#   - the VirtualIP CRD is served: kubectl lists, creates and gets a VirtualIP by its short name;
#   - a second apply changes nothing (the manifests are stable);
#   - helm install of the chart, then helm upgrade: the generated CARP secret, CA/certificates
#     and agent token are kept (lookup), and the objects exist with the chart's names.
# Usage: kubectl_apply_test.sh path/to/carplb-kube-double   (env KUBECTL, HELM)
set -euo pipefail
double=${1:?usage: kubectl_apply_test.sh carplb-kube-double}
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
kubectl=${KUBECTL:-$src/.tools/bin/kubectl}
helm=${HELM:-$src/.tools/bin/helm}
tmp=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [[ -f "$tmp/double.log" ]] && tail -20 "$tmp/double.log" >&2; exit 1; }

"$double" --listen 127.0.0.1:0 --kubeconfig-out "$tmp/kubeconfig" >"$tmp/double.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  [[ -s "$tmp/kubeconfig" ]] && break
  kill -0 "$pid" 2>/dev/null || fail "carplb-kube-double exited"
  sleep 0.1
done
[[ -s "$tmp/kubeconfig" ]] || fail "carplb-kube-double wrote no kubeconfig"
export KUBECONFIG=$tmp/kubeconfig
k() { "$kubectl" --cache-dir "$tmp/cache" --request-timeout=20s "$@"; }

# 1. apply the static manifests
k apply -f "$src/manifests/" >"$tmp/apply1.txt" 2>&1 || { cat "$tmp/apply1.txt"; fail "kubectl apply -f manifests/"; }
cat "$tmp/apply1.txt"
want=$(grep -c '^kind:' "$src/manifests/carplb.yaml")
got=$(grep -cE ' (created|configured|unchanged)$' "$tmp/apply1.txt" || true)
[[ "$got" == "$want" ]] || fail "kubectl apply reported $got objects, manifests/carplb.yaml has $want"

# 2. the CRD is served (discovery picks it up; a fresh cache dir avoids stale discovery)
rm -rf "$tmp/cache"
k get crd virtualips.carplb.io >/dev/null || fail "CRD virtualips.carplb.io not found"
k apply -f "$here/testdata/virtualip-example.yaml" >/dev/null || fail "cannot create a VirtualIP"
k get vip vip-192-0-2-240 -o jsonpath='{.spec.address} {.spec.vhid}' >"$tmp/vip.txt" || fail "kubectl get vip"
[[ "$(cat "$tmp/vip.txt")" == "192.0.2.240 1" ]] || fail "VirtualIP read back as '$(cat "$tmp/vip.txt")'"
k -n carplb-system get deploy carplb-controller -o jsonpath='{.spec.replicas}' >"$tmp/r.txt" || fail "get deploy"
[[ "$(cat "$tmp/r.txt")" == 2 ]] || fail "controller replicas '$(cat "$tmp/r.txt")'"
k -n carplb-system get ds carplb-agent -o jsonpath='{.spec.template.spec.hostNetwork}' >"$tmp/h.txt" || fail "get ds"
[[ "$(cat "$tmp/h.txt")" == true ]] || fail "agent hostNetwork '$(cat "$tmp/h.txt")'"
echo "ok: CRD served, VirtualIP stored, Deployment and DaemonSet readable"

# 3. idempotent
k apply -f "$src/manifests/" >"$tmp/apply2.txt" 2>&1 || { cat "$tmp/apply2.txt"; fail "second apply"; }
if grep -vE ' unchanged$' "$tmp/apply2.txt" | grep -q .; then
  cat "$tmp/apply2.txt"; fail "second kubectl apply changed something"
fi
echo "ok: second apply: everything unchanged"

# 4. helm install + upgrade keep the generated Secrets
secret_data() { k -n carplb-helm get secret "$1" -o jsonpath='{.data}'; }
"$helm" --kubeconfig "$KUBECONFIG" install demo "$src/charts/carplb" -n carplb-helm --create-namespace \
  --skip-crds >"$tmp/helm1.txt" 2>&1 || { cat "$tmp/helm1.txt"; fail "helm install"; }
for s in demo-carplb-carp demo-carplb-controller-tls demo-carplb-agent-tls; do
  secret_data "$s" >"$tmp/$s.before" || fail "secret $s missing after helm install"
done
"$helm" --kubeconfig "$KUBECONFIG" upgrade demo "$src/charts/carplb" -n carplb-helm \
  --set logLevel=debug >"$tmp/helm2.txt" 2>&1 || { cat "$tmp/helm2.txt"; fail "helm upgrade"; }
for s in demo-carplb-carp demo-carplb-controller-tls demo-carplb-agent-tls; do
  secret_data "$s" >"$tmp/$s.after"
  cmp -s "$tmp/$s.before" "$tmp/$s.after" || fail "helm upgrade changed Secret $s (lookup must keep it)"
done
k -n carplb-helm get deploy demo-carplb-controller -o jsonpath='{.spec.template.spec.containers[0].args}' \
  | grep -q -- '--log-level=debug' || fail "helm upgrade did not apply logLevel=debug"
echo "ok: helm install + upgrade: generated Secrets kept, values applied"
echo "PASS"
