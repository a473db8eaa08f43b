"""Quality of AutoLR against tuned schedules, across tasks and batch sizes.

    python benchmarks/quality.py --quick      # CI: ~1.5 minutes on 2 cores
    python benchmarks/quality.py              # full: 3 tasks x 3 batches x 3 seeds
                                              # x 18 contenders (~50 min on 2 cores)
    KERAS_AUTOLR_BENCH_THREADS=1 python benchmarks/quality.py ...   # 1 thread

Trains the same model on the same data with the same budget (epochs) and
seeds under each contender, and records the test accuracy of every run:

- `autolr`: `AutoLR()` with its library defaults and LAMB, no tuning.
- `autolr-<opt>-<peak>-f<factor>`: AutoLR variants; every token optional,
  missing ones take the library default. `<opt>`: `lamb`, `adam`, `adamw`,
  `adamp` (`keras_autolr.optimizers.AdamP`, skipped when it does not import);
  `<peak>`: `min` (minimum of the smoothed loss, the paper) or `steepest`;
  `f<factor>`: `peak_factor`; `detonly`: the factor applies only when the
  detector found the minimum (not when warmup hit its cap, where the loss
  was still falling: a candidate rule, implemented here by a subclass);
  `w<fraction>`: `max_warmup_fraction`. `autolr-paper` is `autolr-min-f1`.
- `grid`: linear warmup over 5% of the steps, then cosine to zero, LAMB,
  peak LR from a grid (`--grid`, 7 log-spaced values from 1e-3 to 1 by
  default); the tuned baseline is the grid LR with the best mean validation
  accuracy over the seeds, and its cost is one run per grid value.
- `constant`: LAMB's default constant LR (1e-3).
- `plateau`: LAMB from 1e-3 with `ReduceLROnPlateau(monitor="val_loss",
  factor=0.5, patience=2)` (Keras' patience of 10 epochs never acts within
  these budgets).

Writes `benchmarks/results/<name>.json` after every run (machine, versions,
date, every run); `--resume` skips the runs that file already holds, so a
study can be run in parts. Then `benchmarks/report.py` makes the Markdown
table and the PNG plot from it.
"""

import argparse
import dataclasses
import datetime
import gc
import json
import math
import os
import platform
import re
import sys
import time
import warnings

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)


def _limit_threads():
    """`KERAS_AUTOLR_BENCH_THREADS=n`: n intra-op and n inter-op threads."""
    threads = os.environ.get("KERAS_AUTOLR_BENCH_THREADS")
    if not threads:
        return None
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(threads))
    tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    return int(threads)


THREADS = _limit_threads()  # before TensorFlow runs anything

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import _tasks  # noqa: E402
import keras_autolr  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
from keras_autolr.training.engine import write_schedule  # noqa: E402

SCHEMA = 1
RESULTS_DIR = os.path.join(_HERE, "results")
DEFAULT_GRID = tuple(float(f"{v:.4g}") for v in np.logspace(-3, 0, 7))
QUICK_GRID = (1e-2, 3.162e-2, 1e-1)
WARMUP_FRACTION = 0.05  # of the grid baseline
PLATEAU = dict(monitor="val_loss", factor=0.5, patience=2, min_lr=1e-6)

# The variants that choose the default peak rule, then the candidate fixes
# for short budgets that the study rejected (see README, Quality benchmark).
VARIANTS = ("autolr-paper", "autolr-min-f0.5", "autolr-min-f0.3",
            "autolr-min-f0.1", "autolr-steepest-f1", "autolr-min-f0.3-detonly",
            "autolr-steepest-f1-w0.25", "autolr-min-f0.3-w0.25")
FULL_CONTENDERS = ("autolr",) + VARIANTS + (
    "autolr-adam", "autolr-adamw", "autolr-adamp", "autolr-adam-min-f1",
    "autolr-adamw-min-f1", "autolr-adamp-min-f1", "grid", "constant", "plateau")
