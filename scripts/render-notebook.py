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


# --- The flow model (stated in the notebook before any measurement it is compared with) ---

def send_prob(i, j, n, k):
    """The chance that a rolling tick of machine i sends to machine j (n machines, roll 1..=k):
    roll 1 names (i+1) mod n, roll 2 names (i+2) mod n, roll 3 names every peer."""
    if i == j:
        return 0.0
    return (1 + (j == (i + 1) % n) + (j == (i + 2) % n)) / k


def flow(rates, k, secs=60.0, delay_s=0.0):
    """Per machine, in steady state: rolling ticks s (a tick rolls only when its queue is
    empty), receive (arrival) rate lam, whether it keeps up, queue growth, clock advance per
    second against system time, mean jump, final clock. Solves s_j = max(0, r_j - lam_j) with
    lam_j = sum_i p_ij s_i by fixed-point iteration (a contraction: every p_ij <= 3/k < 1)."""
    n = len(rates)
    s = [float(x) for x in rates]
    for _ in range(5000):
        lam = [sum(send_prob(i, jj, n, k) * s[i] for i in range(n)) for jj in range(n)]
        s = [max(0.0, rates[jj] - lam[jj]) for jj in range(n)]
    rmax = max(rates)
    out = []
    for jj in range(n):
        r_, l_ = rates[jj], lam[jj]
        keeps = l_ <= r_ + 1e-9
        if keeps:
            slope = rmax
            # every tick adds 1; the receives add the rest of r_max (minus the D seconds of news
            # a delay withholds), spread over lam (T - D) receives
            jump = 1 + (rmax * (secs - delay_s) - r_ * secs) / (l_ * (secs - delay_s)) if l_ > 0 else 1.0
            final = rmax * (secs - delay_s) if delay_s and r_ < rmax else rmax * secs
        else:
            slope = rmax * r_ / l_
            jump = rmax / l_
            final = slope * secs
        out.append({"rate": r_, "s": s[jj], "lam": l_, "keeps": keeps, "recv": min(l_, r_),
                    "growth": max(0.0, l_ - r_), "slope": slope, "jump": jump, "final": final})
    return out


def msgs_per_s(rates, k):
    """Messages sent per second by all machines together."""
    n = len(rates)
    fl = flow(rates, k)
    return sum(m["s"] * sum(send_prob(i, jj, n, k) for jj in range(n)) for i, m in enumerate(fl))


def miss(pred, meas, floor=0.05):
    """Relative miss of a prediction; an absolute one (below `floor` counts as a hit) when the
    prediction is 0."""
    if abs(pred) < 1e-9:
        return abs(meas)
    return abs(meas / pred - 1)


def mark(pred, meas, tol=0.10, floor=0.05):
    m = miss(pred, meas)
    ok = m <= (floor if abs(pred) < 1e-9 else tol)
    return (f"{100 * m:.1f}%" if abs(pred) >= 1e-9 else f"±{m:.3f}") + ("" if ok else " **miss**")


MODEL_ROWS = []  # (what, predicted, measured) of every comparison the notebook makes


