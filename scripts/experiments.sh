#!/usr/bin/env bash
# The notebook's experiments: runs host-unix at real speed (no --speedup) and keeps every
# run folder under experiments/, then checks every folder with `lab check` and regenerates
# every table and plot NOTEBOOK.md shows.
#
#   scripts/experiments.sh                 run every group (about 20 minutes), then analyse
#   scripts/experiments.sh --only NAME     run one group (baseline, rates34, roll5, both, slow, delay, pause,
#                                          partition), then analyse
#   scripts/experiments.sh --analyze       no runs: check and regenerate from the committed folders
set -euo pipefail
cd "$(dirname "$0")/.."

only=""
run=1
while (($#)); do
    case "$1" in
        --only) only="$2"; shift 2 ;;
        --analyze) run=0; shift ;;
        *) echo "experiments.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

# group name | seconds | flags | seeds
groups=(
    "baseline|60||101 102 103 104 105"
    "rates34|60|--rate-min 3 --rate-max 4|201 202 203"
    "roll5|60|--roll-max 5|301 302 303"
    "both|60|--rate-min 3 --rate-max 4 --roll-max 5|401 402 403"
    "slow|120|--rates 1,6,6|501"
    "delay|60|--rates 3,4,6 --delay-ms 500:250|601"
    "pause|60|--rates 3,4,6 --pause 1@20+10|602"
    "partition|60|--rates 3,4,6 --partition 0/1,2@20+10|603"
)
if [[ -n "$only" ]] && ! printf '%s\n' "${groups[@]}" | grep -q "^$only|"; then
    echo "experiments.sh: no group named $only" >&2
    exit 2
fi

cargo build -q --release -p host-unix -p lab
HOST=target/release/host-unix
LAB=target/release/lab

if ((run)); then
    for g in "${groups[@]}"; do
        IFS='|' read -r name secs flags seeds <<<"$g"
        [[ -n "$only" && "$only" != "$name" ]] && continue
        echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; Linux $(uname -r)" >experiments/machine.txt
        for seed in $seeds; do
            out="experiments/$name/seed$seed"
            rm -rf "$out"
            echo "experiments: $name seed $seed ($secs s)"
            # shellcheck disable=SC2086
            "$HOST" --secs "$secs" --seed "$seed" $flags --out "$out" --quiet
        done
    done
fi

for g in "${groups[@]}"; do
    IFS='|' read -r name _ _ seeds <<<"$g"
    for seed in $seeds; do
        "$LAB" check "experiments/$name/seed$seed" >/dev/null || { echo "experiments: lab check failed for $name/seed$seed" >&2; "$LAB" check "experiments/$name/seed$seed" | head -20; exit 1; }
    done
done
echo "experiments: every run folder passes lab check"

# Per run: the report (Markdown and JSON) and happens-before; plots of each group's first run.
for g in "${groups[@]}"; do
    IFS='|' read -r name secs flags seeds <<<"$g"
    first=1
    for seed in $seeds; do
        d="experiments/$name/seed$seed"
        "$LAB" report "$d" >"$d/report.md"
        "$LAB" report --json "$d" >"$d/report.json"
        "$LAB" hb --json "$d" >"$d/hb.json"
        if ((first)); then
            "$LAB" report "$d" --plots "$d/plots" >/dev/null 2>&1
            "$LAB" view "$d" >/dev/null
            first=0
        fi
    done
    # shellcheck disable=SC2046
    "$LAB" table $(for s in $seeds; do echo "experiments/$name/seed$s"; done) >"experiments/$name/table.md"
done

# The same seeds and parameters in the simulator, to compare the real host with the model.
for g in "${groups[@]}"; do
    IFS='|' read -r name secs flags seeds <<<"$g"
    for seed in $seeds; do
        d="experiments/sim/$name/seed$seed"
        rm -rf "$d"
        # shellcheck disable=SC2086
        "$LAB" sim --secs "$secs" --seed "$seed" $flags --out "$d" --quiet
        "$LAB" check "$d" >/dev/null
        "$LAB" report --json "$d" >"$d/report.json"
        # Which machine logs are their real twins row for row, all but unix_ns (the twin
        # test, tests/tests/model/twin.rs, names the race behind each that is not).
        python3 - "experiments/$name/seed$seed" "$d" >"$d/twin.json" <<'PY'
