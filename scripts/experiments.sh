#!/usr/bin/env bash
# The notebook's experiments: runs host-unix at real speed (no --speedup) and keeps every
# run folder under experiments/, then checks every folder with `lab check` and regenerates
# every table and plot NOTEBOOK.md shows.
#
#   scripts/experiments.sh                 run every group (about 17 minutes), then analyse
#   scripts/experiments.sh --only NAME     run one group (baseline, rates34, roll5, both, slow), then analyse
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
