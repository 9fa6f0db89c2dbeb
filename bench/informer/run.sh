#!/usr/bin/env bash
# Informer benchmark, full size (10 000 Services, 1 000 Nodes). Usage: bench/informer/run.sh [BUILD_DIR]
# Builds the bench and the API double in BUILD_DIR (default build/default), then runs the bench
# under /usr/bin/time -v (peak RSS of the client process as measured by the kernel).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/default}
cmake --build "$build" --target carplb-informer-bench carplb-kube-double -j "${JOBS:-2}" >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GB", $2/1048576}' /proc/meminfo), $(uname -sr); date: $(date -u +%FT%TZ)"
/usr/bin/time -v "$build/bench/informer/carplb-informer-bench" \
  --double "$build/tests/kube_double/carplb-kube-double" --services "${SERVICES:-10000}" --nodes "${NODES:-1000}" \
  2> >(grep -E "Maximum resident|Elapsed|User time|System time" >&2)