QUICK_CONTENDERS = ("autolr", "autolr-min-f0.3", "grid", "constant")
OPTIMIZERS = ("lamb", "adam", "adamw", "adamp", "rmsprop")
QUICK_EPOCHS = None  # quick keeps the task budgets; it runs fewer cells


# ---------------------------------------------------------------- contenders
@dataclasses.dataclass(frozen=True)
class Contender:
    """A training recipe: schedule kind, optimizer, AutoLR options."""

    name: str
    kind: str  # "autolr", "grid", "constant", "plateau"
    optimizer: str = "lamb"
    autolr_options: tuple = ()  # sorted (key, value) pairs given explicitly

    def resolved_options(self):
        """AutoLR's effective options (explicit ones over library defaults)."""
        if self.kind != "autolr":
            return None
        callback = make_autolr(self.autolr_options)
        resolved = callback.options
        options = {name: getattr(resolved, name) for name in (
            "peak", "peak_factor", "check_every", "initial_noise",
            "require_descent", "rewind", "sweep_start", "own_lr_floor")}
        if isinstance(callback, FactorOnDetection):
            options["factor_on"] = "detected"
        for name in ("min_lr", "max_lr", "max_warmup_fraction", "warmup", "decay"):
            options[name] = getattr(callback._template, name)
        return options

    def same_as_key(self):
        """Runs with equal keys train identically (None: not an AutoLR run)."""
        if self.kind != "autolr":
            return None
        return _twin_key(self.optimizer, self.resolved_options())

    def runs(self, grid):
        """(run_id, learning rate or None) of each run this contender costs."""
        if self.kind == "grid":
            return [(f"grid@{lr:.4g}", float(lr)) for lr in grid]
        return [(self.name, None)]


def _twin_key(optimizer, options):
    return optimizer + json.dumps(options, sort_keys=True)


def parse_contender(name):
    """`Contender` from a name (see the module docstring)."""
    if name in ("grid", "constant", "plateau"):
        return Contender(name, name)
    for kind, prefix in (("own", "own-lr-cosine"), ("constant", "constant")):
        if name.startswith(prefix + "-") or name == prefix:
            optimizer = name[len(prefix) + 1:] or "lamb"
            if optimizer not in OPTIMIZERS:
                raise ValueError(f"Unknown contender. Received contender={name!r}")
            return Contender(name, kind, optimizer)
    tokens = name.split("-")
    if tokens[0] != "autolr":
        raise ValueError(f"Unknown contender. Received contender={name!r}")
    optimizer, options = "lamb", {}
    for token in tokens[1:]:
        if token in OPTIMIZERS:
            optimizer = token
        elif token == "paper":
            options.update({k: v for k, v in keras_autolr.PAPER.get_config().items()
                            if v != getattr(keras_autolr.Options(), k)})
        elif token == "sweep":
            options["sweep_start"] = "min_lr"
        elif token == "nofloor":
            options["own_lr_floor"] = False
        elif token == "norewind":
            options["rewind"] = False
        elif token == "noguard":
            options["require_descent"] = False
        elif token in ("min", "minimum"):
            options["peak"] = "minimum"
        elif token == "steepest":
            options["peak"] = "steepest"
        elif re.fullmatch(r"f[0-9.]+", token):
            options["peak_factor"] = float(token[1:])
        elif re.fullmatch(r"lo[0-9.]+", token):
            options["min_lr"] = float(token[2:])
        elif re.fullmatch(r"w[0-9.]+", token):
            options["max_warmup_fraction"] = float(token[1:])
        elif token == "detonly":
            options["factor_on"] = "detected"
        else:
            raise ValueError(
                f"Unknown token {token!r} in contender. Received contender={name!r}")
    return Contender(name, "autolr", optimizer, tuple(sorted(options.items())))


