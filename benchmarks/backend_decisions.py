"""The same decision on every backend: one model, one dataset, three backends.

    python benchmarks/backend_decisions.py --python jax=/path/bin/python \\
        --python torch=/path/bin/python            # about 3 minutes on 2 cores

Issue 24, item 4. A digits MLP (sklearn's 1,797 8x8 digits: 1,400 to train,
397 to test; Dense 64 relu, Dense 10), Adam at its default LR, batch 64, 9
epochs (198 steps), `AutoLR()` with its defaults, seeds 0, 1, 2, in a fresh
process per backend and seed with `KERAS_BACKEND` set. Each run reports the
switch step, the peak LR, the reason, the steps of the detector's tests and
the test accuracy. The criterion: on each seed the switch steps of the
backends lie within one test of each other (the test cadence's spacing),
and the accuracies within the seed-to-seed spread.

The backends draw their initial weights and batches from their own random
generators, so the same seed is not the same run across backends: the
decisions are compared as a user would compare them, not bit for bit. On
one recorded loss curve the decision is the same to the bit on every
backend (tests/test_without_tensorflow.py).

Writes benchmarks/results/backend_decisions.json and prints a table.
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


def child(seed):
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
    model.fit(x[:1400], y[:1400], batch_size=64, epochs=9, verbose=0, callbacks=[autolr])
    decision = autolr.decision
    return dict(
        backend=keras.backend.backend(), seed=seed, switch_step=decision.switch_step,
        peak_lr=decision.peak_lr, reason=decision.reason,
        test_steps=[t.step for t in decision.tests], total_steps=decision.total_steps,
        accuracy=float(model.evaluate(x[1400:], y[1400:], verbose=0)[1]))


def _run(python, backend, seed):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([python, os.path.abspath(__file__), "--child", str(seed)],
                          env=env, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend} seed {seed} failed:\n{done.stderr[-3000:]}")


def summary(runs):
    """Per seed: the spread of the switch steps against the tests' spacing."""
    rows = []
    for seed in sorted({r["seed"] for r in runs}):
        same = [r for r in runs if r["seed"] == seed]
        switches = [r["switch_step"] for r in same]
        spacing = min((b - a for r in same for a, b in zip(r["test_steps"], r["test_steps"][1:])),
                      default=None)
        rows.append(dict(seed=seed, switches={r["backend"]: r["switch_step"] for r in same},
                         spread=max(switches) - min(switches), test_spacing=spacing,
                         within_one_test=spacing is not None
                         and max(switches) - min(switches) <= spacing))
    accuracy = {b: [r["accuracy"] for r in runs if r["backend"] == b]
                for b in dict.fromkeys(r["backend"] for r in runs)}
    return dict(seeds=rows, accuracy_mean={b: statistics.mean(a) for b, a in accuracy.items()},
                accuracy_stdev={b: statistics.stdev(a) if len(a) > 1 else 0.0
                                for b, a in accuracy.items()})


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
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print("RESULT " + json.dumps(child(args.child)), flush=True)
        return 0
    pythons = dict(item.split("=", 1) for item in args.python)
    runs = []
    for seed in SEEDS:
        for backend in BACKENDS:
            runs.append(_run(pythons.get(backend, sys.executable), backend, seed))
            print(f"{backend} seed {seed}: switch {runs[-1]['switch_step']}, "
                  f"accuracy {runs[-1]['accuracy']:.3f}", flush=True)
    result = dict(date=datetime.date.today().isoformat(), runs=runs, summary=summary(runs),
                  cores=os.cpu_count())
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(table(result))
    print(json.dumps(result["summary"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
