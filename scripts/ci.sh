#!/usr/bin/env bash
# Every check of the project, in order; .ci/run calls this, and it runs the same locally.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "no non-test function over 100 lines"
scripts/fn-length.py 100

step "cargo test --workspace"
cargo test --workspace

step "portability: lamport-core for three microcontroller targets"
scripts/check-no-std.sh

step "host-tcp across three network namespaces"
scripts/netns-test.sh

step "chaos: seeded runs of both hosts, one fault each; every log passes lab check"
scripts/chaos.sh --short

step "the simulator as firmware under QEMU, byte-identical to the host"
scripts/mcu-check.sh

step "lab view in headless Chromium: drawn events and messages, deep-link causality against lab hb, no console error"
scripts/view-test.sh

step "experiments: every committed run passes lab check; tables, plots and NOTEBOOK.md regenerate without a difference"
scripts/experiments.sh --analyze
git diff --exit-code --stat -- experiments NOTEBOOK.md README.md
if [[ -n "$(git status --porcelain -- experiments NOTEBOOK.md README.md)" ]]; then
    git status --porcelain -- experiments NOTEBOOK.md README.md
    echo "experiments: regenerated files differ from the committed ones" >&2
    exit 1
fi
