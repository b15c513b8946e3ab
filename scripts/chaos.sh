#!/usr/bin/env bash
# Chaos: many seeded runs of host-unix and host-tcp (one process per machine), each with one
# fault at a moment of the run the seed draws: kill -9 of a machine, SIGSTOP then SIGCONT
# 1.5 s later, SIGINT, a garbage client (an HTTP request), binary garbage (random bytes with
# 0x00 frame ends), a slow client (host-tcp), a full queue (its consumer paused with a small
# --queue-cap), a log that cannot be written (a file-size limit set on one machine's process).
# Every run must end within a bound, leave no process behind, exit with the statuses README
# documents for its fault (`accept` below), and its logs must pass `lab check` (a paused
# machine's ticks may be late: --max-late-ms 60000). Prints a line per run, a table per fault.
#
#   scripts/chaos.sh               48 runs (about 6 minutes)
#   scripts/chaos.sh --short       12 runs (CI), spread over the kinds
#   scripts/chaos.sh --kind K [N]  N runs (default 4) of one kind, for a look at it
set -euo pipefail
cd "$(dirname "$0")/.."

runs=48
only=
case "${1:-}" in
    --short) runs=12 ;;
    --kind) only=$2; runs=${3:-4} ;;
    "") ;;
    *) echo "usage: scripts/chaos.sh [--short | --kind KIND [RUNS]]" >&2; exit 2 ;;
esac

cargo build -q --release -p host-unix -p host-tcp -p lab
UNIX=$PWD/target/release/host-unix
TCP=$PWD/target/release/host-tcp
LAB=$PWD/target/release/lab
work=$(mktemp -d)
trap '{ pkill -KILL -f "$work"; wait; } 2>/dev/null || true; [[ -n ${CHAOS_KEEP:-} ]] || rm -rf "$work"' EXIT

SECS=8
BOUND=30
kinds=(kill9 stopcont sigint garbage binary slowclient queuefull diskfull)
[[ -n $only ]] && kinds=("$only")

# The exit statuses README documents for each fault, one place. Key: "kind host role"; role
# `victim` is the host-tcp process the fault hit, `other` its peers; host-unix has one
# process to judge, its supervisor (its machines are its children). Value: the accepted
# status and the pattern its last line on stderr must match (V: the victim; for a failure,
# its one line naming why), alternatives separated by `|`.
# README "Exit status": 0 clean, 1 a failure named in one line, 130 after SIGINT; "How a run
# ends, and faults" for each fault:
declare -A accept=(
    # "A machine disappears": the supervisor names the dead machine and exits 1; host-tcp's
    # survivors end it `peer X lost` (exit 1); the killed process itself: 128 + 9.
    ["kill9 unix other"]="1 run failed: machine V died \(killed by SIGKILL\)"
    ["kill9 tcp victim"]="137"
    ["kill9 tcp other"]="1 run failed: machine [0-9]+: peer V lost"
    ["kill9 tcp keeper"]="1 run failed: machine [0-9]+: peer V lost"
    # "A peer that stops reading": 1.5 s of SIGSTOP is shorter than the 2 s stall bound and
    # 64 KiB of send buffer, so no peer is stalled and the run goes on; but the stopped
    # machine ticks up to 1.5 s late, beyond the 1 s lateness bound the hosts check their
    # logs with ("lab check": default --max-late-ms 1000), so its verdict is the log check's
    # (exit 1, the first violation a late tick); its peers' logs are clean (0).
    ["stopcont unix other"]="1 log check found [0-9]+ violations; first: .*machine V: tick [0-9]+ is [0-9.]+ ms late"
    ["stopcont tcp victim"]="1 log check found [0-9]+ violations; first: .*machine V: tick [0-9]+ is [0-9.]+ ms late"
    ["stopcont tcp other"]="0"
    # Machine 0 keeps the whole run at the end and judges it: the victim's late ticks.
    ["stopcont tcp keeper"]="1 lab check found [0-9]+ violations in the whole run; first: .*machine V: tick [0-9]+ is [0-9.]+ ms late"
    # "Ctrl-C / SIGTERM / SIGHUP": every machine ends `interrupted`, 130. host-tcp's
    # processes are signalled one after the other, and a process whose signal thread has
    # not yet run when a peer's `Bye` arrives ends `peer X stopped early` (exit 1), as README
    # says of one process per machine ("A signal to every process").
    ["sigint unix other"]="130"
    ["sigint tcp victim"]="130|1 run failed: machine [0-9]+: peer [0-9]+ stopped early"
    ["sigint tcp other"]="130|1 run failed: machine [0-9]+: peer [0-9]+ stopped early"
    ["sigint tcp keeper"]="130|1 run failed: machine [0-9]+: peer [0-9]+ stopped early"
    # host-tcp: garbage, text, a connection that has not said a whole Hello within 5 s "is
    # closed and reported on stderr, and nothing from it reaches a queue": a clean run, 0.
    ["garbage tcp victim"]="0 machine V: refused connection from .*: text where a handshake was expected"
    ["garbage tcp other"]="0"
    ["garbage tcp keeper"]="0"
    ["binary tcp victim"]="0 machine V: refused connection from "
    ["binary tcp other"]="0"
    ["binary tcp keeper"]="0"
    ["slowclient tcp victim"]="0"
    ["slowclient tcp other"]="0"
    ["slowclient tcp keeper"]="0"
    # "A full queue": the supervisor names the machine whose queue was full and exits 1; in
    # host-tcp that machine says `queue full`, the others `peer X stopped early`, all exit 1.
    ["queuefull unix other"]="1 run failed: machine V: queue full \(cap 8\)"
    ["queuefull tcp victim"]="1 run failed: machine V: queue full \(cap 8\)"
    ["queuefull tcp other"]="1 run failed: machine [0-9]+: peer [0-9]+ stopped early"
    ["queuefull tcp keeper"]="1 run failed: machine [0-9]+: peer [0-9]+ stopped early"
    # "A log that cannot be written": the machine stops with one line naming itself, the
    # file and the OS error; its peers end it as lost; exit 1 (the supervisor names the
    # machine, which has no end note: `failed`).
    ["diskfull unix other"]="1 run failed: machine V: failed"
    ["diskfull tcp victim"]="1 cannot write the log .*machine-V.log: File too large \(os error 27\)"
    ["diskfull tcp other"]="1 run failed: machine [0-9]+: peer V lost"
    ["diskfull tcp keeper"]="1 run failed: machine [0-9]+: peer V lost"
)

