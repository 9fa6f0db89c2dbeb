#!/usr/bin/env bash
# Interop check in the other direction: a live ucarp 1.5.2 BACKUP accepts carplb's adverts.
#
#   usage: interop_ucarp.sh [carplb_vhid42_love_b1_s0.hex]
#
# ucarp runs on carplb-v0 (192.0.2.1, vhid 42, password "love", advbase 1, advskew 100,
# VIP 192.0.2.100). A python3 AF_PACKET socket on carplb-v1 injects our adverts (source
# 192.0.2.2, advskew 0) once a second and listens for ucarp's. Expected:
#   phase 1 (our 10 adverts, ~10 s): ucarp sends nothing (it accepted our HMAC and stays BACKUP;
#           with a bad HMAC it would become MASTER after ~3 s);
#   phase 2 (we go quiet, 8 s): ucarp takes over and, having adopted our counter, sends
#           our last counter + 1, then + 2, ...
# Prints a summary and exits non-zero if either expectation fails. Needs root, ucarp,
# python3. Cleans up the namespace carplb-ix-<pid> and stops ucarp by PID on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vectors=${1:-$here/carplb_vhid42_love_b1_s0.hex}
# shellcheck source=ucarp_lab.sh
source "$here/ucarp_lab.sh"
ucarp_lab_up "carplb-ix-$$"
ns=$ucarp_lab_ns

ip netns exec "$ns" python3 - "$vectors" <<'PY' &
import select, socket, struct, sys, time
vectors = [bytes.fromhex(l.strip()) for l in open(sys.argv[1]) if l.strip()]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0800))
s.bind(("carplb-v1", 0))
eth = bytes.fromhex("01005e000012") + bytes.fromhex("00005e00002a") + b"\x08\x00"
def ucarp_adverts(deadline):
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return seen
        r, _, _ = select.select([s], [], [], left)
        if not r:
            continue
        ip = s.recv(2048)[14:]
        if len(ip) >= 56 and ip[9] == 112 and ip[12:16] == bytes([192, 0, 2, 1]):
            seen.append(struct.unpack("!Q", ip[28:36])[0])
time.sleep(0.5)
phase1 = []
for v in vectors:
    s.send(eth + v)
    phase1 += ucarp_adverts(time.monotonic() + 1.0)
last = struct.unpack("!Q", vectors[-1][28:36])[0]
phase2 = ucarp_adverts(time.monotonic() + 8.0)
print("phase1: ucarp adverts while we advertised: %d" % len(phase1))
print("phase2: ucarp adverts after we stopped: %d, counters - our last: %s"
      % (len(phase2), [c - last for c in phase2[:5]]))
ok = not phase1 and len(phase2) >= 2 and phase2[0] == last + 1 and phase2[1] == last + 2
print("RESULT: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
py_pid=$!
sleep 0.2
ucarp_lab_start /dev/null --vhid=42 --pass=love --advbase=1 --advskew=100
wait "$py_pid"