class FactorOnDetection(keras_autolr.AutoLR):
    """AutoLR whose `peak_factor` applies only to a detected minimum.

    At the warmup cap (or a divergence-free end of warmup without
    detection) the loss was still falling, so the GP's best LR is the LR at
    the cap, already a lower bound of the loss minimum: it is kept whole.
    """

    def _apply_switch(self):
        controller = self.controller
        if controller.reason == "cap" and self.options.peak_factor < 1.0:
            schedule = self.schedule
            lr_now = float(schedule.warmup_lr(
                min(controller.switch_step, schedule.warmup_steps)))
            controller.peak_lr = min(controller.peak_lr / self.options.peak_factor, lr_now)
            write_schedule(controller)  # the engine wrote the scaled peak already
        super()._apply_switch()


SCHEDULE_SHAPE = ("min_lr", "max_lr", "max_warmup_fraction", "warmup", "decay",
                  "cooldown_fraction")


def make_autolr(options, **kwargs):
    """`AutoLR` (or `FactorOnDetection`) from a contender's options.

    `options` holds `AutoLRSchedule` shape names and `Options` fields,
    flat (a contender's tokens); `kwargs` more `Options` fields.
    """
    options = dict(options, **kwargs)
    cls = FactorOnDetection if options.pop("factor_on", None) else keras_autolr.AutoLR
    shape = {k: options.pop(k) for k in SCHEDULE_SHAPE if k in options}
    schedule = keras_autolr.AutoLRSchedule(**shape) if shape else None
    return cls(verbose=0, schedule=schedule, options=keras_autolr.Options(**options))


def adamp_available():
    try:
        from keras_autolr.optimizers import AdamP  # noqa: F401
    except Exception:  # not written yet, or broken: the contender is skipped
        return False
    return True


def make_optimizer(kind, learning_rate=1e-3):
    if kind == "lamb":
        if hasattr(keras.optimizers, "Lamb"):  # Keras 3
            return keras.optimizers.Lamb(learning_rate=learning_rate)
        import tensorflow_addons as tfa  # Keras 2: the legacy lane's LAMB

        return tfa.optimizers.LAMB(learning_rate=learning_rate)
    if kind == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate)
    if kind == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=learning_rate)
    if kind == "adamw":
        return keras.optimizers.AdamW(learning_rate=learning_rate)
    if kind == "adamp":
        from keras_autolr.optimizers import AdamP

        return AdamP(learning_rate=learning_rate)
    raise ValueError(f"Unknown optimizer. Received optimizer={kind!r}")


def warmup_cosine(peak_lr, total_steps):
    """Linear warmup from 0 over 5% of the steps, then cosine to 0."""
    warmup = max(1, int(round(WARMUP_FRACTION * total_steps)))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, total_steps - warmup),
        alpha=0.0, warmup_target=peak_lr, warmup_steps=warmup)


