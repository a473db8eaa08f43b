"""False-switch rate of AutoLR's detector on synthetic loss records.

    python benchmarks/false_switch.py --quick       # ~1 minute, 48 records
    python benchmarks/false_switch.py               # 288 records, ~4-10 minutes
    python benchmarks/false_switch.py --records 2000 --workers 2
    python benchmarks/false_switch.py --package-root /tmp/head   # another checkout

Generates per-step loss records of the warmup (length `W = total_steps / 2`,
LR at step `t` is `min_lr * (max_lr / min_lr)**(t / W)`, the library's
defaults 1e-5 and 1.0) and runs `keras_autolr.replay` on each:

- family `real`: flat while the LR is below `lr_start` (log-uniform in
  [1e-4, 1e-2]; the loss does not respond to the LR), then a real descent
  down to a minimum at `lr_min` (3-30x `lr_start`), then a blow-up beyond.
- family `flat`: the loss never responds to the LR: no descent, no rise.

Both families get one of four noise kinds, relative to the loss (the white
noise's scale `sigma` is log-uniform in 0.2 %-3 %):

- `white`: white Gaussian noise.
- `ar1`: AR(1) noise, phi in [0.5, 0.95], stationary std `sigma`.
- `walk`: white noise plus a random walk (a slow drift) whose spread over
  the record is 1-4x `sigma`.
- `periodic`: white noise plus a fixed per-batch pattern repeated every
  "epoch" of 10-50 steps (unshuffled or imbalanced data), std 1-4x `sigma`.

A false switch is a `"detected"` switch before the descent starts (step of
`lr_start`) on a real curve, and any `"detected"` switch on a flat curve. A
`premature` switch (real curves) comes before the minimum (step of
`lr_min`).

Each record runs under the options `{}` (the library default) and, when
`replay` accepts it, `require_descent=True` and `require_descent=False`
(a configuration equal to the default is not run twice). The difference
of the switch between guard on and off is counted in tests (the index of
the deciding test; every configuration tests at the same steps).

Writes `benchmarks/results/false_switch.json` (every record and decision)
and `benchmarks/results/false_switch.md` (the tables), and prints the tables.
"""

import argparse
import collections
import datetime
import inspect
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
_RESULTS = os.path.join(_HERE, "results")

MIN_LR = 1e-5
MAX_LR = 1.0
BUDGETS = (200, 600, 2000)
FAMILIES = ("real", "flat")
NOISES = ("white", "ar1", "walk", "periodic")
GUARD = "require_descent"


# --------------------------------------------------------------------------
# Generator


def warmup_length(total_steps):
    return max(1, int(math.floor(0.5 * total_steps)))


def step_of_lr(lr, warmup):
    """Fractional step at which the warmup LR reaches `lr`."""
    return warmup * math.log(lr / MIN_LR) / math.log(MAX_LR / MIN_LR)


