"""Speed of AutoLR: detector test time, per-step callback cost, wall ratio.

    python benchmarks/speed.py            # full (~3 minutes on 2 cores)
    python benchmarks/speed.py --quick    # fewer repeats

Measures, in one run:
1. the median time of one detector test at 1e3, 1e5 and 1e6 recorded steps
   (no test touches the whole record, so it must not grow);
2. the callback's cost per step outside tests: the median
   `on_train_batch_end` call of a real one-epoch `fit` of 2,000 steps in
   warmup (budget 1e6 steps, so tests are far apart), in microseconds, with
   the host counting of keras_autolr/training/batch_counter.py and without it
   (every execution reads the step counter and the loss tracker);
2b. `replay` of a 1e6-step loss log (a falling curve, budget 2e6 steps,
   `check_every=50_000`: 20 tests), the first call in the process and the
   median of later calls;
3. the wall-time ratio of the README's main job (examples/mnist_autolr.py:
   small CNN, LAMB, 4,000 MNIST images, batch 256, 10 epochs) with `AutoLR`
   to the same `fit` with Keras `CosineDecay` with linear warmup to the same
   peak, the two run alternately; and, less noisy than a ratio of two wall
   times on a shared machine, the time spent inside AutoLR's hooks in those
   `fit`s (its whole host-side cost) and inside its detector tests, as a
   share of the `fit`'s wall time;
4. the cost of the rewind's host snapshots on a model of 50M+ parameters
   (an MLP 1024-4096-4096-4096-4096-10, 54.6M, with Adam, batch 256, a teacher-student
   task): the host memory the copies hold against 2 x (weights + optimizer
   slots), and the share of the `fit`'s wall time spent copying
   (`--snapshot-steps`, 0 skips it; `--only-snapshots` runs only this).
Writes benchmarks/results/speed.json and prints a Markdown table.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from unittest import mock

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import keras_autolr  # noqa: E402
from keras_autolr import Options  # noqa: E402
from keras_autolr.decision.detector import WarmupDetector  # noqa: E402
from keras_autolr import warmup  # noqa: E402
from keras_autolr import _keras  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
from keras_autolr.training import snapshot  # noqa: E402


def detector_test_ms(n_steps, repeats):
    """Median ms of one `WarmupDetector.test` on `n_steps` recorded losses."""
    rng = np.random.default_rng(0)
    steps = np.arange(n_steps)
    losses = 2.0 - np.log1p(steps / n_steps) + 0.05 * rng.normal(size=n_steps)
    lr_at = lambda s: warmup.warmup_lr(  # noqa: E731
        s, min_lr=1e-5, max_lr=1.0, warmup_steps=2 * n_steps, kind="exponential")
    detector = WarmupDetector()
    detector.test(steps, losses, n_steps, lr_at)  # warm caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.test(steps, losses, n_steps, lr_at)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


class _TimedAutoLR(keras_autolr.AutoLR):
    """`AutoLR` that times each `on_train_batch_end` call `fit` makes."""

    def on_train_batch_end(self, batch, logs=None):
        start = time.perf_counter()
        super().on_train_batch_end(batch, logs)
        self.times.append(time.perf_counter() - start)


def callback_us_per_step(repeats, counting=True):
    """Median microseconds of `on_train_batch_end` per step, in a real `fit`.

    One epoch of `repeats` steps of a one-layer model (a step is ~1 ms, so
    the callback's share is visible); the budget is 1e6 steps, so warmup's
    tests are far apart and the median call is one with no test due (the
    calls that test or copy the weights are counted, not the median). The
    logs Keras hands the callback are converted by Keras whether or not a
    callback reads them, so they are not AutoLR's cost. `counting=False`
    turns the host counting off (keras_autolr/training/batch_counter.py): every
    execution reads the step counter and the loss tracker, as before it.
    """
    from keras_autolr.training import callback as callback_lib

    original = callback_lib.BatchCounter
    if not counting:
        callback_lib.BatchCounter = lambda steps: None
    try:
        return _timed_fit(repeats)
    finally:
        callback_lib.BatchCounter = original


def _timed_fit(repeats):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * repeats, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    autolr = _TimedAutoLR(total_steps=10 ** 6, verbose=0)
    autolr.times = []
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[autolr])
    if len(autolr.times) != repeats:
        raise RuntimeError(f"expected {repeats} calls, got {len(autolr.times)}")
    return 1e6 * float(np.median(autolr.times))


def replay_seconds(repeats, n_steps=10 ** 6):
    """Seconds of `replay` on an `n_steps` loss log: first call, then median."""
    rng = np.random.default_rng(0)
    steps = np.arange(n_steps)
    losses = 3.0 - 2.0 * steps / n_steps + 0.05 * rng.normal(size=n_steps)
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        decision = keras_autolr.replay(losses, total_steps=2 * n_steps,
                                       options=Options(check_every=n_steps // 20))
        times.append(time.perf_counter() - start)
    return times[0], float(np.median(times[1:])), len(decision.tests)


class _CostedAutoLR(keras_autolr.AutoLR):
    """`AutoLR` that adds up the wall time of its hooks and of its tests."""

    HOOKS = ("set_model", "on_train_begin", "on_epoch_begin",
             "on_train_batch_end", "on_epoch_end", "on_train_end")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hook_seconds = 0.0
        self.test_seconds = 0.0
        for name in self.HOOKS:
            setattr(self, name, self._timed(getattr(self, name), "hook_seconds"))

    def _timed(self, method, total):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                setattr(self, total, getattr(self, total) + time.perf_counter() - start)
        return timed

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        detector = self.controller.detector  # set up by the first epoch
        if "test" not in vars(detector):
            detector.test = self._timed(detector.test, "test_seconds")


def main_job_seconds(kind, epochs, batch_size, peak_lr):
    """Wall seconds of the README's main job `fit` with AutoLR or CosineDecay."""
    import mnist_autolr

    (x, y), _ = mnist_autolr.load_data()
    model = mnist_autolr.build_model()
    steps = epochs * int(np.ceil(len(x) / batch_size))
    callbacks = []
    if kind == "autolr":
        optimizer = mnist_autolr.lamb()
        callbacks = [_CostedAutoLR(verbose=0)]
    else:
        warm = max(1, steps // 2 // 4)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, steps - warm, warmup_target=peak_lr, warmup_steps=warm)
        optimizer = mnist_autolr.lamb(learning_rate=schedule)
    mnist_autolr.compile_model(model, optimizer)
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
              callbacks=callbacks)
    seconds = time.perf_counter() - start
    return seconds, callbacks[0] if callbacks else None


def _wide_mlp(width, depth, inputs):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((inputs,))]
        + [keras.layers.Dense(width, activation="relu") for _ in range(depth)]
        + [keras.layers.Dense(10)])