def model_vs_sweeps():
    """The flow model against the 1,000-seed sweeps with pinned rates (medians)."""
    sets = [("sets", 0, (1, 6, 6), 10, 60), ("sets", 1, (1, 6, 6), 5, 60), ("sets", 2, (3, 4, 4), 10, 60),
            ("sets", 3, (3, 4, 4), 5, 60), ("delay", 0, (3, 4, 6), 10, 60)]
    sets += [("slow", i, (1, r_, r_), 10, 120) for i, r_ in enumerate((2, 3, 4, 5, 6))]
    out = ["| rates, K, run length | machine (rate) | quantity | predicted | measured median | miss |",
           "|---|---|---|---:|---:|---:|"]
    for name, idx, rates, k, secs in sets:
        sw = load(f"experiments/sweep-{name}.json")[idx]
        assert tuple(sw["set"]["rates"]) == rates and sw["set"]["roll_max"] == k, (name, idx)
        fl = flow(rates, k, secs)
        for m, (p, meas) in enumerate(zip(fl, sw["machines"])):
            rows = [("mean jump", p["jump"], meas["mean_jump"]["median"], 2),
                    ("final clock", p["final"], meas["final_clock"]["median"], 0)]
            if not p["keeps"] or name == "slow" and m == 0:
                rows.append(("queue growth /s", p["growth"], meas["queue_growth"]["median"], 3))
            if name != "slow" and rates[m] != rates[m - 1] or m == 0:
                for q, pv, mv, d in rows:
                    MODEL_ROWS.append((f"{','.join(map(str, rates))} K={k}: m{m} {q}", pv, mv))
                    out.append(f"| {','.join(map(str, rates))}, K = {k}, {secs} s | {m} ({rates[m]}) | {q} | {f(pv, d)} | {f(mv, d)} | {mark(pv, mv)} |")
    return "\n".join(out)


def model_vs_runs(groups):
    """The flow model against every committed real run: per machine, receives per second and
    clock advance per second (drift against system time), predicted and measured."""
    out = ["| run | rates | receives /s predicted | receives /s measured | clock /s predicted | clock /s measured (drift against system time) |",
           "|---|---|---|---|---|---|"]
    for g, seeds in groups:
        for sd in seeds:
            rep = load(f"experiments/{g}/seed{sd}/report.json")
            rates = [m["rate"] for m in rep["rows"]]
            fl = flow(rates, rep["roll_max"], rep["secs"])
            out.append(f"| {g}/seed{sd} | {' / '.join(map(str, rates))} | {' / '.join(f(p['recv']) for p in fl)} "
                       f"| {' / '.join(f(m['recv'] / rep['secs']) for m in rep['rows'])} | {' / '.join(f(p['slope']) for p in fl)} "
                       f"| {' / '.join(f(m['clock_per_s']) for m in rep['rows'])} |")
            for p, m in zip(fl, rep["rows"]):
                MODEL_ROWS.append((f"{g}/seed{sd} m{m['id']} receives/s", p["recv"], m["recv"] / rep["secs"]))
                MODEL_ROWS.append((f"{g}/seed{sd} m{m['id']} clock/s", p["slope"], m["clock_per_s"]))
    return "\n".join(out)


def model_hits(kind=""):
    """(within 10%, all) of the comparisons so far whose label contains `kind`."""
    rows = [x for x in MODEL_ROWS if kind in x[0]]
    return sum(1 for _, p, m in rows if miss(p, m) <= (0.05 if abs(p) < 1e-9 else 0.10)), len(rows)


def noise_explained(kind, secs=60):
    """Of the comparisons labelled `kind` that miss by more than 10%: (how many, how many of
    them lie within two standard deviations of a Poisson count of the predicted mean)."""
    rows = [x for x in MODEL_ROWS if kind in x[0] and miss(x[1], x[2]) > 0.10]
    return len(rows), sum(1 for _, p, m in rows if abs(m - p) * secs <= 2 * (p * secs) ** 0.5)


def largest_miss(kind=""):
    """The label, prediction and measurement of the comparison with the largest miss so far."""
    return max((x for x in MODEL_ROWS if kind in x[0]), key=lambda x: miss(x[1], x[2]))


def model_misses(kind=""):
    rows = [x for x in MODEL_ROWS if kind in x[0] and miss(x[1], x[2]) > (0.05 if abs(x[1]) < 1e-9 else 0.10)]
    return "; ".join(f"{w} (predicted {f(p)}, measured {f(m)})" for w, p, m in rows) or "none"


# --- The assignment's questions, from the logs ---

@lru_cache(maxsize=None)
def log_rows(group, seed, m):
    rows = []
    with open(f"experiments/{group}/seed{seed}/machine-{m}.log") as fh:
        for line in fh:
            if line.startswith(("#", "unix_ns,")):
                continue
            t, _, ev_, clock, queue, peer, msg_clock, _ = line.rstrip("\n").split(",", 7)
            rows.append((int(t), ev_, int(clock), int(queue), peer, msg_clock))
    return rows


