#!/usr/bin/env bash
# Informer benchmark, full size (10 000 Services, 1 000 Nodes), with kubectl as the reference.
# Usage: bench/informer/run.sh [BUILD_DIR]   (default build/default; SERVICES=/NODES= override)
# The bench reports its own RSS from /proc/self/status (VmRSS/VmHWM): /usr/bin/time would also
# count the API double, which runs as its child.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/default}
cmake --build "$build" --target carplb-informer-bench carplb-kube-double -j "${JOBS:-2}" >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), $(uname -sr);" \
     "load: $(cut -d' ' -f1-3 /proc/loadavg); date: $(date -u +%FT%TZ)"
kubectl_args=()
if [[ -x "$root/.tools/bin/kubectl" ]]; then kubectl_args=(--kubectl "$root/.tools/bin/kubectl"); fi
"$build/bench/informer/carplb-informer-bench" --double "$build/tests/kube_double/carplb-kube-double" \
  --services "${SERVICES:-10000}" --nodes "${NODES:-1000}" "${kubectl_args[@]}"