declare -A n_runs n_ok n_sent n_logged n_dead n_bad statuses
for k in "${kinds[@]}"; do
    n_runs[$k]=0; n_ok[$k]=0; n_sent[$k]=0; n_logged[$k]=0; n_dead[$k]=0; n_bad[$k]=0; statuses[$k]=""
done

# Messages in a run folder: sent (one per receiver of each send row), logged at receivers
# (recv and unprocessed rows), and, of the sent ones, those not logged between a pair of
# machines one of which has no end row (it died: in flight to it or queued there, or logged
# as sent by it just before it died). The last field is 1 when every other pair matches.
count() {
    awk -F, 'FNR == 2 { split($0, h, /[ =]/); for (i in h) if (h[i] == "machine") me = h[i + 1] }
             FNR > 3 && $3 == "send" { k = split($6, r, "+"); n += k; for (j = 1; j <= k; j++) s[me "," r[j]]++ }
             FNR > 3 && ($3 == "recv" || $3 == "unprocessed") { m++; l[$6 "," me]++ }
             FNR > 3 && $3 == "end" { ended[me] = 1 }
             FNR == 2 { seen[me] = 1 }
             END {
                 exact = 1
                 for (a in seen) for (b in seen) if (a != b) {
                     d = s[a "," b] - l[a "," b]
                     if (ended[a] && ended[b]) { if (d != 0) exact = 0 } else dead += d
                 }
                 printf "%d %d %d %d\n", n, m, dead, exact
             }' "$1"/machine-*.log
}

# N distinct loopback ports free to listen on, below the kernel's ephemeral range (32768 and
# up): a port the OS picked and let go could be taken again, before host-tcp binds it, as the
# local port of an outgoing connection (a machine then cannot listen, and its peers wait).
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(20000, 32000)))
        held.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}

# The pid of machine $2 of the run in folder $3 under host-unix supervisor $1: the child
# that holds its log open.
machine_pid() {
    local k
    for k in $(cat "/proc/$1/task/$1/children" 2>/dev/null || true); do
        if ls -l "/proc/$k/fd" 2>/dev/null | grep -q "$3/machine-$2.log"; then echo "$k"; return; fi
    done
}

# The run's start instant (s since the epoch, from a log header), once every machine has
# its log; empty if that does not happen within 10 s.
run_start() {
    local i
    for i in $(seq 1 200); do
        if [[ $(grep -l start_unix_ns "$1"/machine-*.log 2>/dev/null | wc -l) == 3 ]]; then
            sed -n 2p "$1/machine-0.log" | tr ' ' '\n' | awk -F= '$1 == "start_unix_ns" { printf "%.9f", $2 / 1e9 }'
            return
        fi
        sleep 0.05
    done
}

# Waits for pid $1 and stores its exit status in status[$1]; bash's own note on a process
# killed by a signal (`line N: PID Killed ...`: the script killed it on purpose, and its
# status says so) is silenced.
declare -A status
reap() {
    local st=0
    { wait "$1" || st=$?; } 2>/dev/null
    status[$1]=$st
}