def jumps_of(group, seed, m):
    """(jump, sender) of every receive of machine m: clock after minus clock before."""
    out, prev = [], 0
    for _, ev_, clock, _, peer, _ in log_rows(group, seed, m):
        if ev_ == "recv":
            out.append((clock - prev, int(peer)))
        if ev_ in ("start", "recv", "send", "internal"):
            prev = clock
    return out


def quantile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0


def answers_table(groups):
    """The assignment's questions per group, pooled over its runs and machines."""
    out = ["| group | receives | jumps of 1 | jump p50 / p90 / p99 / largest | values skipped (gaps) | queue after a receive: mean / longest | lag behind the highest clock: mean / largest |",
           "|---|---:|---:|---|---:|---|---|"]
    for g, seeds in groups:
        js, fin, skip, qs, lags, lmax = [], 0, 0, [], [], 0
        for sd in seeds:
            rep = load(f"experiments/{g}/seed{sd}/report.json")
            for m in rep["rows"]:
                js += [x for x, _ in jumps_of(g, sd, m["id"])]
                fin += m["final_clock"]
                skip += m["skipped_values"]
                qs += [q for _, ev_, _, q, _, _ in log_rows(g, sd, m["id"]) if ev_ == "recv"]
                lags.append(m["lag_mean"])
                lmax = max(lmax, m["lag_max"])
        ones = sum(1 for x in js if x == 1)
        out.append(f"| {g} ({len(seeds)} run{'s' if len(seeds) > 1 else ''}) | {len(js)} | {pct(ones, len(js))} "
                   f"| {quantile(js, .5)} / {quantile(js, .9)} / {quantile(js, .99)} / {max(js)} | {pct(skip, fin)} "
                   f"| {f(sum(qs) / len(qs))} / {max(qs)} | {f(sum(lags) / len(lags), 1)} / {lmax:.0f} |")
    return "\n".join(out)


def jumps_by_rate(groups):
    """Jumps of 1 and the largest jump, by the receiver's rate, all groups' real runs."""
    by = {}
    for g, seeds in groups:
        for sd in seeds:
            rep = load(f"experiments/{g}/seed{sd}/report.json")
            for m in rep["rows"]:
                by.setdefault(m["rate"], []).extend(x for x, _ in jumps_of(g, sd, m["id"]))
    out = ["| receiver's rate | receives | jumps of 1 | mean jump | largest |", "|---:|---:|---:|---:|---:|"]
    for rate in sorted(by):
        js = by[rate]
        out.append(f"| {rate} | {len(js)} | {pct(sum(1 for x in js if x == 1), len(js))} | {f(sum(js) / len(js))} | {max(js)} |")
    return "\n".join(out)


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
        return (eval(expr, {"__builtins__": {"min": min, "max": max, "sum": sum, "abs": abs, "round": round, "len": len, "range": range, "str": str, "all": all, "enumerate": enumerate}, "j": j, "f": f, "r": r, "hb": hb, "pct": pct, "pctv": pctv, "compare": compare, "delay_table": delay_table, "sweep_set": sweep_set, "twins": twins, "flow": flow, "msgs_per_s": msgs_per_s, "mark": mark, "miss": miss, "model_vs_sweeps": model_vs_sweeps, "model_vs_runs": model_vs_runs, "model_hits": model_hits, "model_misses": model_misses, "noise_explained": noise_explained, "largest_miss": largest_miss, "answers_table": answers_table, "jumps_by_rate": jumps_by_rate, "jumps_of": jumps_of, "quantile": quantile, "load": load, "sorted": sorted}))

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
    args = [a for a in sys.argv[1:] if a != "--no-reflow"]
    with open(args[0]) as fh:
        text = render(fh.read())
    sys.stdout.write(text if "--no-reflow" in sys.argv else reflow(text))