def _log_uniform(rng, low, high):
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def make_record(seed, index, family, noise, total_steps):
    """One synthetic per-step loss record and its parameters (deterministic)."""
    rng = np.random.default_rng([seed, index])
    warmup = warmup_length(total_steps)
    t = np.arange(warmup, dtype=np.float64)
    u = np.log(MIN_LR) + (t / warmup) * (np.log(MAX_LR) - np.log(MIN_LR))  # ln lr
    level = _log_uniform(rng, 0.3, 5.0)
    params = dict(index=index, family=family, noise=noise,
                  total_steps=total_steps, warmup=warmup, level=level)

    clean = np.full(warmup, level)
    if family == "real":
        lr_start = _log_uniform(rng, 1e-4, 1e-2)
        lr_min = lr_start * _log_uniform(rng, 3.0, 30.0)
        depth = float(rng.uniform(0.1, 0.6)) * level
        rise = float(rng.uniform(0.5, 3.0))
        sharpness = float(rng.uniform(1.0, 3.0))
        u_s, u_m = math.log(lr_start), math.log(lr_min)
        span = u_m - u_s
        s = np.clip((u - u_s) / span, 0.0, 1.0)
        clean = level - depth * 0.5 * (1.0 - np.cos(np.pi * s))
        beyond = u > u_m
        blow_up = (level - depth) + depth * rise * np.expm1(
            sharpness * (u[beyond] - u_m) / span)
        clean[beyond] = np.minimum(blow_up, 5.0 * level)  # diverged: a plateau
        params.update(
            lr_start=lr_start, lr_min=lr_min, depth=depth, rise=rise,
            sharpness=sharpness,
            descent_step=step_of_lr(lr_start, warmup),
            minimum_step=step_of_lr(lr_min, warmup),
        )

    sigma = _log_uniform(rng, 0.002, 0.03)
    white = rng.standard_normal(warmup)
    params["sigma"] = sigma
    if noise == "white":
        relative = sigma * white
    elif noise == "ar1":
        phi = float(rng.uniform(0.5, 0.95))
        relative = np.empty(warmup)
        relative[0] = sigma * white[0]
        innovation = sigma * math.sqrt(1.0 - phi * phi)
        for i in range(1, warmup):
            relative[i] = phi * relative[i - 1] + innovation * white[i]
        params["phi"] = phi
    elif noise == "walk":
        amplitude = sigma * float(rng.uniform(1.0, 4.0))
        walk = np.cumsum(rng.standard_normal(warmup)) / math.sqrt(warmup)
        relative = sigma * white + amplitude * walk
        params["drift"] = amplitude
    elif noise == "periodic":
        amplitude = sigma * float(rng.uniform(1.0, 4.0))
        period = int(rng.integers(10, 51))
        pattern = rng.standard_normal(period)
        pattern = (pattern - pattern.mean()) / (pattern.std() + 1e-12)
        relative = sigma * white + amplitude * pattern[np.arange(warmup) % period]
        params.update(drift=amplitude, period=period)
    else:
        raise ValueError(noise)
    losses = clean * (1.0 + relative)
    return losses, params


def plan(n_records):
    """(family, noise, total_steps) of each record: round-robin over the cells."""
    cells = [(f, n, b) for b in BUDGETS for f in FAMILIES for n in NOISES]
    return [cells[i % len(cells)] for i in range(n_records)]


# --------------------------------------------------------------------------
# Running


