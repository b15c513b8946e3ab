#!/usr/bin/env bash
# Portability check: builds lamport-core (simulator included) for three microcontroller
# targets with Debian's rustc-web + rust-web-src and -Zbuild-std=core. Installs those
# packages when missing; fails loudly on any failed build; never skips a target.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in rustc-web cargo-web rust-web-src; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "check-no-std: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

targets=(thumbv7em-none-eabihf thumbv6m-none-eabi riscv32imc-unknown-none-elf)
for t in "${targets[@]}"; do
    echo "check-no-std: building lamport-core for $t"
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=target/no-std \
        /usr/bin/cargo build -q -p lamport-core --release -Zbuild-std=core --target "$t" \
        || { echo "check-no-std: FAILED for $t" >&2; exit 1; }
done

# Sizes, measured by the host toolchain on the same types (layout of the core's own
# structs; 32-bit targets may be smaller).
cargo run -q -p lab -- sizes
echo "check-no-std: ok (${targets[*]})"