for ((i = 0; i < runs; i++)); do
    kind=${kinds[$((i % ${#kinds[@]}))]}
    host=$([[ $((i / ${#kinds[@]} % 2)) == 0 ]] && echo unix || echo tcp)
    [[ $kind == garbage || $kind == binary || $kind == slowclient ]] && host=tcp
    seed=$((1000 + i))
    status=()
    why=""
    out=$work/run-$i
    RANDOM=$seed
    victim=$((RANDOM % 3))
    # The moment of the fault, seconds after the run's start: anywhere in the run, but early
    # enough that the fault is what ends it (a stop resumes 2.3 s before the end; a paused
    # consumer's 3 s pause lies inside the run).
    case $kind in
        stopcont) last=5.7 ;;
        queuefull) last=4.5 ;;
        *) last=7.5 ;;
    esac
    # (Drawn here: a command substitution's subshell reseeds RANDOM.)
    draw=$RANDOM
    extra=$((RANDOM % 48))
    at=$(awk -v r=$draw -v l=$last 'BEGIN { printf "%.2f", 0.2 + (r % 1000) / 999 * (l - 0.2) }')
    args=(--secs $SECS --speedup 5 --seed "$seed" --quiet)
    # A full queue: the victim pauses for 3 s from the moment drawn and its queue (8) fills
    # while its peers go on sending (rates pinned: 6 × 5 ticks a second each).
    [[ $kind == queuefull ]] && args+=(--rates 6,6,6 --queue-cap 8 --pause "$victim@$at+3")
    start=$(date +%s.%N)
    pids=()
    roles=()
    if [[ $host == unix ]]; then
        "$UNIX" "${args[@]}" --out "$out" 2>"$work/err-$i-0" &
        pids=($!)
        roles=(other)
    else
        read -ra ports <<<"$(free_ports 3)"
        peers="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
        for id in 0 1 2; do
            # A handshake that cannot complete ends with why within the bound.
            "$TCP" "${args[@]}" --id $id --peers "$peers" --connect-timeout 10 --out "$out" 2>"$work/err-$i-$id" &
            pids+=($!)
            # Machine 0 keeps the whole run at the end and says its verdict last.
            roles+=($([[ $id == "$victim" ]] && echo victim || { [[ $id == 0 ]] && echo keeper || echo other; }))
        done
    fi
    t0=$(run_start "$out")
    [[ -n $t0 ]] || why+="no run started within 10 s of the launch (the fault came then); "
    if [[ -n $t0 ]]; then
        wait_s=$(awk -v t="$t0" -v a="$at" -v now="$(date +%s.%N)" 'BEGIN { w = t + a - now; printf "%.3f", (w > 0 ? w : 0) }')
        sleep "$wait_s"
    fi
    helper=
    case $kind in
        kill9 | stopcont | diskfull)
            if [[ $host == unix ]]; then
                target=$(machine_pid "${pids[0]}" "$victim" "$out")
            else
                target=${pids[$victim]}
            fi
            if [[ -n "$target" ]]; then
                case $kind in
                    kill9)
                        kill -KILL "$target" 2>/dev/null || true
                        [[ $host == tcp ]] && reap "$target"
                        ;;
                    stopcont)
                        kill -STOP "$target" 2>/dev/null || true
                        sleep 1.5
                        kill -CONT "$target" 2>/dev/null || true
                        ;;
                    diskfull)
                        # The log may grow by 0 to 47 bytes more: the next line or the one
                        # after does not fit (EFBIG), often cut inside itself.
                        size=$(stat -c %s "$out/machine-$victim.log" 2>/dev/null || echo 0)
                        prlimit --pid "$target" --fsize=$((size + extra)) || true
                        ;;
                esac
            fi
            ;;
        sigint)
            kill -INT "${pids[@]}" 2>/dev/null || true
            ;;
        # (In a subshell: a write to a connection the host has closed already is a SIGPIPE,
        # which would end this script.)
        garbage)
            (printf 'GET / HTTP/1.1\r\n\r\n\x07\xff\x13\x00' >"/dev/tcp/127.0.0.1/${ports[$victim]}") 2>/dev/null || true
            ;;
        binary)
            # Random bytes, 0x00 (a frame's end) among them: frames that do not decode.
            (head -c 4096 /dev/urandom | tr '\001-\017' '\000' >"/dev/tcp/127.0.0.1/${ports[$victim]}") 2>/dev/null || true
            ;;
        slowclient)
            (exec 3<>"/dev/tcp/127.0.0.1/${ports[$victim]}" && for b in 07 01 02 03 04 05 06 07; do
                printf "\\x$b" >&3; sleep 1; done) 2>/dev/null &
            helper=$!
            ;;
        queuefull) ;;
    esac
    # Every process must have ended BOUND seconds after the run was launched.
    ended=1
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null && awk -v a="$start" -v b="$(date +%s.%N)" -v l=$BOUND 'BEGIN { exit !(b - a < l) }'; do
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            # Still there: say what each of its threads was doing (name:state:kernel wait).
            ended=0
            why+="pid $p still running:"
            for t in /proc/"$p"/task/*; do
                why+=" $(cat "$t/comm" 2>/dev/null):$(awk '{ print $3 }' "$t/stat" 2>/dev/null):$(cat "$t/wchan" 2>/dev/null)"
            done
            why+="; "
            kill -KILL "$p" 2>/dev/null || true
        fi
        [[ -n ${status[$p]:-} ]] || reap "$p"
    done
    took=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    if [[ -n $helper ]]; then kill "$helper" 2>/dev/null || true; reap "$helper"; fi
    left=$(pgrep -f "$out" | wc -l || true)
    # Each process's status against the accepted ones (and its one line when it failed).
    documented=1
    seen=""
    for j in "${!pids[@]}"; do
        p=${pids[$j]}
        st=${status[$p]}
        seen+="$st "
        line=$(grep -v 'seed .* (repeat with' "$work/err-$i-$j" | tail -1 || true)
        # Host-tcp's machine 0 ends with the whole run's verdict; its own line is the one
        # before (either may be the one documented).
        own=$(grep -v 'seed .* (repeat with\|whole run' "$work/err-$i-$j" | tail -1 || true)
        if [[ $host == tcp && $j == 0 && $st != 137 ]] && ! grep -q 'whole run' <<<"$line"; then
            documented=0
            why+="machine 0 said no whole-run verdict; "
        fi
        fits=0
        IFS='|' read -ra alternatives <<<"${accept["$kind $host ${roles[$j]}"]:-}"
        for spec in "${alternatives[@]}"; do
            want=${spec%% *}
            pattern=""
            [[ $spec == *" "* ]] && pattern=${spec#* }
            pattern=${pattern//V/$victim}
            if [[ $st == "$want" ]] && { [[ -z $pattern ]] || grep -Eq "$pattern" <<<"$line" || grep -Eq "$pattern" <<<"$own"; }; then fits=1; fi
        done
        if [[ $fits == 0 ]]; then
            documented=0
            why+="$st (${line:-no line}); "
        fi
    done
    statuses[$kind]+="$seen"
    verdict=$("$LAB" check --max-late-ms 60000 "$out" 2>&1 | tail -1) || true
    sent=0 logged=0 dead=0 exact=0
    read -r sent logged dead exact < <(count "$out" 2>/dev/null) || true
    ok=0
    if [[ $ended == 1 && $left == 0 && $documented == 1 && $verdict == ok:* && $exact == 1 ]]; then ok=1; fi
    n_runs[$kind]=$((n_runs[$kind] + 1))
    n_ok[$kind]=$((n_ok[$kind] + ok))
    n_sent[$kind]=$((n_sent[$kind] + sent))
    n_logged[$kind]=$((n_logged[$kind] + logged))
    n_dead[$kind]=$((n_dead[$kind] + dead))
    [[ $ok == 1 ]] || n_bad[$kind]=$((n_bad[$kind] + 1))
    printf 'chaos: run %2d %-4s %-10s seed %d, machine %d at %5.2fs: ended in %4.1fs, exit %-11s %s\n' \
        "$i" "$host" "$kind" "$seed" "$victim" "$at" "$took" "${seen% }," \
        "$([[ $ok == 1 ]] && echo "ok" || echo "FAILED: ended=$ended left=$left documented=$documented exact=$exact $why$verdict")"
done

# `1×6 137×3`: each exit status and how many processes returned it.
tally() { tr ' ' '\n' <<<"$1" | grep . | sort -n | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? " " : ""), $2, $1 }'; }

echo
echo "| fault | runs | exit statuses | as documented, ended in time, nothing left, lab check ok | messages sent | logged at a receiver | sent, not logged: to or from a machine without \`end\` | failures |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
bad=0
for k in "${kinds[@]}"; do
    echo "| $k | ${n_runs[$k]} | $(tally "${statuses[$k]}") | ${n_ok[$k]} | ${n_sent[$k]} | ${n_logged[$k]} | ${n_dead[$k]} | ${n_bad[$k]} |"
    bad=$((bad + n_bad[$k]))
done
echo
echo "(Exit statuses: one per process, host-unix's supervisor or each host-tcp machine. Sent and logged differ only between"
echo "a pair of machines one of which has no \`end\` row, a machine killed or that could not write its log: messages in flight"
echo "to it or queued there when it died, or logged as sent by it just before; lab check proves every other one logged"
echo "exactly once, and so does this script's own count of every pair of machines that both ended.)"
exit $((bad > 0))
