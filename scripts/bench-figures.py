#!/usr/bin/env python3
"""Every figure scripts/bench.sh reports is read here, and every sentence BENCHMARKS.md says
about them is computed here from them: bench.sh runs the programs, this parses their output.

  bench-figures.py run <REPORT_JSON     a run's figures from `lab report --json`, one line:
                                        p50 p99 max lateness (ms, worst machine), ticks done,
                                        ticks due, messages, p50 p99 (ms, all ticks together)
  bench-figures.py floor <OUTPUT        `host-unix --timer-floor`'s p50 p99 max (ms) and CPU (ms/s)
  bench-figures.py cpu <OUTPUT          a host's CPU per machine per second (ms), from its `cpu:` line
  bench-figures.py raw <OUTPUT          `host-unix --raw-limit`'s events/s and messages/s
  bench-figures.py drawn <DOM           the page's data-draw-ms, from chromium's --dump-dom
  bench-figures.py criterion DIR        the table rows of criterion's results in DIR, then what they show
  bench-figures.py profile <PERF_REPORT the top symbols of `perf report --stdio`, then their share
  bench-figures.py readme ROWS TEMPLATE ROWS (table rows) into TEMPLATE between its bench markers
"""
import json
import os
import re
import sys

# The simulator's target, events a second on one core.
SIM_TARGET = 20e6
# Criterion function ids of core/benches/core.rs that the sentences compare.
FORMATTED = "3 machines at rate 6, one virtual hour, log lines formatted into memory"
COUNTED = "3 machines at rate 6, one virtual hour, records counted, not formatted"
ITOA = "Display for Record (itoa digits)"
CORE_FMT = "the same line through core::fmt (before)"
PROFILE_ROWS = 12


def run():
    d = json.load(sys.stdin)
    rows = d["rows"]
    worst = lambda key: max(r["late_ms"][key] for r in rows)
    print("%.3f %.3f %.3f %d %d %d %.3f %.3f" % (
        worst("p50"), worst("p99"), worst("max"),
        sum(r["ticks"] for r in rows), sum(r["ticks_due"] for r in rows), d["messages"],
        d["late_ms"]["p50"], d["late_ms"]["p99"]))


def match(pattern, text, what):
    m = re.search(pattern, text)
    if not m:
        sys.exit(f"bench-figures: no {what} in: {text.strip()[:200]}")
    return m.groups()


def floor():
    text = sys.stdin.read()
    print(*match(r"p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms.*?cpu ([0-9.]+) ms", text, "timer floor"))


def cpu():
    print(*match(r"(?m)^cpu: ([0-9.]+) ms per machine per second", sys.stdin.read(), "cpu line"))


def raw():
    print(*match(r": ([0-9]+) events/s, ([0-9]+) messages", sys.stdin.read(), "raw limit"))


def live():
    print(*match(r"live-bench: p90 ([0-9.]+) ms, drawn ([0-9]+) of ([0-9]+)", sys.stdin.read(), "live-bench line"))


def drawn():
    print(*match(r'data-draw-ms="([0-9]+)"', sys.stdin.read(), "data-draw-ms"))


def criterion(root):
    """Rows {function id: (title, median ns, elements per iteration)}, printed as the table."""
    found = {}
    for group in sorted(os.listdir(root)):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir) or group == "report":
            continue
        for name in sorted(os.listdir(gdir)):
            est = os.path.join(gdir, name, "new", "estimates.json")
            bm = os.path.join(gdir, name, "new", "benchmark.json")
            if not os.path.exists(est):
                continue
            ns = json.load(open(est))["median"]["point_estimate"]
            meta = json.load(open(bm)) if os.path.exists(bm) else {}
            elems = (meta.get("throughput") or {}).get("Elements", 1)
            title = meta.get("title", f"{group}/{name}")
            found[meta.get("function_id", name)] = (ns, elems)
            unit = f"{ns / 1e6:.2f} ms" if ns > 1e6 else f"{ns:.1f} ns"
            print(f"| {title} | {unit} | {elems / ns * 1e3:.2f} M events/s |")
    print()
    for sentence in criterion_sentences(found):
        print(sentence)


def criterion_sentences(found):
    """What the rows show: the simulator against its target, the share formatting takes,
    and the two ways of formatting a line side by side (each only if its rows ran)."""
    rate = lambda ns, elems: elems / ns * 1e9
    if FORMATTED in found:
        r = rate(*found[FORMATTED])
        verdict = "meets" if r >= SIM_TARGET else "misses"
        yield (f"The simulator with its log lines formatted ran {r / 1e6:.2f} M events a second: it "
               f"{verdict} the target of {SIM_TARGET / 1e6:.0f} M on one core.")
        if COUNTED in found:
            share = 1 - found[COUNTED][0] / found[FORMATTED][0]
            yield (f"Counting the records instead of formatting them, it ran "
                   f"{rate(*found[COUNTED]) / 1e6:.2f} M: formatting the lines took {share:.0%} of its time.")
    if ITOA in found and CORE_FMT in found:
        a, b = found[ITOA][0], found[CORE_FMT][0]
        yield (f"One log line takes {a:.1f} ns with `Display for Record` and {b:.1f} ns through "
               f"`core::fmt` (the row marked before): {b / a:.2f} times as long.")


def profile():
    rows = [re.sub(r" +", " ", l.rstrip("\n")) for l in sys.stdin if re.match(r"^ +[0-9]", l)]
    rows = rows[:PROFILE_ROWS]
    print("```")
    print(*rows, sep="\n")
    print("```")
    print()
    shares = [(float(r.split()[0].rstrip("%")), r.split("] ", 1)[-1]) for r in rows]
    if shares:
        top = max(shares)
        print(f"These {len(shares)} rows hold {sum(s for s, _ in shares):.1f}% of the samples; the "
              f"largest is `{top[1]}` with {top[0]:.2f}%.")


def readme(rows_path, template):
    rows = open(rows_path).read()
    block = ("<!-- bench:begin (written by scripts/bench.sh) -->\n"
             "| measured | this machine's last `scripts/bench.sh` | target |\n|---|---|---|\n" + rows +
             "<!-- bench:end -->")
    text = open(template).read()
    new, n = re.subn(r"<!-- bench:begin.*?<!-- bench:end -->", lambda m: block, text, flags=re.S)
    if n != 1:
        sys.exit(f"bench-figures: {template} has no bench block")
    open(template, "w").write(new)


if __name__ == "__main__":
    commands = {"run": run, "floor": floor, "cpu": cpu, "raw": raw, "drawn": drawn, "live": live,
                "criterion": criterion, "profile": profile, "readme": readme}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
