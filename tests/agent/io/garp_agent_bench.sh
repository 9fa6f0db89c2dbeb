#!/usr/bin/env bash
# tests/agent/io/garp_agent_bench.sh AGENT [VHIDS]: one standalone carplb-agent (binary AGENT)
# in a network namespace with VHIDS vhids (default 64, one VIP each, advbase 1) on one veth.
# Alone on the link, all of them go MASTER on the same master-down timer, so the agent's event
# loop binds, adverts and sends the gratuitous ARPs of every vhid back to back. The peer end
# captures the GARPs (python3, AF_PACKET); printed: how many arrived (two rounds: at MASTER and
# two adverts later), the time from the first to the last GARP of the first round, and the
# spread of the agent's own "to=MASTER" log lines (ms resolution).
# Needs root. Namespaces carplb-garpag-<pid>-{a,b}, links carplb-<pid>{a,b}, 198.51.100.0/24;
# everything is removed on exit. Results: docs/benchmarks/carp.md.
set -euo pipefail
agent=${1:?usage: garp_agent_bench.sh AGENT [VHIDS]}
n=${2:-64}
id=$$
a=carplb-garpag-$id-a
b=carplb-garpag-$id-b
ifa=carplb-${id:0:7}a
ifb=carplb-${id:0:7}b
dir=$(mktemp -d /tmp/carplb-garpag-XXXXXX)
agent_pid=""
cap_pid=""
cleanup() {
  [[ -n $agent_pid ]] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
  [[ -n $cap_pid ]] && kill "$cap_pid" 2>/dev/null || true
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

ip netns add "$a"
ip netns add "$b"
ip -n "$a" link add "$ifa" type veth peer name "$ifb" netns "$b"
ip -n "$a" addr add 198.51.100.1/24 dev "$ifa"
ip -n "$b" addr add 198.51.100.2/24 dev "$ifb"
ip -n "$a" link set "$ifa" up
ip -n "$b" link set "$ifb" up
ip -n "$a" link set lo up

{
  echo '{"statusListen": "off", "logLevel": "info", "vhids": ['
  for ((i = 1; i <= n; i++)); do
    sep=","; ((i == n)) && sep=""
    echo "{\"vhid\": $i, \"interface\": \"$ifa\", \"addresses\": [\"198.51.100.$((i + 2))\"], \"password\": \"bench\"}$sep"
  done
  echo ']}'
} > "$dir/agent.json"

cat > "$dir/capture.py" <<'PY'
import socket, struct, sys, time
ifname, seconds, vhids = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0x0806))
s.settimeout(0.2)
print("ready", flush=True)
seen = []
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        f = s.recv(128)
    except socket.timeout:
        continue
    if len(f) >= 42 and f[28:32] == f[38:42] and f[28:31] == bytes([198, 51, 100]):
        seen.append(time.monotonic())
if seen:
    k = min(vhids, len(seen))  # the first round: one GARP per vhid
    print(f"garps={len(seen)} first_round_first_to_last_ms={(seen[k - 1] - seen[0]) * 1000:.1f}")
else:
    print("garps=0")
PY
ip netns exec "$b" python3 "$dir/capture.py" "$ifb" 8 "$n" > "$dir/capture.out" &
cap_pid=$!
for _ in $(seq 50); do grep -q ready "$dir/capture.out" 2>/dev/null && break; sleep 0.1; done
ip netns exec "$a" "$agent" --config "$dir/agent.json" 2> "$dir/agent.log" &
agent_pid=$!
wait "$cap_pid"
cap_pid=""
kill "$agent_pid"
wait "$agent_pid" || true
agent_pid=""
masters=$(grep -c 'to=MASTER' "$dir/agent.log" || true)
spread=$(grep 'to=MASTER' "$dir/agent.log" | sed -E 's/^ts=([^ ]+).*/\1/' |
  python3 -c 'import sys, datetime as d
t = [d.datetime.fromisoformat(l.strip().replace("Z", "+00:00")) for l in sys.stdin if l.strip()]
print(f"{(max(t) - min(t)).total_seconds() * 1000:.0f}" if t else "n/a")')
echo "vhids=$n $(grep garps "$dir/capture.out") agent_to_master=$masters agent_first_to_last_master_ms=$spread"
