#!/usr/bin/env bash
# Captures CARP adverts sent by Debian's ucarp 1.5.2 inside a private network namespace and
# writes them as hex (one full IPv4 packet per line: IP header + 36-byte CARP header).
#
#   usage: capture_ucarp.sh OUT.hex VHID PASSWORD ADVBASE ADVSKEW [COUNT]
#
# Needs root, ucarp and python3. Only touches the namespace it creates
# (carplb-vec-<pid>, links carplb-v0/carplb-v1, 192.0.2.0/24); removes it on exit, and stops
# ucarp by its PID.
set -euo pipefail
out=$1 vhid=$2 pass=$3 advbase=$4 advskew=$5 count=${6:-4}
ns=carplb-vec-$$
ucarp_pid=""
cleanup() {
  if [[ -n "$ucarp_pid" ]]; then kill "$ucarp_pid" 2>/dev/null || true; wait "$ucarp_pid" 2>/dev/null || true; fi
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
ip -n "$ns" link add carplb-v0 type veth peer name carplb-v1
ip -n "$ns" addr add 192.0.2.1/24 dev carplb-v0
ip -n "$ns" link set lo up
ip -n "$ns" link set carplb-v0 up
ip -n "$ns" link set carplb-v1 up

ip netns exec "$ns" ucarp --interface=carplb-v0 --srcip=192.0.2.1 --vhid="$vhid" --pass="$pass" \
  --addr=192.0.2.100 --advbase="$advbase" --advskew="$advskew" \
  --upscript=/bin/true --downscript=/bin/true --ignoreifstate >"$out.ucarp.log" 2>&1 &
ucarp_pid=$!

# Read raw frames on the peer end; keep IPv4 protocol-112 packets, strip the Ethernet header.
ip netns exec "$ns" timeout 60 python3 - "$count" >"$out" <<'PY'
import socket, sys
count = int(sys.argv[1])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
s.bind(("carplb-v1", 0))
got = 0
while got < count:
    frame = s.recv(2048)
    ip = frame[14:]
    if len(ip) >= 20 and ip[0] >> 4 == 4 and ip[9] == 112:
        total = (ip[2] << 8) | ip[3]
        print(ip[:total].hex())
        sys.stdout.flush()
        got += 1
PY
rm -f "$out.ucarp.log"
echo "captured $(wc -l <"$out") adverts into $out" >&2
