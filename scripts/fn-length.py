#!/usr/bin/env python3
"""Fails when a non-test function of the workspace's sources is longer than a limit.

    scripts/fn-length.py [LIMIT]     (default 100 lines, signature to closing brace)

Test modules (`#[cfg(test)]` to the end of the file) and tests/tests are not counted."""
import glob
import re
import sys

LIMIT = int(sys.argv[1]) if len(sys.argv) > 1 else 100
ROOTS = ["core/src", "host/src", "host-unix/src", "host-tcp/src", "scripts/lab/src", "tests/src"]
FN = re.compile(r"\s*(pub(\([a-z]+\))?\s+)?(const\s+)?fn\s+(\w+)")


def functions(path):
    """(name, first line, lines) of every function before the file's test module."""
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        if re.match(r"\s*#\[cfg\(test\)\]", lines[i]):
            return
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            for ch in lines[j]:
                if ch == "{":
                    depth, started = depth + 1, True
                elif ch == "}":
                    depth -= 1
            if (started and depth == 0) or (not started and lines[j].rstrip().endswith(";")):
                break
            j += 1
        if started:
            yield m.group(4), i + 1, j - i + 1
        i = j + 1


long = [(n, p, at, name) for root in ROOTS for p in sorted(glob.glob(f"{root}/**/*.rs", recursive=True))
        for name, at, n in functions(p) if n > LIMIT]
for n, p, at, name in sorted(long, reverse=True):
    print(f"{p}:{at}: fn {name} is {n} lines (limit {LIMIT})")
sys.exit(1 if long else 0)
