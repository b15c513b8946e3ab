#!/usr/bin/env python3
"""Copies the table of experiments/chaos.txt (scripts/chaos.sh's whole output) into
scripts/README.template.md between its chaos:begin and chaos:end markers, so that no number
of it is typed by hand; `scripts/experiments.sh --analyze` then renders README.md."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
out = (root / "experiments/chaos.txt").read_text()
table = "\n".join(l for l in out.splitlines() if l.startswith("|"))
readme = root / "scripts/README.template.md"
text = readme.read_text()
new, n = re.subn(
    r"(<!-- chaos:begin[^\n]*-->\n).*?(<!-- chaos:end -->)",
    lambda m: m.group(1) + table + "\n" + m.group(2),
    text,
    flags=re.S,
)
assert n == 1, "scripts/README.template.md has no chaos:begin/chaos:end markers"
readme.write_text(new)
