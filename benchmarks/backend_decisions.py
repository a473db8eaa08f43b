"""The same decision on every backend: one model, one dataset, three backends.

    python benchmarks/backend_decisions.py --python jax=/path/bin/python \\
        --python torch=/path/bin/python            # about 3 minutes on 2 cores
    python benchmarks/backend_decisions.py --no-same-run ...   # own generators

Issue 24, item 4. A digits MLP (sklearn's 1,797 8x8 digits: 1,400 to train,
397 to test; Dense 64 relu, Dense 10), Adam at its default LR, batch 64, 9
epochs (198 steps), `AutoLR()` with its defaults and `Options(seed=seed)`,
seeds 0, 1, 2, in a fresh process per backend and seed with `KERAS_BACKEND`
set. Each run reports the switch step, the peak LR, the reason, the steps of
the detector's tests and the test accuracy. The criterion: on each seed the
switch steps of the backends lie within one test of each other (the test
cadence's spacing), and the accuracies within the seed-to-seed spread.

By default the runs are the same run on every backend, as a user comparing
backends sets them up: the initial weights come from NumPy
(`model.set_weights`, Glorot uniform kernels and zero biases drawn from the
seed), and the batches from a generator that permutes the training set each
epoch with a NumPy generator of the seed, so every backend sees the same
batches in the same order. What remains are the floating-point differences
of the backends' kernels; the summary reports how far the recorded loss
curves drift apart, step by step. With `--no-same-run` each backend draws
its initial weights and batches from its own generators (`fit` with
`shuffle=True`), so one seed is three different runs; those results are
kept under the key `own_rng`. On one recorded loss curve the decision is the
same to the bit on every backend (tests/test_without_tensorflow.py).

Writes benchmarks/results/backend_decisions.json (keeping the other mode's
results) and prints a table.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
BACKENDS = ("tensorflow", "jax", "torch")
SEEDS = (0, 1, 2)
EPOCHS = 9
BATCH = 64
N_TRAIN = 1400


def child(seed, same_run=True):
    """One run on the backend of this process: its decision and accuracy."""
    import numpy as np
    from sklearn.datasets import load_digits

    import keras_autolr
    from keras_autolr._keras import keras

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    autolr = keras_autolr.AutoLR(verbose=0, options=keras_autolr.Options(seed=seed))
    if same_run:
        rng = np.random.default_rng(seed)
        model.set_weights(_initial_weights(model.get_weights(), rng))
        steps_per_epoch = -(-N_TRAIN // BATCH)
        model.fit(_batches(x[:N_TRAIN], y[:N_TRAIN], rng), epochs=EPOCHS,
                  steps_per_epoch=steps_per_epoch, shuffle=False, verbose=0,
                  callbacks=[autolr])
    else:
        model.fit(x[:N_TRAIN], y[:N_TRAIN], batch_size=BATCH, epochs=EPOCHS, verbose=0,
                  callbacks=[autolr])
    decision = autolr.decision
    return dict(
        backend=keras.backend.backend(), seed=seed, switch_step=decision.switch_step,
        peak_lr=decision.peak_lr, reason=decision.reason,
        test_steps=[t.step for t in decision.tests], total_steps=decision.total_steps,
        accuracy=float(model.evaluate(x[N_TRAIN:], y[N_TRAIN:], verbose=0)[1]),
        loss=[float(v) for v in autolr.record.loss])


def _initial_weights(weights, rng):
    """Glorot uniform kernels and zero biases, drawn by NumPy from `rng`."""
    drawn = []
    for w in weights:
        if w.ndim == 2:
            limit = (6.0 / (w.shape[0] + w.shape[1])) ** 0.5
            drawn.append(rng.uniform(-limit, limit, w.shape).astype(w.dtype))
        else:
            drawn.append(w * 0)
    return drawn


def _batches(x, y, rng):
    """Every epoch's batches in order: the training set permuted by `rng` per epoch."""
    for _ in range(EPOCHS):
        order = rng.permutation(len(x))
        for start in range(0, len(x), BATCH):
            batch = order[start:start + BATCH]
            yield x[batch], y[batch]