import glob, json, os, sys
real, sim = sys.argv[1], sys.argv[2]
def rows(p):
    return [l.split(",", 1)[1] for l in open(p) if not l.startswith(("#", "unix_ns,"))]
n = len(glob.glob(os.path.join(real, "machine-*.log")))
same = [rows(f"{real}/machine-{i}.log") == rows(f"{sim}/machine-{i}.log") for i in range(n)]
print(json.dumps({"identical": same}))
PY
        # The simulated logs are reproduced byte for byte by this command: keep only the numbers.
        rm -f "$d"/machine-*.log
    done
done

# Sweeps across 1,000 seeds in the simulator; every seed's own numbers go to
# sweep-NAME.seeds.jsonl, for the notebook's confidence intervals and paired comparisons.
sweep() {
    local name=$1
    shift
    "$LAB" sweep --seeds 1000 "$@" >"experiments/sweep-$name.md"
    "$LAB" sweep --seeds 1000 "$@" --json --per-seed "experiments/sweep-$name.seeds.jsonl" >"experiments/sweep-$name.json"
}
sweep drawn --roll-max 10 --roll-max 5
sweep drawn-spread --roll-max 10 --phase spread
sweep rates34 --rate-min 3 --rate-max 4 --roll-max 10 --roll-max 5
sweep sets --rates 1,6,6 --rates 3,4,4 --roll-max 10 --roll-max 5
sweep slow --secs 120 --rates 1,2,2 --rates 1,3,3 --rates 1,4,4 --rates 1,5,5 --rates 1,6,6
# The critical rates 1, 3, 3 (arrivals equal ticks): the longest queue against the run's length.
for secs in 30 60 120 240 480; do
    sweep "critical-$secs" --secs "$secs" --rates 1,3,3
done
# Faults: jumps against a message delay; a paused machine; a partition, each way round.
sweep delay --rates 3,4,6 --delay-ms 0 --delay-ms 100 --delay-ms 250 --delay-ms 500 \
    --delay-ms 1000 --delay-ms 2000 --delay-ms 500:500
sweep pause --rates 3,4,6 --pause 1@20+10
sweep partition --rates 3,4,6 --partition 0/1,2@20+10
sweep partition-fast --rates 3,4,6 --partition 0,1/2@20+10

# A ShiViz export of one run.
"$LAB" shiviz experiments/baseline/seed101 >experiments/baseline/seed101/run.shiviz

# README's sample outputs, generated like everything else: a simulated run (seed 42) under
# runs/sim42 of a scratch folder, and the first set of the sweep above.
samples=experiments/samples
mkdir -p "$samples"
scratch=$(mktemp -d)
lab_abs="$PWD/$LAB"
(
    cd "$scratch"
    "$lab_abs" sim --seed 42 --out runs/sim42 2>/dev/null
) >"$samples/sim.txt"
head -7 "$scratch/runs/sim42/machine-0.log" >"$samples/log.txt"
(cd "$scratch" && "$lab_abs" check runs/sim42) >"$samples/check.txt"
(cd "$scratch" && "$lab_abs" report runs/sim42) | sed -n '1,/^$/p;/^| machine | rate | ticks/,/^$/p' | sed '/^$/{N;/^\n$/D}' >"$samples/report.md"
(cd "$scratch" && "$lab_abs" hb runs/sim42) >"$samples/hb.md"
(cd "$scratch" && "$lab_abs" shiviz runs/sim42) | head -6 >"$samples/shiviz.txt"
awk 'NR > 1 && /^Rates /{exit} {print}' experiments/sweep-sets.md >"$samples/sweep.md"
rm -rf "$scratch"

python3 scripts/render-notebook.py --no-reflow scripts/README.template.md >README.md
python3 scripts/render-notebook.py scripts/NOTEBOOK.template.md >NOTEBOOK.md
echo "experiments: tables, plots, sweeps, README.md samples and NOTEBOOK.md regenerated"