def _set_threads(threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised
        pass


def _import(package_root):
    if package_root:
        sys.path.insert(0, os.path.abspath(package_root))
    import keras_autolr

    return keras_autolr


def replay_with(keras_autolr, losses, total_steps, **options):
    """`replay` with flat options, on the 0.2 API (`Options`) or the 0.1 one."""
    if hasattr(keras_autolr, "Options"):
        return keras_autolr.replay(losses, total_steps=total_steps,
                                   options=keras_autolr.Options(**options))
    return keras_autolr.replay(losses, total_steps=total_steps, **options)


def guard_support(keras_autolr):
    """(replay accepts require_descent, the detector's default or None)."""
    default = None
    options = (getattr(keras_autolr, "Options", None)
               or getattr(keras_autolr, "DetectorOptions", None))
    try:
        if options is not None:  # one source of the detector's options
            default = getattr(options(), GUARD, None)
        else:
            sig = inspect.signature(keras_autolr.WarmupDetector.__init__)
            if GUARD in sig.parameters:
                default = sig.parameters[GUARD].default
    except (TypeError, ValueError):
        pass
    try:
        replay_with(keras_autolr, np.ones(20), 40, seed=0, **{GUARD: True})
        accepted = True
    except TypeError:
        accepted = False
    return accepted, default


def configurations(accepted, default):
    """[(name, options)]; a guard setting equal to the default is not repeated."""
    configs = [("default", {})]
    if accepted:
        for value in (True, False):
            if default is None or value != default:
                configs.append((f"{GUARD}={value}", {GUARD: value}))
    return configs


def _test_row(t):
    return dict(
        index=t.index, step=t.step, positive=bool(t.positive),
        p=[round(float(p), 4) for p in t.probabilities],
        descent=[round(float(d), 4) for d in getattr(t, "descents", ())],
        held_back=bool(getattr(t, "held_back", False)),
        amplitude=_num(t.amplitude), noise=_num(t.noise), mean=_num(t.mean),
    )


def _num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def run_one(keras_autolr, losses, params, options, save_tests):
    start = time.perf_counter()
    decision = replay_with(keras_autolr, losses, params["total_steps"], seed=0,
                           **options)
    seconds = time.perf_counter() - start
    tests = decision.tests
    deciding = tests[-1].index if tests else None
    detected = decision.reason == "detected"
    out = dict(
        switch_step=decision.switch_step, reason=decision.reason,
        peak_lr=decision.peak_lr, n_tests=len(tests), deciding_test=deciding,
        first_test_step=tests[0].step if tests else None,
        n_positive=sum(t.positive for t in tests),
        n_held_back=sum(bool(getattr(t, "held_back", False)) for t in tests),
        seconds=round(seconds, 3),
    )
    if detected:
        lr = MIN_LR * (MAX_LR / MIN_LR) ** (decision.switch_step / params["warmup"])
        out["switch_lr"] = lr
    if params["family"] == "flat":
        out["false"] = detected
    else:
        out["false"] = detected and decision.switch_step < params["descent_step"]
        out["premature"] = detected and decision.switch_step < params["minimum_step"]
        if detected:
            out["switch_over_lr_min"] = out["switch_lr"] / params["lr_min"]
        # Tests (of the common cadence) between descent start and the switch.
        out["tests_after_descent"] = (
            sum(t.step >= params["descent_step"] for t in tests)
            if detected else None)
    snr = [t.amplitude / math.sqrt(t.noise) for t in tests
           if _num(t.amplitude) and _num(t.noise) and t.noise > 0]
    out["snr_median"] = float(np.median(snr)) if snr else None
    if save_tests or out["false"]:
        out["tests"] = [_test_row(t) for t in tests]
    return out


_WORKER = {}


def _worker_init(package_root, threads):
    _set_threads(threads)
    _WORKER["lib"] = _import(package_root)


def _worker_run(job):
    seed, index, cell, configs, save_tests = job
    lib = _WORKER["lib"]
    family, noise, budget = cell
    losses, params = make_record(seed, index, family, noise, budget)
    runs = {name: run_one(lib, losses, params, opts, save_tests)
            for name, opts in configs}
    return dict(params=params, runs=runs)


# --------------------------------------------------------------------------
# Summaries


def _rate(flags):
    flags = list(flags)
    if not flags:
        return "-"
    k, n = sum(flags), len(flags)
    return f"{100.0 * k / n:.1f} % ({k}/{n})"


def _quantiles(values, spec="+.1f"):
    """`median [p10, p90]` of the non-None values, each formatted with `spec`."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    q = np.percentile(values, [10, 50, 90])
    return f"{q[1]:{spec}} [{q[0]:{spec}}, {q[2]:{spec}}]"


def summarize(records, config_names):
    lines = []
    add = lines.append
    add("### False-switch rate\n")
    add("A false switch: `detected` before the descent starts (real) or at all "
        "(flat). Premature: `detected` before the minimum (real).\n")
    header = "| family | noise | " + " | ".join(config_names) + " |"
    add(header)
    add("|" + "---|" * (2 + len(config_names)))
    groups = collections.OrderedDict()
    for fam in FAMILIES:
        for noise in NOISES + ("all",):
            groups[(fam, noise)] = [
                r for r in records if r["params"]["family"] == fam
                and (noise == "all" or r["params"]["noise"] == noise)]
    for (fam, noise), recs in groups.items():
        cells = [_rate(r["runs"][c]["false"] for r in recs) for c in config_names]
        name = f"**{noise}**" if noise == "all" else noise
        add(f"| {fam} | {name} | " + " | ".join(cells) + " |")
    add("")
    add("### By budget (all noise kinds)\n")
    add("| family | total_steps | " + " | ".join(config_names) + " |")
    add("|" + "---|" * (2 + len(config_names)))
    for fam in FAMILIES:
        for b in BUDGETS:
            recs = [r for r in records if r["params"]["family"] == fam
                    and r["params"]["total_steps"] == b]
            cells = [_rate(r["runs"][c]["false"] for r in recs) for c in config_names]
            add(f"| {fam} | {b} | " + " | ".join(cells) + " |")
    add("")
    real = [r for r in records if r["params"]["family"] == "real"]
    if real:
        add("### Real curves: outcome\n")
        add("| metric | " + " | ".join(config_names) + " |")
        add("|" + "---|" * (1 + len(config_names)))
        for label, fn in (
            ("premature (before the minimum)", lambda x: x["premature"]),
            ("detected", lambda x: x["reason"] == "detected"),
            ("cap (no detection)", lambda x: x["reason"] == "cap"),
        ):
            add(f"| {label} | " + " | ".join(
                _rate(fn(r["runs"][c]) for r in real) for c in config_names) + " |")
        add("| switch LR / lr_min, median [p10, p90] (detected, not false) | "
            + " | ".join(_quantiles(
                [r["runs"][c].get("switch_over_lr_min") for r in real
                 if not r["runs"][c]["false"]], ".2f") for c in config_names) + " |")
        add("")
    on, off = f"{GUARD}=True", f"{GUARD}=False"
    names = set(config_names) | set(_ALIASES)
    if on in names and off in names and real:
        add("### Guard on minus guard off (real curves)\n")
        add("Switch of `require_descent=True` minus `require_descent=False`: "
            "median [p10, p90].\n")
        d_tests, d_steps, d_false = [], [], []
        for r in real:
            a, b = _run(r, on), _run(r, off)
            d_tests.append(a["deciding_test"] - b["deciding_test"]
                           if a["deciding_test"] is not None
                           and b["deciding_test"] is not None else None)
            d_steps.append((a["switch_step"] or 0) - (b["switch_step"] or 0))
            d_false.append((a["false"], b["false"]))
        vals = [v for v in d_tests if v is not None]
        add(f"- in tests: {_quantiles(vals)}; "
            f"later {sum(v > 0 for v in vals)}, same {sum(v == 0 for v in vals)}, "
            f"earlier {sum(v < 0 for v in vals)} of {len(vals)}")
        if vals:
            hist = collections.Counter(vals)
            add("- histogram (tests: records): " + ", ".join(
                f"{k:+d}: {hist[k]}" for k in sorted(hist)))
        add(f"- in steps: {_quantiles(d_steps)}")
        valid = [v for v, (a, b) in zip(d_tests, d_false)
                 if v is not None and not b]
        add(f"- in tests, only records where the guard-off switch was not "
            f"false ({len(valid)}): {_quantiles(valid)}; later "
            f"{sum(v > 0 for v in valid)}, same {sum(v == 0 for v in valid)}")
        add(f"- false switches removed by the guard: "
            f"{sum(b and not a for a, b in d_false)}; added: "
            f"{sum(a and not b for a, b in d_false)}")
        for fam_noise in NOISES:
            sub = [v for r, v in zip(real, d_tests)
                   if r["params"]["noise"] == fam_noise and v is not None]
            add(f"  - {fam_noise}: {_quantiles(sub)} tests")
        add("")
    add("### Anatomy of the false switches\n")
    for c in config_names:
        falses = [r for r in records if r["runs"][c]["false"]]
        if not falses:
            add(f"- `{c}`: none")
            continue
        add(f"- `{c}`: {len(falses)} false switches")
        by = collections.Counter((r["params"]["family"], r["params"]["noise"])
                                 for r in falses)
        add("  - by family/noise: " + ", ".join(
            f"{f}/{n}: {k}" for (f, n), k in by.most_common()))
        idx = [r["runs"][c]["deciding_test"] for r in falses]
        steps = [r["runs"][c]["switch_step"] / r["params"]["warmup"] for r in falses]
        add(f"  - deciding test index: median {np.median(idx):.0f} "
            f"[p10 {np.percentile(idx, 10):.0f}, p90 {np.percentile(idx, 90):.0f}]; "
            f"switch at {np.median(steps):.2f} of W (median)")
        snr_false, snr_neg, amp_rel = [], [], []
        for r in falses:
            sig = r["params"]["sigma"] * r["params"]["level"]
            for t in r["runs"][c]["tests"][-3:]:
                if t["amplitude"] and t["noise"]:
                    snr_false.append(t["amplitude"] / math.sqrt(t["noise"]))
                    amp_rel.append(t["amplitude"] / sig)
        for r in records:
            if r["params"]["family"] == "flat" and not r["runs"][c]["false"]:
                snr_neg.append(r["runs"][c]["snr_median"])
        snr_neg = [v for v in snr_neg if v is not None]
        if snr_false:
            add(f"  - deciding tests: GP amplitude / noise std median "
                f"{np.median(snr_false):.2f}; amplitude / true white-noise std "
                f"median {np.median(amp_rel):.2f}")
        if snr_neg:
            add(f"  - flat records without a switch: amplitude / noise std "
                f"(median over tests) median {np.median(snr_neg):.2f}")
    add("")
    return "\n".join(lines)


_ALIASES = {}


def _run(record, name):
    return record["runs"][_ALIASES.get(name, name)]


CURVES = os.path.join(_RESULTS, "paper_curves.npz")


def recorded_curves(lib, configs):
    """The switch of each config on the 12 loss curves recorded from real runs.

    The curves of `paper_agreement.py` (digits, MNIST and teacher-student
    runs with LAMB, Adam and SGD, the warmup part of a budget of twice
    their length): the guard must not move a real switch by more than one
    test. Returns {curve: {config: (switch_step, deciding test, reason)}}.
    """
    if not os.path.exists(CURVES):
        return {}
    curves = np.load(CURVES, allow_pickle=True)
    out = {}
    for name in curves.files:
        if name == "meta":
            continue
        losses = np.asarray(curves[name], np.float64)
        row = {}
        for config, options in configs:
            d = replay_with(lib, losses, 2 * len(losses), seed=0, **options)
            row[config] = (d.switch_step, d.tests[-1].index if d.tests else None,
                           d.reason)
        out[name] = row
    return out


def summarize_curves(curves, config_names):
    if not curves:
        return ""
    lines = ["### Recorded curves (real runs)\n",
             "Switch step (deciding test index, reason) on the 12 curves of "
             "`benchmarks/results/paper_curves.npz`.\n",
             "| curve | " + " | ".join(config_names) + " |",
             "|" + "---|" * (1 + len(config_names))]
    moved = []
    for name, row in curves.items():
        cells = [f"{row[c][0]} ({row[c][1]}, {row[c][2]})" for c in config_names]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        tests = [row[c][1] for c in config_names if row[c][1] is not None]
        if len(tests) == len(config_names):
            moved.append(max(tests) - min(tests))
    lines.append("")
    lines.append(f"Largest difference between configurations: "
                 f"{max(moved) if moved else '-'} test(s); curves moved by more "
                 f"than one test: {sum(m > 1 for m in moved)} of {len(moved)}.\n")
    return "\n".join(lines)


def _git():
    try:
        head = subprocess.run(["git", "-C", _HERE, "rev-parse", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", _HERE, "status", "--porcelain", "keras_autolr"],
            capture_output=True, text=True).stdout.strip()
        return head, bool(dirty)
    except OSError:
        return None, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=None,
                        help="records in all (default 288; --quick 48)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0, help="generator seed")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="TF threads")
    parser.add_argument("--package-root", default=None,
                        help="import keras_autolr from this directory")
    parser.add_argument("--save-tests", action="store_true",
                        help="keep every test of every run in the JSON")
    parser.add_argument("--name", default="false_switch",
                        help="results/<name>.json and .md")
    parser.add_argument("--summarize", default=None, metavar="JSON",
                        help="only rewrite the Markdown of a results JSON")
    args = parser.parse_args(argv)
    if args.summarize:
        return resummarize(args.summarize)
    n_records = args.records or (48 if args.quick else 288)

    _set_threads(args.threads)
    lib = _import(args.package_root)
    accepted, default = guard_support(lib)
    configs = configurations(accepted, default)
    if accepted and default in (True, False):
        _ALIASES[f"{GUARD}={default}"] = "default"
    names = [c for c, _ in configs]
    print(f"keras_autolr from {os.path.dirname(lib.__file__)}; "
          f"{GUARD}: replay accepts={accepted}, detector default={default}; "
          f"configs={names}", flush=True)

    jobs = [(args.seed, i, cell, configs, args.save_tests)
            for i, cell in enumerate(plan(n_records))]
    started = time.time()
    records = []
    if args.workers > 1:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.workers, _worker_init,
                      (args.package_root, args.threads)) as pool:
            for k, rec in enumerate(pool.imap(_worker_run, jobs)):
                records.append(rec)
                _progress(k, n_records, started, rec)
    else:
        _WORKER["lib"] = lib
        for k, job in enumerate(jobs):
            rec = _worker_run(job)
            records.append(rec)
            _progress(k, n_records, started, rec)
    elapsed = time.time() - started

    head, dirty = _git()
    package = os.path.dirname(os.path.abspath(lib.__file__))
    if os.path.commonpath([package, os.path.dirname(_HERE)]) != os.path.dirname(_HERE):
        head, dirty = None, None  # imported from outside this checkout
    table = summarize(records, names)
    curves = recorded_curves(lib, configs)
    table += "\n" + summarize_curves(curves, names)
    meta = dict(
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        command=" ".join([os.path.basename(sys.executable)] + sys.argv),
        records=n_records, seed=args.seed, workers=args.workers,
        threads=args.threads, seconds=round(elapsed, 1),
        replay_seconds={c: round(sum(r["runs"][c]["seconds"] for r in records), 1)
                        for c in names},
        package=package, git_head=head,
        keras_autolr_dirty=dirty, guard_accepted=accepted,
        guard_default=default, configs=dict(configs), aliases=dict(_ALIASES),
        python=platform.python_version(), machine=platform.machine(),
        cpus=os.cpu_count(),
    )
    os.makedirs(_RESULTS, exist_ok=True)
    with open(os.path.join(_RESULTS, f"{args.name}.json"), "w") as f:
        json.dump(dict(meta=meta, records=records, curves=curves), f, indent=None,
                  separators=(",", ":"), default=_json_default)
    md = markdown(meta, table)
    with open(os.path.join(_RESULTS, f"{args.name}.md"), "w") as f:
        f.write(md)
    print()
    print(md)


def resummarize(path):
    with open(path) as f:
        data = json.load(f)
    meta = data["meta"]
    _ALIASES.update(meta.get("aliases", {}))
    table = summarize(data["records"], list(meta["configs"]))
    table += "\n" + summarize_curves(data.get("curves", {}), list(meta["configs"]))
    md = markdown(meta, table)
    with open(os.path.splitext(path)[0] + ".md", "w") as f:
        f.write(md)
    print(md)


def markdown(meta, table):
    head = meta.get("git_head")
    source = meta.get("package_source") or (
        f"HEAD {head[:7]}{', modified' if meta.get('keras_autolr_dirty') else ''}"
        if head else None)
    return (f"## False-switch benchmark (`benchmarks/false_switch.py`)\n\n"
            f"`{meta['command']}`: {meta['records']} records, "
            f"{meta['seconds'] / 60:.1f} min, {meta['workers']} worker(s) x "
            f"{meta['threads']} TF thread(s); keras_autolr from "
            f"`{meta['package']}`" + (f" ({source})" if source else "") + "; "
            f"`{GUARD}` accepted by replay: {meta['guard_accepted']}, detector "
            f"default: {meta['guard_default']}"
            + (f"; aliases: {meta['aliases']}" if meta.get("aliases") else "")
            + ".\n\n" + table)


def _json_default(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    raise TypeError(type(x))


def _progress(k, n, started, rec):
    if (k + 1) % max(1, n // 20) == 0 or k + 1 == n:
        el = time.time() - started
        p = rec["params"]
        print(f"[{k + 1}/{n}] {el:.0f} s (eta {el / (k + 1) * (n - k - 1):.0f} s) "
              f"last: {p['family']}/{p['noise']}/{p['total_steps']} "
              + " ".join(f"{c}:{v['reason']}@{v['switch_step']}"
                         for c, v in rec["runs"].items()), flush=True)


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    main()
