# Sourced by capture_ucarp.sh and interop_ucarp.sh (needs bash, root, iproute2 and ucarp):
# one private network namespace holding a veth pair, ucarp on carplb-v0 (192.0.2.1/24) and
# the test's python3 AF_PACKET socket on carplb-v1.
#
#   ucarp_lab_up NAME          create namespace NAME (carplb-<something>-<pid>) with the veth
#                              pair up; on exit ucarp is stopped by its PID and NAME removed
#   ucarp_lab_start LOG ARGS   start ucarp on carplb-v0 (srcip 192.0.2.1, VIP 192.0.2.100, no
#                              up/down scripts) with the extra ARGS (--vhid, --pass, ...),
#                              output to LOG; sets ucarp_pid
# Only the namespace it creates is touched; the root namespace is never changed.

ucarp_lab_ns=""
ucarp_pid=""

ucarp_lab_cleanup() {
  if [[ -n "$ucarp_pid" ]]; then
    kill "$ucarp_pid" 2>/dev/null || true
    wait "$ucarp_pid" 2>/dev/null || true
  fi
  if [[ -n "$ucarp_lab_ns" ]]; then ip netns del "$ucarp_lab_ns" 2>/dev/null || true; fi
}

ucarp_lab_up() {
  ucarp_lab_ns=$1
  trap ucarp_lab_cleanup EXIT
  trap 'exit 130' INT TERM
  ip netns add "$ucarp_lab_ns"
  ip -n "$ucarp_lab_ns" link add carplb-v0 type veth peer name carplb-v1
  ip -n "$ucarp_lab_ns" addr add 192.0.2.1/24 dev carplb-v0
  ip -n "$ucarp_lab_ns" link set lo up
  ip -n "$ucarp_lab_ns" link set carplb-v0 up
  ip -n "$ucarp_lab_ns" link set carplb-v1 up
}

ucarp_lab_start() {
  local log=$1
  shift
  ip netns exec "$ucarp_lab_ns" ucarp --interface=carplb-v0 --srcip=192.0.2.1 --addr=192.0.2.100 \
    --upscript=/bin/true --downscript=/bin/true --ignoreifstate "$@" >"$log" 2>&1 &
  ucarp_pid=$!
}
