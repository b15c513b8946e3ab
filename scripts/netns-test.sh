#!/usr/bin/env bash
# host-tcp across real network stacks, as across computers: three network namespaces joined
# by a bridge of veth pairs (10.77.0.1-3/24, addresses of this test's own), one host-tcp
# process in each, each under a system clock skewed by faketime (-3 s, 0, +2 s) and each
# writing its own folder. It checks that
#   - the three start within 5 ms of each other in real time (each process records its
#     start on CLOCK_MONOTONIC in run-<id>.json; the namespaces share one kernel, so that
#     clock is one real timeline, and faketime leaves it alone);
#   - machine 0 ends with the whole run in its folder, and `lab check` is ok there;
#   - a machine with another --queue-cap, --secs (6 and 1161) or --speedup (5 and 68.711)
#     is refused at the handshake, every machine naming the flag and both values.
# The namespaces are removed even on failure. Needs root (CI runs as root); installs
# iproute2 and faketime when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null || need+=(iproute2)
command -v faketime >/dev/null || need+=(faketime)
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
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
skews=(-3s +0s +2s)

# Runs machine $1 of the run in its namespace under its skewed clock, writing $out/$2;
# the rest are its flags. faketime skews the system clock only
# (FAKETIME_DONT_FAKE_MONOTONIC): a host waits on timerfds armed on CLOCK_MONOTONIC, which
# the kernel keeps whatever libfaketime tells the process, so a faked monotonic clock
# would make a process under a negative skew tick seconds late.
machine() {
    local i=$1 run=$2
    shift 2
    ip netns exec "$tag-$i" env FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "${skews[$i]}" \
        "$HOST" --id "$i" --peers "$peers" --quiet --out "$out/$run-m$i" "$@"
}

echo "netns-test: the clocks of the three namespaces, as the processes see them:"
for i in 0 1 2; do
    printf '  machine %d: %s\n' "$i" "$(ip netns exec "$tag-$i" env FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f "${skews[$i]}" date -u +%T.%3N)"
done

pids=()
for i in 2 0 1; do
    machine "$i" run --secs 4 --speedup 5 --connect-timeout 20 2>"$out/err-$i" &
    pids+=($!)
    sleep 0.5
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
cat "$out"/err-* >&2
if ((rc != 0)); then
    echo "netns-test: a host-tcp process failed (exit $rc)" >&2
    exit 1
fi
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
starts = [json.load(open(f"{out}/run-m{i}/run-{i}.json"))["clock"]["start_mono_ns"] for i in range(3)]
spread = (max(starts) - min(starts)) / 1e6
print(f"netns-test: the three machines started within {spread:.3f} ms of each other in real time")
if spread > 5:
    sys.exit("netns-test: more than 5 ms apart")
PY
for i in 0 1 2; do
    [[ -f "$out/run-m0/machine-$i.log" ]] || {
        echo "netns-test: machine 0's folder lacks machine-$i.log" >&2
        exit 1
    }
done
"$LAB" check "$out/run-m0"
grep -h '^# clock=' "$out"/run-m0/machine-*.log | sed 's/^/netns-test: /'

# One machine with another flag: every machine is refused at the handshake, naming it.
mismatch() {
    local name=$1 flag=$2 ours=$3 theirs=$4
    local pids=() i rc
    for i in 0 1 2; do
        local v=$ours
        ((i == 2)) && v=$theirs
        local secs=(--secs 6)
        [[ $flag == --secs ]] && secs=()
        machine "$i" "$name" "${secs[@]}" --connect-timeout 5 "$flag" "$v" 2>"$out/$name-err-$i" &
        pids+=($!)
    done
    for i in 0 1 2; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        if ((rc == 0)); then
            echo "netns-test: machine $i ran with $flag $ours against $theirs" >&2
            exit 1
        fi
        if ! grep -q -- "$flag differs: .*$ours.*$theirs\|$flag differs: .*$theirs.*$ours" "$out/$name-err-$i"; then
            echo "netns-test: machine $i did not name $flag with $ours and $theirs:" >&2
            tail -n 5 "$out/$name-err-"* >&2
            exit 1
        fi
    done
    echo "netns-test: $flag $ours against $theirs refused: $(grep -h -- "$flag differs" "$out/$name-err-0" | head -1)"
}
mismatch speedup --speedup 5 68.711
mismatch qcap --queue-cap 64 16
mismatch secs --secs 6 1161
echo "netns-test: ok (3 namespaces, 10.77.0.1-3, clocks skewed -3 s, 0, +2 s)"
