#!/usr/bin/env bash
# lab view in a real browser: installs Debian's chromium when it is missing, then runs the
# browser tests of scripts/lab/tests/lab/view.rs (pages opened headless: drawn events and
# messages against the logs, deep-link causal counts against lab hb, no console error).
#   scripts/view-test.sh               the tests
#   scripts/view-test.sh --screenshot  also remake docs/view.png from experiments/baseline/seed101
#                                      and docs/live.png from a live run of host-unix --view
set -euo pipefail
cd "$(dirname "$0")/.."
chrome=$(command -v chromium || true)
if [[ -z $chrome ]]; then
    echo "view-test: installing chromium" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    chrome=$(command -v chromium)
fi
export LAMPORT_CHROMIUM=$chrome
cargo test -q -p lab --test lab -- --include-ignored view:: live::
# The live page during real runs of both hosts (tests/tests/hosts/live.rs).
cargo test -q -p lamport-tests --test hosts -- live::

if [[ ${1:-} == --screenshot ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cargo run -q --release -p lab -- view experiments/baseline/seed101 --out "$tmp/view.html" >/dev/null
    "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1280,1000 \
        --virtual-time-budget=3000 --screenshot="$PWD/docs/view.png" "file://$tmp/view.html#event=1.40" 2>/dev/null
    echo "view-test: wrote docs/view.png" >&2
    LAMPORT_LIVE_SCREENSHOT="$PWD/docs/live.png" \
        cargo test -q -p lamport-tests --test hosts -- --ignored live::live_screenshot
    echo "view-test: wrote docs/live.png" >&2
fi