# ---------------------------------------------------------------- one run
def train_one(task, split, contender, run_id, lr, batch_size, seed, epochs):
    """Trains one run; returns its record (a JSON-able dict)."""
    steps = task.steps(len(split.x_train), batch_size, epochs)
    model = task.build_model(seed)
    callbacks, autolr, validation = [], None, None
    if contender.kind == "autolr":
        optimizer = make_optimizer(contender.optimizer)
        autolr = make_autolr(contender.autolr_options, seed=seed)
        callbacks.append(autolr)
    elif contender.kind == "grid":
        optimizer = make_optimizer("lamb", warmup_cosine(lr, steps))
    elif contender.kind == "constant":
        optimizer = make_optimizer(contender.optimizer)
    elif contender.kind == "own":  # the optimizer's own LR, warmup + cosine
        optimizer = make_optimizer(contender.optimizer, warmup_cosine(1e-3, steps))
    elif contender.kind == "plateau":
        optimizer = make_optimizer("lamb")
        callbacks.append(keras.callbacks.ReduceLROnPlateau(**PLATEAU))
        validation = (split.x_val, split.y_val)
    else:
        raise ValueError(f"Unknown contender kind {contender.kind!r}")
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=False)
    keras.utils.set_random_seed(seed)  # the same shuffles for every contender
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(split.x_train, split.y_train, batch_size=batch_size,
                            epochs=epochs, verbose=0, callbacks=callbacks,
                            validation_data=validation)
    wall = time.perf_counter() - start
    val_loss, val_acc = model.evaluate(split.x_val, split.y_val,
                                       batch_size=4096, verbose=0)
    test_loss, test_acc = model.evaluate(split.x_test, split.y_test,
                                         batch_size=4096, verbose=0)
    train_loss = history.history["loss"][-1]
    record = dict(
        task=task.name, batch_size=batch_size, seed=seed,
        contender=contender.name, run_id=run_id, kind=contender.kind,
        optimizer=contender.optimizer, lr=lr, epochs=epochs, steps=steps,
        steps_per_epoch=steps // epochs,
        test_accuracy=_num(test_acc), test_loss=_num(test_loss),
        val_accuracy=_num(val_acc), val_loss=_num(val_loss),
        final_train_loss=_num(train_loss), wall_s=round(wall, 3),
        warnings=sorted({str(w.message)[:160] for w in caught
                         if "AutoLR" in str(w.message)}),
    )
    if autolr is not None:
        decision = autolr.decision
        record["autolr"] = dict(
            options=contender.resolved_options(),
            switch_step=decision.switch_step, peak_lr=_num(decision.peak_lr),
            reason=decision.reason, tests=len(decision.tests),
            warmup_cap=decision.warmup_steps,
        )
    if contender.kind == "plateau":
        record["final_lr"] = _num(float(np.asarray(model.optimizer.learning_rate)))
    return record


