#!/usr/bin/env bash
# host-tcp across real network stacks: three network namespaces joined by a bridge of veth
# pairs (10.77.0.1-3/24, addresses of this test's own), one host-tcp process in each for a
# few seconds, then `lab check` on their logs. The namespaces are removed even on failure.
# Needs root (CI runs as root); installs iproute2 when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ip >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2 >/dev/null
fi
cargo build -q --release -p host-tcp -p lab
HOST=$PWD/target/release/host-tcp
LAB=$PWD/target/release/lab

tag="ll$$"
br="br-$tag"
out=$(mktemp -d)
cleanup() {
    for i in 0 1 2; do ip netns del "$tag-$i" 2>/dev/null || true; done
    ip link del "$br" 2>/dev/null || true
    rm -rf "$out"
}
trap cleanup EXIT

ip link add "$br" type bridge
ip link set "$br" up
for i in 0 1 2; do
    ns="$tag-$i"
    ip netns add "$ns"
    ip link add "v$tag$i" type veth peer name eth0 netns "$ns"
    ip link set "v$tag$i" master "$br" up
    ip -n "$ns" addr add "10.77.0.$((i + 1))/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
done
peers=10.77.0.1:7000,10.77.0.2:7000,10.77.0.3:7000
pids=()
for i in 2 0 1; do
    ip netns exec "$tag-$i" "$HOST" --id "$i" --peers "$peers" --secs 4 --speedup 5 --quiet --connect-timeout 20 --out "$out/run" &
    pids+=($!)
    sleep 0.5
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
if ((rc != 0)); then
    echo "netns-test: a host-tcp process failed (exit $rc)" >&2
    exit 1
fi
"$LAB" check "$out/run"
echo "netns-test: ok (3 namespaces, 10.77.0.1-3)"
