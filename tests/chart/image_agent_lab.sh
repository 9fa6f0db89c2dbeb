#!/usr/bin/env bash
# Runs carplb-agent FROM THE IMAGE once, in a two-namespace lab against ucarp, with exactly the
# security settings of the DaemonSet: uid 0, every capability dropped except NET_ADMIN and
# NET_RAW, no-new-privileges, read-only root filesystem, not privileged.
#
#   netns A (carplb-img-a-<id>): carplb-agent in podman, --network ns:..., advskew 0, preempt
#   netns B (carplb-img-b-<id>): ucarp 1.5, advskew 100
#   one veth pair between them, 192.0.2.1 (A) and 192.0.2.2 (B), VIP 192.0.2.100, vhid 7
#
# Checks: the agent becomes MASTER and binds the VIP (ucarp stays backup); on SIGTERM (sent to
# its PID, as `podman stop` would) the agent bows out, removes the VIP, and ucarp takes over within 2 s, much
# sooner than ucarp's own master-down time (3 x advbase + advskew/256 = 3.4 s).
# Needs root and the image scripts/build-image built (CARPLB_IMAGE, CARPLB_IMAGE_STORE).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^project(carplb VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image=${CARPLB_IMAGE:-localhost/carplb:${version}}
store=$(realpath -m "${CARPLB_IMAGE_STORE:-build/image}")
export CONTAINERS_CONF="$store/containers.conf"
pm() { podman --root "$store/root" --runroot "$store/run" --runtime runc "$@"; }

id=$(printf '%x' $$)
nsa=carplb-img-a-$id nsb=carplb-img-b-$id
la=carplb-ia$id lb=carplb-ib$id     # at most 15 characters
vip=192.0.2.100 vhid=7 pass=carplb-lab-pw
ctr=carplb-agent-lab-$id
tmp=$(mktemp -d)
ucarp_pid=""
cleanup() {
  pm rm -f -t 2 "$ctr" >/dev/null 2>&1 || true
  if [[ -n "$ucarp_pid" ]] && kill -0 "$ucarp_pid" 2>/dev/null; then
    kill "$ucarp_pid" 2>/dev/null || true
    wait "$ucarp_pid" 2>/dev/null || true
  fi
  ip netns del "$nsa" 2>/dev/null || true
  ip netns del "$nsb" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- agent log" >&2; pm logs "$ctr" 2>&1 | tail -30 >&2 || true
  echo "--- ucarp log" >&2; tail -20 "$tmp/ucarp.log" >&2 2>/dev/null || true
  exit 1
}
has_vip() { ip -n "$1" -4 addr show dev "$2" | grep -q " $vip/"; }
wait_for() { # seconds command...
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do ((SECONDS < deadline)) || return 1; sleep 0.1; done
}
ms_now() { date +%s%3N; }

pm image exists "$image" || fail "image $image not in $store (run scripts/build-image)"
command -v ucarp >/dev/null || fail "ucarp not installed (scripts/install-deps)"

ip netns add "$nsa" || fail "cannot create network namespaces (needs root)"
ip netns add "$nsb"
ip link add "$la" netns "$nsa" type veth peer name "$lb" netns "$nsb"
ip -n "$nsa" addr add 192.0.2.1/24 dev "$la"
ip -n "$nsb" addr add 192.0.2.2/24 dev "$lb"
for n in "$nsa" "$nsb"; do ip -n "$n" link set lo up; done
ip -n "$nsa" link set "$la" up
ip -n "$nsb" link set "$lb" up

# ucarp as the peer: its up/down scripts add/remove the VIP in namespace B.
printf '#!/bin/sh\nip addr add %s/32 dev "$1"\n' "$vip" >"$tmp/up.sh"
printf '#!/bin/sh\nip addr del %s/32 dev "$1"\n' "$vip" >"$tmp/down.sh"
chmod +x "$tmp/up.sh" "$tmp/down.sh"
ip netns exec "$nsb" ucarp --interface="$lb" --srcip=192.0.2.2 --vhid=$vhid --pass=$pass \
  --addr=$vip --advbase=1 --advskew=100 --upscript="$tmp/up.sh" --downscript="$tmp/down.sh" \
  --shutdown >"$tmp/ucarp.log" 2>&1 &
ucarp_pid=$!

pm run -d --name "$ctr" --network "ns:/run/netns/$nsa" \
  --user 0 --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW \
  --security-opt no-new-privileges --read-only --stop-timeout 10 \
  "$image" carplb-agent --interface "$la" --srcip 192.0.2.1 --vhid $vhid --pass $pass \
  --addr $vip --advbase 1 --advskew 0 --preempt --status-listen off >/dev/null \
  || fail "podman run of carplb-agent"

wait_for 15 has_vip "$nsa" "$la" || fail "agent (advskew 0) did not bind $vip as MASTER within 15 s"
sleep 2   # a few adverts: ucarp must now be (or stay) backup
has_vip "$nsb" "$lb" && fail "ucarp holds $vip while the agent is MASTER (adverts not understood)"
has_vip "$nsa" "$la" || fail "agent lost $vip while ucarp is the worse node"
echo "ok: agent from the image is MASTER of vhid $vhid with only NET_ADMIN+NET_RAW; ucarp is BACKUP"

# SIGTERM goes straight to the agent (the container's PID 1, a process this script started):
# `podman stop` adds its own delay before the signal (3.5 s once on the loaded CI machine), which
# would be measured as takeover time. podman stop then only reaps the exited container.
agent_pid=$(pm inspect -f '{{.State.Pid}}' "$ctr") || fail "podman inspect of $ctr"
[[ "$agent_pid" =~ ^[1-9][0-9]*$ ]] || fail "no PID for the agent container (got '$agent_pid')"
t0=$(ms_now)
kill -TERM "$agent_pid" || fail "SIGTERM to the agent (PID $agent_pid)"
wait_for 5 has_vip "$nsb" "$lb" || fail "ucarp did not take over within 5 s of the agent's SIGTERM"
t1=$(ms_now)
pm wait "$ctr" >/dev/null 2>&1 || true
has_vip "$nsa" "$la" && fail "agent left $vip behind after SIGTERM"
pm stop -t 10 "$ctr" >/dev/null 2>&1 || true
took=$((t1 - t0))
echo "ok: SIGTERM -> agent bowed out and removed the VIP; ucarp MASTER after ${took} ms"
((took < 2000)) || fail "takeover took ${took} ms: the agent did not bow out (ucarp's master-down is 3.4 s)"
echo "PASS"
