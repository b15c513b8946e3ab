#!/usr/bin/env python3
"""Renders NOTEBOOK.md from scripts/NOTEBOOK.template.md, so that every number in the
notebook comes from the committed runs: `{{include PATH}}` inserts a generated file,
`{{py EXPR}}` (or `{{py EXPR:.2f}}`) inserts the value of a Python expression over the generated JSON files, with
j(PATH, "a.b.0.c") reading a value and f(x, digits) formatting a number."""
import glob
import json
import math
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


# --- Uncertainty: intervals for medians across seeds, and paired differences ---

@lru_cache(maxsize=None)
def seeds(name):
    """The per-seed numbers of sweep `name` (lab sweep --per-seed), one entry per set."""
    with open(f"experiments/sweep-{name}.seeds.jsonl") as fh:
        return [json.loads(line) for line in fh]


def col(name, idx, key, machine=None, window=None):
    """One column of a sweep's set `idx`: per seed, in seed order (None where left out)."""
    st = seeds(name)[idx]
    return st["machines"][machine][key] if window is None else st["windows"][window][key]


def median(xs):
    """The median as `lab sweep` takes it: the ceil(n/2)-th smallest value."""
    xs = sorted(x for x in xs if x is not None)
    return xs[(len(xs) + 1) // 2 - 1]


def _binom_tail(n, p, m):
    """P(Binomial(n, p) >= m)."""
    if p <= 0:
        return 0.0 if m > 0 else 1.0
    if p >= 1:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    lg = math.lgamma(n + 1)
    return min(1.0, sum(math.exp(lg - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq) for k in range(m, n + 1)))


@lru_cache(maxsize=None)
def _median_ci(xs, level):
    n = len(xs)
    m = (n + 1) // 2
    # A resample's median is at most xs[j-1] exactly when at least m of its n draws are
    # among the j smallest values: a binomial count with chance j/n. The bootstrap
    # distribution of the median is therefore known exactly; no random draws are needed.
    def quantile_index(q):
        lo, hi = 1, n
        while lo < hi:
            mid = (lo + hi) // 2
            if _binom_tail(n, mid / n, m) >= q:
                hi = mid
            else:
                lo = mid + 1
        return lo
    a = (1 - level) / 2
    return xs[quantile_index(a) - 1], xs[quantile_index(1 - a) - 1]


def median_ci(xs, level=0.95):
    """The bootstrap percentile interval (95%) of the median of `xs` across seeds, computed
    exactly (deterministic: the same data always give the same interval)."""
    return _median_ci(tuple(sorted(x for x in xs if x is not None)), level)


def ci(xs, digits=2):
    """'median [lo, hi]' with the median's 95% bootstrap interval."""
    lo, hi = median_ci(xs)
    return f"{f(median(xs), digits)} [{f(lo, digits)}, {f(hi, digits)}]"


def paired(a, b):
    """Per-seed differences b - a of two columns over the same seeds."""
    assert len(a) == len(b)
    return [y - x for x, y in zip(a, b) if x is not None and y is not None]


def real_effect(diffs):
    """Whether the median paired difference's 95% interval excludes 0."""
    lo, hi = median_ci(diffs)
    return lo > 0 or hi < 0


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
MODEL_CI = []  # (what, predicted, interval low, interval high) of the sweep comparisons


def inside_ci():
    """(predictions inside the 95% interval of their median, all) of the sweep comparisons."""
    return sum(1 for _, p, lo, hi in MODEL_CI if lo - 1e-9 <= p <= hi + 1e-9), len(MODEL_CI)


def ci_widest():
    """The widest interval of the sweep comparisons, relative to its median's size."""
    return max(((w, hi - lo) for w, _, lo, hi in MODEL_CI), key=lambda x: x[1])


def model_vs_sweeps():
    """The flow model against the 1,000-seed sweeps with pinned rates (medians)."""
    sets = [("sets", 0, (1, 6, 6), 10, 60), ("sets", 1, (1, 6, 6), 5, 60), ("sets", 2, (3, 4, 4), 10, 60),
            ("sets", 3, (3, 4, 4), 5, 60), ("delay", 0, (3, 4, 6), 10, 60)]
    sets += [("slow", i, (1, r_, r_), 10, 120) for i, r_ in enumerate((2, 3, 4, 5, 6))]
    out = ["| rates, K, run length | machine (rate) | quantity | predicted | measured median [95% interval] | miss |",
           "|---|---|---|---:|---:|---:|"]
    for name, idx, rates, k, secs in sets:
        sw = load(f"experiments/sweep-{name}.json")[idx]
        assert tuple(sw["set"]["rates"]) == rates and sw["set"]["roll_max"] == k, (name, idx)
        fl = flow(rates, k, secs)
        for m, (p, meas) in enumerate(zip(fl, sw["machines"])):
            rows = [("mean jump", p["jump"], meas["mean_jump"]["median"], 2, "mean_jump"),
                    ("final clock", p["final"], meas["final_clock"]["median"], 0, "final_clock")]
            if not p["keeps"] or name == "slow" and m == 0:
                rows.append(("queue growth /s", p["growth"], meas["queue_growth"]["median"], 3, "queue_growth"))
            if name != "slow" and rates[m] != rates[m - 1] or m == 0:
                for q, pv, mv, d, key in rows:
                    lo, hi = median_ci(col(name, idx, key, machine=m))
                    MODEL_ROWS.append((f"{','.join(map(str, rates))} K={k}: m{m} {q}", pv, mv))
                    MODEL_CI.append((f"{','.join(map(str, rates))} K={k}: m{m} {q}", pv, lo, hi))
                    out.append(f"| {','.join(map(str, rates))}, K = {k}, {secs} s | {m} ({rates[m]}) | {q} | {f(pv, d)} "
                               f"| {f(mv, d)} [{f(lo, d)}, {f(hi, d)}] | {mark(pv, mv)} |")
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


def spread_table():
    """Spread phases against aligned ones on the same 1,000 seeds: per machine, the medians
    with their 95% intervals and the median of the per-seed difference (spread - aligned)."""
    out = ["| machine | mean jump, aligned | mean jump, spread | paired difference of the mean jump | seeds where it rose | paired difference of the final clock | paired difference of the largest jump |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for m in range(3):
        a, b = col("drawn", 0, "mean_jump", machine=m), col("drawn-spread", 0, "mean_jump", machine=m)
        d = paired(a, b)
        out.append(f"| {m} | {ci(a, 3)} | {ci(b, 3)} | {ci(d, 3)} | {pct(sum(1 for x in d if x > 0), len(d))} "
                   f"| {ci(paired(col('drawn', 0, 'final_clock', machine=m), col('drawn-spread', 0, 'final_clock', machine=m)), 0)} "
                   f"| {ci(paired(col('drawn', 0, 'max_jump', machine=m), col('drawn-spread', 0, 'max_jump', machine=m)), 0)} |")
    return "\n".join(out)


def delay_paired_table():
    """Each delay of the delay sweep against no delay, seed by seed (the sets share seeds):
    the median per-seed difference with its 95% interval."""
    sets = load("experiments/sweep-delay.json")
    out = ["| delay | mean jump m0 | mean jump m1 | largest jump m0 | final clock m0 |", "|---|---:|---:|---:|---:|"]
    for i, st in enumerate(sets[1:], 1):
        name = st["set"]["faults"].replace("delay_ms=", "")
        cell = lambda key, m, d: ci(paired(col("delay", 0, key, machine=m), col("delay", i, key, machine=m)), d)
        out.append(f"| {name} ms | {cell('mean_jump', 0, 3)} | {cell('mean_jump', 1, 3)} | {cell('max_jump', 0, 0)} | {cell('final_clock', 0, 0)} |")
    return "\n".join(out)


def delay_diff(i, key, m, base=0):
    """Per-seed differences of set i of the delay sweep against set `base`."""
    return paired(col("delay", base, key, machine=m), col("delay", i, key, machine=m))


# --- The queue as a random walk, the pause and the partition (stated before their measurements) ---

def roll_var(k):
    """Two machines that send to each other and to a third that never rolls (an overloaded or
    a paused machine): the variance, per rolling tick, of the messages the third gets, once
    the rolling ticks each of its messages to the other machine costs it are counted.
    X (to the third) and Y (to the other) are 1 with chance p = 2/K each and both on roll 3
    (chance 1/K); the rolling ticks are n = R/(1 + p) - e_Y/(1 + p) for R ticks, so
    A = p n + e_X and Var A / n = p(1-p)(1 + a^2) - 2a(1/K - p^2), a = p/(1 + p)."""
    p = 2 / k
    a = p / (1 + p)
    return p * (1 - p) * (1 + a * a) - 2 * a * (1 / k - p * p)


def walk_sigma2(rates, k, target):
    """Per second, the variance of the arrivals at machine `target`, which never rolls."""
    others = [x for i, x in enumerate(rates) if i != target]
    return roll_var(k) * sum(others) / (1 + 2 / k)


def sd(xs):
    xs = [x for x in xs if x is not None]
    mu = sum(xs) / len(xs)
    return (sum((x - mu) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs)


def walk_rows():
    """(label, predicted, measured, digits) of the random-walk predictions."""
    rows = []
    for name, idx, rates, k, secs in (("sets", 0, (1, 6, 6), 10, 60), ("sets", 1, (1, 6, 6), 5, 60),
                                      ("slow", 2, (1, 4, 4), 10, 120), ("slow", 3, (1, 5, 5), 10, 120),
                                      ("slow", 4, (1, 6, 6), 10, 120)):
        s2 = walk_sigma2(rates, k, 0)
        lab = f"{','.join(map(str, rates))}, K = {k}, {secs} s"
        rows.append((lab, "sd of the longest queue, σ√T", (s2 * secs) ** 0.5, sd(col(name, idx, "max_queue", machine=0)), 1))
        rows.append((lab, "sd of the growth, √(6σ²/(5L))", (6 * s2 / (5 * secs / 2)) ** 0.5, sd(col(name, idx, "queue_growth", machine=0)), 3))
    s2 = walk_sigma2((1, 3, 3), 10, 0)
    for secs in (30, 60, 120, 240, 480):
        rows.append((f"1,3,3, K = 10, {secs} s", "mean longest queue, √(π/2)·σ√T − 1", (math.pi / 2) ** 0.5 * s2 ** 0.5 * secs ** 0.5 - 1,
                     mean(col(f"critical-{secs}", 0, "max_queue", machine=0)), 2))
    return rows


def walk_table():
    out = ["| rates, K, run length | quantity | predicted | measured (1,000 seeds) | miss |", "|---|---|---:|---:|---:|"]
    for lab, q, p, m, d in walk_rows():
        MODEL_ROWS.append((f"walk {lab}: {q}", p, m))
        out.append(f"| {lab} | {q} | {f(p, d)} | {f(m, d)} | {mark(p, m)} |")
    return "\n".join(out)


def sqrt_fit():
    """Least-squares slope and intercept of the mean longest queue against √T (critical rates)."""
    xs = [t ** 0.5 for t in (30, 60, 120, 240, 480)]
    ys = [mean(col(f"critical-{t}", 0, "max_queue", machine=0)) for t in (30, 60, 120, 240, 480)]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return b, my - b * mx


def pause_model():
    """The pause of machine 1 (rate 4) for 10 s among rates 3, 4, 6 (K = 10), from the flow
    model with machine 1 silent: arrivals, the spread of the waiting messages, the drain
    time by Wald's identity and the catch-up time."""
    fl = flow((3, 0, 6), 10)
    lam = fl[1]["lam"]
    rolls = fl[0]["s"] + fl[2]["s"]
    w = lam * 10
    return {"lam": lam, "rolls": rolls, "w": w, "sd_binom": (rolls * 10 * 0.2 * 0.8) ** 0.5,
            "sd": (roll_var(10) * rolls * 10) ** 0.5, "drain": (w - 1) / (4 - lam), "catch": w / 4}


def partition_model():
    """Held messages and the catch-up time of the side behind for both partitions."""
    alone = flow((0, 4, 6), 10)[0]["lam"] * 10  # held at machine 0: what 1 and 2 send it
    held_fast = 0.2 * 6 * 10  # held at machines 0 and 1 each: machine 2 alone rolls every tick
    return {"held0": alone, "catch0": alone / 3, "held_fast": held_fast, "catch_fast": max(held_fast / 3, held_fast / 4)}


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
        names = {k: v for k, v in globals().items() if not k.startswith("_")}
        names["__builtins__"] = {"min": min, "max": max, "sum": sum, "abs": abs, "round": round, "len": len, "range": range, "str": str, "all": all, "enumerate": enumerate, "sorted": sorted, "zip": zip, "next": next}
        return eval(expr, names)

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