def snapshot_cost(steps, batch_size=256, width=4096, depth=4, inputs=1024,
                  baseline=False):
    """Memory and wall-time share of AutoLR's snapshots on a 50M+ model.

    With `baseline`, the same `fit` follows in the same process with
    warmup-cosine to AutoLR's peak (one pair, after AutoLR's: a rough ratio).
    """
    model = _wide_mlp(width, depth, inputs)
    rng = np.random.default_rng(0)
    steps_per_epoch = 25
    x = rng.normal(size=(steps_per_epoch * batch_size, inputs)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(inputs, 10)), axis=1)
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    autolr = keras_autolr.AutoLR(verbose=0)
    epochs = max(1, steps // steps_per_epoch)
    # Every copy's wall time, step, and the step of the copy whose buffers it
    # reused (None: new memory; take() reuses the last copy it drops).
    each, steps_each, replaced = [], [], []
    take = snapshot.SnapshotRing.take

    def timed_take(ring, step, keep=None):
        before, held = ring.seconds, list(ring.steps)
        kept = take(ring, step, keep)
        each.append(ring.seconds - before)
        steps_each.append(int(step))
        dropped = [s for s in held if s not in ring.steps]
        replaced.append(dropped[-1] if dropped else None)
        return kept

    start = time.perf_counter()
    with mock.patch.object(snapshot.SnapshotRing, "take", timed_take):
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                  callbacks=[autolr])
    wall = time.perf_counter() - start
    ring = autolr._snapshot
    optimizer = model.optimizer
    slots = [v for v in ring._optimizer_variables()]
    one_copy = (sum(int(np.prod(v.shape)) * 4 for v in model.weights)
                + sum(int(np.prod(v.shape)) * 4 for v in slots))
    one = ring.seconds / max(1, ring.copies)
    extra = {}
    if baseline:
        model = _wide_mlp(width, depth, inputs)
        total = epochs * steps_per_epoch
        warm = max(1, total // 8)
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            0.0, total - warm, warmup_target=autolr.peak_lr, warmup_steps=warm)),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0)
        cosine = time.perf_counter() - start
        extra = {"fit_seconds_cosine": cosine, "fit_ratio_to_cosine": wall / cosine}
    return {**extra,
        "parameters": int(model.count_params()),
        "steps": int(optimizer.iterations.numpy()),
        "batch_size": batch_size,
        "fit_seconds": wall,
        "snapshots": ring.copies,
        "snapshot_seconds": ring.seconds,
        "seconds_per_snapshot": one,
        # The first copies write into new memory (page faults); later ones
        # into the buffers of the copies they replace.
        "seconds_each": [round(t, 4) for t in each],
        "steps_each": steps_each,
        "replaced_each": replaced,
        "seconds_per_step": (wall - ring.seconds) / max(1, steps),
        "share_of_fit": ring.seconds / wall,
        "held_bytes": ring.nbytes,
        "place": ring.place,  # "device": on the accelerator (snapshot.py)
        "one_copy_bytes": one_copy,
        "held_over_two_copies": ring.nbytes / (2 * one_copy),
        "switch_step": autolr.switch_step,
        "restored_step": autolr.decision.restored_step,
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=os.path.join(
        os.path.dirname(__file__), "results", "speed.json"))
    parser.add_argument("--snapshot-steps", type=int, default=200,
                        help="steps of the 50M-parameter snapshot run (0: skip)")
    parser.add_argument("--only-snapshots", action="store_true")
    parser.add_argument("--snapshot-baseline", action="store_true",
                        help="also time the snapshot model's fit with warmup-cosine")
    args = parser.parse_args(argv)
    if args.only_snapshots:
        return _report_snapshots(args.out, snapshot_cost(
            args.snapshot_steps, baseline=args.snapshot_baseline))
    repeats = 5 if args.quick else 20
    pairs = 1 if args.quick else 3

    replay_first, replay_s, replay_tests = replay_seconds(1 if args.quick else 3)
    tests = {n: detector_test_ms(n, repeats) for n in (10 ** 3, 10 ** 5, 10 ** 6)}
    per_step = callback_us_per_step(200 if args.quick else 2000)
    per_step_reading = callback_us_per_step(200 if args.quick else 2000,
                                            counting=False)
    main_job_seconds("autolr", 1, 256, 0.05)  # warm up caches and imports
    ratios, auto_s, cosine_s, peak = [], [], [], 0.05
    hook_share, test_share = [], []
    for _ in range(pairs):
        a, autolr = main_job_seconds("autolr", 10, 256, None)
        peak = autolr.peak_lr
        c, _ = main_job_seconds("cosine", 10, 256, peak)
        auto_s.append(a)
        cosine_s.append(c)
        ratios.append(a / c)
        hook_share.append(autolr.hook_seconds / a)
        test_share.append(autolr.test_seconds / a)
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} cores",
        "versions": {"tensorflow": _keras.tf.__version__ if _keras.tf else None, "keras": getattr(
            keras, "__version__", "2"), "python": platform.python_version()},
        "detector_test_ms": {str(k): v for k, v in tests.items()},
        "callback_us_per_step": per_step,
        "callback_us_per_step_reading_every_execution": per_step_reading,
        "replay_1e6_seconds_first": replay_first,
        "replay_1e6_seconds": replay_s,
        "replay_1e6_tests": replay_tests,
        "load_average_1min": os.getloadavg()[0],
        "main_job_seconds_autolr": auto_s,
        "main_job_seconds_cosine": cosine_s,
        "wall_ratio_median": float(np.median(ratios)),
        "tests_in_main_job": len(autolr.decision.tests),
        "main_job_autolr_hooks_share": hook_share,
        "main_job_autolr_tests_share": test_share,
    }
    if args.snapshot_steps:
        result["snapshots"] = dict(snapshot_cost(args.snapshot_steps),
                                   date=result["date"])
    elif os.path.exists(args.out):  # keep the last snapshot measurement
        with open(args.out) as f:
            kept = json.load(f).get("snapshots")
        if kept is not None:
            result["snapshots"] = kept
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print("| measure | value | target |\n|---|---|---|")
    for n, ms in tests.items():
        print(f"| one detector test, {n:.0e} steps recorded | {ms:.1f} ms | <= 100 ms |")
    print(f"| callback per step, no test due | {per_step:.1f} us "
          f"({per_step_reading:.1f} us reading every execution) | <= 20 us |")
    print(f"| replay of a 1e6-step loss log ({replay_tests} tests) | "
          f"{replay_s:.2f} s ({replay_first:.2f} s first call) | <= 3 s |")
    print(f"| main job wall time, AutoLR / CosineDecay+warmup | "
          f"{result['wall_ratio_median']:.3f} (median of {pairs}) | <= 1.05 |")
    print(f"| main job: AutoLR's hooks / its `fit`'s wall time | "
          f"{np.median(hook_share):.3f} (median of {pairs}; its "
          f"{result['tests_in_main_job']} tests: {np.median(test_share):.3f}) | "
          f"<= 0.05 |")
    if "snapshots" in result:
        _print_snapshots(result["snapshots"])
    return 0


def _report_snapshots(out, snapshots):
    """Writes only the snapshot measurement into the results file (others kept)."""
    result = {}
    if os.path.exists(out):
        with open(out) as f:
            result = json.load(f)
    snapshots["date"] = datetime.date.today().isoformat()
    result["snapshots"] = snapshots
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("| measure | value | target |\n|---|---|---|")
    _print_snapshots(snapshots)
    return 0


def _print_snapshots(s):
    print(f"| snapshots held, {s['parameters'] / 1e6:.1f}M parameters + Adam | "
          f"{s['held_bytes'] / 2 ** 20:.0f} MiB = {s['held_over_two_copies']:.2f}"
          f" x 2 copies | <= 1 x 2 copies |")
    print(f"| time copying: {s['snapshots']} snapshots x "
          f"{1e3 * s['seconds_per_snapshot']:.0f} ms, of a {s['steps']}-step fit"
          f" of {s['fit_seconds']:.0f} s ({1e3 * s['seconds_per_step']:.0f} ms/step)"
          f" | {100 * s['share_of_fit']:.2f} % | <= 2 % |")


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    sys.exit(main())
