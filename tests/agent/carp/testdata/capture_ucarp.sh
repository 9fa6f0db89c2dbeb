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
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=ucarp_lab.sh
source "$here/ucarp_lab.sh"
ucarp_lab_up "carplb-vec-$$"
ucarp_lab_start "$out.ucarp.log" --vhid="$vhid" --pass="$pass" --advbase="$advbase" --advskew="$advskew"
ns=$ucarp_lab_ns

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