def _run(python, backend, seed, same_run):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    command = [python, os.path.abspath(__file__), "--child", str(seed)]
    if not same_run:
        command.append("--no-same-run")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend} seed {seed} failed:\n{done.stderr[-3000:]}")


def summary(runs):
    """Per seed: the spread of the switch steps against the tests' spacing.

    Also per seed: the spread of the accuracies across backends, and how far
    the recorded loss curves lie apart (the largest difference between two
    backends' losses at a step), at the first step and at most up to the
    earliest switch, with the whole curve of that difference up to there.
    """
    rows = []
    for seed in sorted({r["seed"] for r in runs}):
        same = [r for r in runs if r["seed"] == seed]
        switches = [r["switch_step"] for r in same]
        spacing = min((b - a for r in same for a, b in zip(r["test_steps"], r["test_steps"][1:])),
                      default=None)
        accuracies = [r["accuracy"] for r in same]
        rows.append(dict(seed=seed, switches={r["backend"]: r["switch_step"] for r in same},
                         spread=max(switches) - min(switches), test_spacing=spacing,
                         within_one_test=spacing is not None
                         and max(switches) - min(switches) <= spacing,
                         accuracy_spread=max(accuracies) - min(accuracies),
                         **_loss_difference(same)))
    accuracy = {b: [r["accuracy"] for r in runs if r["backend"] == b]
                for b in dict.fromkeys(r["backend"] for r in runs)}
    return dict(seeds=rows, accuracy_mean={b: statistics.mean(a) for b, a in accuracy.items()},
                accuracy_stdev={b: statistics.stdev(a) if len(a) > 1 else 0.0
                                for b, a in accuracy.items()})


def _loss_difference(same):
    """The backends' recorded losses, step by step: max minus min at each step."""
    losses = [r.get("loss") for r in same]
    if not all(losses):
        return {}
    end = min(min(len(loss) for loss in losses),
              min(r["switch_step"] or len(r["loss"]) for r in same))
    difference = [max(step) - min(step) for step in zip(*(loss[:end] for loss in losses))]
    if not difference:
        return {}
    mean_loss = statistics.mean(v for loss in losses for v in loss[:end])
    return dict(loss_difference_first_step=difference[0],
                loss_difference_max=max(difference),
                loss_difference_max_step=difference.index(max(difference)),
                loss_difference_relative_max=max(difference) / mean_loss,
                loss_difference=difference)


def table(result):
    lines = ["| backend | seed | switch step | peak LR | reason | tests (steps) | test accuracy |",
             "|---|---|---|---|---|---|---|"]
    for r in result["runs"]:
        steps = r["test_steps"]
        tests = f"{len(steps)} ({steps[0]} to {steps[-1]})" if steps else "0"
        lines.append(f"| {r['backend']} | {r['seed']} | {r['switch_step']} | "
                     f"{r['peak_lr']:.4g} | {r['reason']} | {tests} | "
                     f"{100 * r['accuracy']:.1f} % |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH")
    parser.add_argument("--out", default=os.path.join(_HERE, "results", "backend_decisions.json"))
    parser.add_argument("--same-run", action=argparse.BooleanOptionalAction, default=True,
                        help="the same initial weights and batches on every backend "
                             "(default); --no-same-run: each backend's own generators")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print("RESULT " + json.dumps(child(args.child, args.same_run)), flush=True)
        return 0
    pythons = dict(item.split("=", 1) for item in args.python)
    runs = []
    for seed in SEEDS:
        for backend in BACKENDS:
            runs.append(_run(pythons.get(backend, sys.executable), backend, seed, args.same_run))
            print(f"{backend} seed {seed}: switch {runs[-1]['switch_step']}, "
                  f"accuracy {runs[-1]['accuracy']:.3f}", flush=True)
    mode = dict(date=datetime.date.today().isoformat(), runs=runs, summary=summary(runs),
                cores=os.cpu_count())
    for run in runs:  # the curves are summarised; the runs keep their decisions
        del run["loss"]
    result = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            result = json.load(f)
    if args.same_run:
        result.update(mode)
    else:
        result["own_rng"] = mode
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(table(mode))
    print(json.dumps(mode["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