def _num(value):
    """A float for JSON: None for NaN or Inf."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------- the study
def environment():
    import keras as keras_package

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__,
                "keras": keras_package.__version__, "numpy": np.__version__,
                "keras_autolr": keras_autolr.__version__}
    versions["keras_autolr_git"] = _git_describe()
    for module in ("sklearn", "mlxtend"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            pass
    machine = {"platform": platform.platform(), "machine": platform.machine(),
               "processor": _cpu_name(), "cpu_count": os.cpu_count(),
               "threads": THREADS,
               "gpus": len(tf.config.list_physical_devices("GPU"))}
    return machine, versions


def _git_describe():
    """HEAD of the repository the package runs from, `+dirty` if edited."""
    import subprocess

    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_autolr.__file__)))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "keras_autolr"],
                               cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def parse_batches(values, tasks, quick):
    """`--batches 64,256` (every task) or `--batches digits=64,256` (one task)."""
    batches = {t: list(_tasks.TASKS[t].quick_batches if quick
                       else _tasks.TASKS[t].batches) for t in tasks}
    for value in values or []:
        if "=" in value:
            name, sizes = value.split("=", 1)
            targets = [name]
        else:
            targets, sizes = tasks, value
        for name in targets:
            if name not in batches:
                raise ValueError(f"--batches names a task not run: {name!r}")
            batches[name] = [int(s) for s in sizes.split(",") if s]
    return batches


def _split_list(value):
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="CI mode: 1 seed, 2 batches per task, 4 contenders, "
                             "a 3-point grid (about 2 minutes)")
    parser.add_argument("--tasks", default=None,
                        help=f"comma list of {sorted(_tasks.TASKS)} (default: all)")
    parser.add_argument("--batches", action="append",
                        help="'64,256' for every task or 'digits=64,256' for one; "
                             "repeatable (default: the task's own)")
    parser.add_argument("--seeds", default=None,
                        help="comma list (default 0,1,2; quick: 0)")
    parser.add_argument("--contenders", default=None,
                        help="comma list (default: " + ",".join(FULL_CONTENDERS) + ")")
    parser.add_argument("--grid", default=None,
                        help="comma list of peak LRs of the grid baseline "
                             "(default: 7 log-spaced from 1e-3 to 1)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every task's epoch budget (smoke tests)")
    parser.add_argument("--name", default=None,
                        help="results name (default: quick or full)")
    parser.add_argument("--out-dir", default=RESULTS_DIR)
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs of an existing results file; skip them")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write the Markdown table and plot")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    tasks = _split_list(args.tasks) if args.tasks else list(_tasks.TASKS)
    for name in tasks:
        if name not in _tasks.TASKS:
            raise SystemExit(f"Unknown task {name!r}; known: {sorted(_tasks.TASKS)}")
    batches = parse_batches(args.batches, tasks, args.quick)
    seeds = ([int(s) for s in _split_list(args.seeds)] if args.seeds
             else [0] if args.quick else [0, 1, 2])
    names = (_split_list(args.contenders) if args.contenders
             else list(QUICK_CONTENDERS if args.quick else FULL_CONTENDERS))
    contenders = [parse_contender(n) for n in names]
    skipped = []
    if any(c.optimizer == "adamp" for c in contenders) and not adamp_available():
        skipped = [c.name for c in contenders if c.optimizer == "adamp"]
        contenders = [c for c in contenders if c.optimizer != "adamp"]
        print(f"skipping {skipped}: keras_autolr.optimizers.AdamP does not import")
    grid = ([float(v) for v in _split_list(args.grid)] if args.grid
            else list(QUICK_GRID if args.quick else DEFAULT_GRID))
    name = args.name or ("quick" if args.quick else "full")
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"{name}.json")

    machine, versions = environment()
    config = dict(started=_now(), keras_autolr_git=versions.get("keras_autolr_git"),
                  tasks=tasks, batches=batches, seeds=seeds,
                  contenders=[c.name for c in contenders], grid=grid,
                  epochs={t: args.epochs or _tasks.TASKS[t].epochs for t in tasks},
                  grid_warmup_fraction=WARMUP_FRACTION, plateau=PLATEAU,
                  quick=args.quick, skipped_contenders=skipped,
                  command="python benchmarks/quality.py " + " ".join(
                      argv if argv is not None else sys.argv[1:]))
    results = dict(schema=SCHEMA, name=name, machine=machine, versions=versions,
                   started=_now(), config=config, tasks={}, runs=[])
    if args.resume and os.path.exists(path):
        with open(path) as previous:
            old = json.load(previous)
        results["runs"] = old.get("runs", [])
        results["tasks"] = old.get("tasks", {})
        results["started"] = old.get("started", results["started"])
        results["parts"] = old.get("parts", [old.get("config")]) + [config]
    _relabel_stale(results["runs"], contenders)
    done = {_key(r) for r in results["runs"]}
    twins = {}  # AutoLR runs by what decides them, to copy instead of rerun
    for run in results["runs"]:
        if run["kind"] == "autolr" and "same_as" not in run:
            twins[(run["task"], run["batch_size"], run["seed"], _twin_key(
                run["optimizer"], run["autolr"]["options"]))] = run

    total_runs = sum(len(c.runs(grid)) for c in contenders) * len(seeds) * sum(
        len(batches[t]) for t in tasks)
    count, study_start = 0, time.perf_counter()
    for task_name in tasks:
        task = _tasks.TASKS[task_name]
        split = task.load()
        results["tasks"][task_name] = dict(description=task.description,
                                           sizes=split.sizes,
                                           epochs=args.epochs or task.epochs)
        epochs = args.epochs or task.epochs
        for batch_size in batches[task_name]:
            for seed in seeds:
                for contender in contenders:
                    for run_id, lr in contender.runs(grid):
                        count += 1
                        key = (task_name, batch_size, seed, run_id)
                        if key in done:
                            continue
                        twin = twins.get((task_name, batch_size, seed,
                                          contender.same_as_key()))
                        if twin is not None:  # e.g. `autolr` is `autolr-paper`
                            record = dict(twin, contender=contender.name,
                                          run_id=run_id, same_as=twin["run_id"])
                        else:
                            record = train_one(task, split, contender, run_id, lr,
                                               batch_size, seed, epochs)
                        if contender.kind == "autolr" and "same_as" not in record:
                            twins[(task_name, batch_size, seed,
                                   contender.same_as_key())] = record
                        results["runs"].append(record)
                        done.add(key)
                        results["updated"] = _now()
                        _save(results, path)
                        _progress(count, total_runs, record, study_start)
                        gc.collect()
    results["finished"] = _now()
    _save(results, path)
    print(f"results: {path}")
    if not args.no_report:
        import report

        for written in report.write_report(path):
            print(f"report: {written}")
    return 0


def canonical_name(optimizer, options):
    """An explicit contender name for AutoLR `options` (None if it has none)."""
    defaults = dict(check_every="auto", min_lr=1e-5, max_lr=1.0, warmup="exponential",
                    decay="cosine")
    if any(options.get(k, v) != v for k, v in defaults.items()):
        return None
    name = "autolr" + ("" if optimizer == "lamb" else f"-{optimizer}")
    name += "-min" if options["peak"] == "minimum" else "-steepest"
    name += f"-f{options['peak_factor']:g}"
    if options.get("max_warmup_fraction", 0.5) != 0.5:
        name += f"-w{options['max_warmup_fraction']:g}"
    if options.get("factor_on"):
        name += "-detonly"
    # Every option a token gives is in the name: two runs with different
    # options never share one (`autolr` and `autolr-norewind` once did).
    for key, default, token in (("rewind", True, "norewind"),
                                ("require_descent", True, "noguard"),
                                ("own_lr_floor", True, "nofloor"),
                                ("sweep_start", "own_lr", None)):
        value = options.get(key, default)
        if value == default:
            continue
        if key == "sweep_start" and value == "min_lr":
            token = "sweep"
        if token is None:
            return None
        name += f"-{token}"
    return name


def _relabel_stale(runs, contenders):
    """Renames resumed AutoLR runs whose options the name no longer gives.

    A name that leaves options to the library defaults (`autolr`,
    `autolr-adam`) means other options once the defaults change: its old
    runs keep their results under an explicit name (`autolr-adam-min-f1`),
    and the name is trained anew.
    """
    current = {c.name: c.resolved_options() for c in contenders if c.kind == "autolr"}
    for run in runs:
        options = current.get(run["contender"])
        if options is None or run["kind"] != "autolr" or run["autolr"]["options"] == options:
            continue
        name = canonical_name(run["optimizer"], run["autolr"]["options"])
        if name is None or name == run["contender"]:
            continue
        print(f"relabelling stale run {_key(run)} as {name!r}: its options "
              f"{run['autolr']['options']} are no longer what the name gives")
        run["relabelled_from"] = run["contender"]
        run["contender"] = run["run_id"] = name
        run.pop("same_as", None)


def _key(record):
    return (record["task"], record["batch_size"], record["seed"], record["run_id"])


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _save(results, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as out:
        json.dump(results, out, indent=1)
    os.replace(tmp, path)


def _progress(count, total, record, start):
    extra = ""
    if "autolr" in record:
        a = record["autolr"]
        extra = (f" switch {a['switch_step']}/{record['steps']} ({a['reason']}) "
                 f"peak {a['peak_lr'] or float('nan'):.3g}")
    print(f"[{count}/{total} {time.perf_counter() - start:6.0f}s] "
          f"{record['task']} b{record['batch_size']} s{record['seed']} "
          f"{record['run_id']}: test {record['test_accuracy'] or 0:.4f} "
          f"val {record['val_accuracy'] or 0:.4f} ({record['wall_s']:.1f}s){extra}",
          flush=True)


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    sys.exit(main())
