#!/usr/bin/env python3
"""Renders NOTEBOOK.md from scripts/NOTEBOOK.template.md, so that every number in the
notebook comes from the committed runs: `{{include PATH}}` inserts a generated file,
`{{py EXPR}}` (or `{{py EXPR:.2f}}`) inserts the value of a Python expression over the generated JSON files, with
j(PATH, "a.b.0.c") reading a value and f(x, digits) formatting a number."""
import glob
import json
import re
import sys
from functools import lru_cache


@lru_cache(maxsize=None)
def load(path):
    with open(path) as fh:
        return json.load(fh)


def j(path, keys):
    v = load(path)
    for k in keys.split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    return v


def f(x, digits=2):
    """A number with `digits` decimals; one that rounds to zero is 0, never -0."""
    if round(x, digits) == 0:
        x = 0.0
    return f"{x:.{digits}f}"


def r(group, seed, keys, sim=False):
    """A value of a run's report.json (the simulator's twin with sim=True)."""
    base = "experiments/sim" if sim else "experiments"
    return j(f"{base}/{group}/seed{seed}/report.json", keys)


def hb(group, seed, key):
    return j(f"experiments/{group}/seed{seed}/hb.json", key)


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "0%"


def pctv(a, b):
    return 100.0 * a / b if b else 0.0


def compare(group, seeds):
    """Real host against the simulator, same seed and parameters, per machine."""
    out = ["| run | machine | rate | ticks real / sim | final clock real / sim | mean jump real / sim | max queue real / sim |",
           "|---|---:|---:|---|---|---|---|"]
    for seed in seeds:
        real = j(f"experiments/{group}/seed{seed}/report.json", "rows")
        sim = j(f"experiments/sim/{group}/seed{seed}/report.json", "rows")
        for a, b in zip(real, sim):
            out.append(
                f"| {group}/seed{seed} | {a['id']} | {a['rate']} | {a['ticks']} / {b['ticks']} | {a['final_clock']} / {b['final_clock']} "
                f"| {a['jumps']['mean']:.2f} / {b['jumps']['mean']:.2f} | {a['queue']['max']:.0f} / {b['queue']['max']:.0f} |"
            )
    return "\n".join(out)


def delay_table():
    """Per delay of the delay sweep: each machine's mean jump, largest jump and final clock
    (medians across seeds), and the runs' count."""
    sets = load("experiments/sweep-delay.json")
    out = ["| delay | mean jump m0 / m1 / m2 | largest jump m0 / m1 / m2 | final clock m0 / m1 / m2 |",
           "|---|---|---|---|"]
    for s in sets:
        name = s["set"]["faults"].replace("delay_ms=", "") or "0"
        ms = s["machines"]
        out.append(
            f"| {name} ms | {' / '.join(f(m['mean_jump']['median']) for m in ms)} "
            f"| {' / '.join(f(m['max_jump']['median'], 0) for m in ms)} "
            f"| {' / '.join(f(m['final_clock']['median'], 0) for m in ms)} |"
        )
    return "\n".join(out)


def sweep_set(name, faults):
    """The set of sweep `name` whose faults line is `faults`."""
    return next(s for s in load(f"experiments/sweep-{name}.json") if s["set"]["faults"] == faults)


def twins():
    """(identical, all) machine logs of the committed real runs against their simulated twins."""
    same = [x for p in sorted(glob.glob("experiments/sim/*/seed*/twin.json")) for x in load(p)["identical"]]
    return sum(same), len(same)


def render(text):
    def include(m):
        with open(m.group(1)) as fh:
            return fh.read().rstrip("\n")

    def py(m):
        expr, spec = m.group(1), None
        fm = re.match(r"^(.*):(\.?\d*[fdg%])$", expr)
        if fm:
            expr, spec = fm.group(1), fm.group(2)
        value = ev(expr)
        return format(value, spec) if spec else str(value)

    def ev(expr):
        return (eval(expr, {"__builtins__": {"min": min, "max": max, "sum": sum, "abs": abs, "round": round, "len": len, "range": range, "str": str, "all": all}, "j": j, "f": f, "r": r, "hb": hb, "pct": pct, "pctv": pctv, "compare": compare, "delay_table": delay_table, "sweep_set": sweep_set, "twins": twins}))

    text = re.sub(r"\{\{include ([^}]+)\}\}", include, text)
    return re.sub(r"\{\{py (.+?)\}\}", py, text)


SENTENCE_END = re.compile(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)(?<!\bvs\.) +(?=[A-Z*_`(\[])")


def sentences(text):
    """One paragraph's text as sentences: the lines joined, then cut after each full stop."""
    return SENTENCE_END.split(re.sub(r"\s+", " ", text).strip())


def reflow(text):
    """Prose paragraphs and list items one sentence per line, so that no number a template
    expression renders is ever cut from its words by a line break (Markdown renders the
    same either way). Code blocks, tables, headings, images and HTML are left as they are."""
    out, para, fence = [], [], False

    def flush():
        if not para:
            return
        chunks = [[False, []]]  # [is a list item, lines]
        for line in para:
            if line.startswith("- "):
                chunks.append([True, [line[2:]]])
            else:
                chunks[-1][1].append(line)
        for item, lines in chunks:
            if not lines:
                continue
            ss = sentences(" ".join(lines))
            if item:
                out.append("- " + ss[0])
                out.extend("  " + x for x in ss[1:])
            else:
                out.extend(ss)
        para.clear()

    for line in text.split("\n"):
        if line.startswith("```"):
            flush()
            fence = not fence
            out.append(line)
        elif fence or not line.strip() or line.startswith(("|", "#", "![", "    ", "<", ">")):
            flush()
            out.append(line)
        else:
            para.append(line)
    flush()
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        sys.stdout.write(reflow(render(fh.read())))
