#!/usr/bin/env bash
# The model on microcontrollers: builds the simulator firmware (tests/mcu) with Debian's
# rustc-web for three targets, runs each image under QEMU, and compares what it prints (an
# FNV-1a digest and line count of every machine's log, machine 0's first and last rows) with
# `lab sim` on the host for the same parameters. Any difference, a failed build or a failed
# run fails the script. Prints each image's size and the simulator's RAM use.
set -euo pipefail
cd "$(dirname "$0")/.."

install() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    echo "mcu-check: installing ${missing[*]}"
    apt-get update -qq
    # One at a time: asking apt for the QEMU packages together can make it give up.
    for p in "${missing[@]}"; do DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null; done
}
install rustc-web cargo-web rust-web-src lld-22 qemu-system-arm qemu-system-misc

cargo build -q --release -p lab
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Must match the constants in tests/mcu/src/main.rs.
target/release/lab sim --seed 42 --rates 2,4,6 --queue-cap 32 --secs 60 --out "$tmp/run" --quiet
target/release/lab digest "$tmp/run" >"$tmp/host.txt"
echo "mcu-check: host (lab sim --seed 42 --rates 2,4,6 --queue-cap 32 --secs 60):"
sed 's/^/    /' "$tmp/host.txt"

boards=(
    "thumbv7em-none-eabihf|Cortex-M4F, mps2-an386|qemu-system-arm -machine mps2-an386 -cpu cortex-m4"
    "thumbv6m-none-eabi|Cortex-M0, micro:bit|qemu-system-arm -machine microbit"
    "riscv32imc-unknown-none-elf|RV32IMC, virt|qemu-system-riscv32 -machine virt -bios none"
)
fail=0
for b in "${boards[@]}"; do
    IFS='|' read -r target name qemu <<<"$b"
    (cd tests/mcu && PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -q --release -Zbuild-std=core --target "$target") \
        || { echo "mcu-check: FAILED to build for $target" >&2; exit 1; }
    elf=tests/mcu/target/$target/release/lamport-mcu
    rc=0
    # shellcheck disable=SC2086
    timeout 300 $qemu -nographic -monitor none -semihosting-config enable=on,target=native -kernel "$elf" >"$tmp/$target.txt" 2>&1 || rc=$?
    grep -E '^(machine-|first:|last:)' "$tmp/$target.txt" >"$tmp/$target.digest" || true
    size=$(python3 scripts/elf-size.py "$elf")
    state=$(grep -o 'simulator state: [0-9]* bytes' "$tmp/$target.txt" || echo "simulator state: ?")
    stack=$(grep -o 'stack used: about [0-9]* bytes' "$tmp/$target.txt" || echo "stack used: ?")
    if ((rc != 0)); then
        echo "mcu-check: $target ($name): FAILED, exit $rc" >&2
        sed 's/^/    /' "$tmp/$target.txt" >&2
        fail=1
    elif ! diff -u "$tmp/host.txt" "$tmp/$target.digest" >"$tmp/$target.diff"; then
        echo "mcu-check: $target ($name): DIFFERENT from the host" >&2
        cat "$tmp/$target.diff" >&2
        fail=1
    else
        echo "mcu-check: $target ($name): identical to the host; $size; $state; $stack"
    fi
done
exit $fail
