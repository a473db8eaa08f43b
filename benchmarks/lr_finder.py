"""`find_lr` + cosine against the quality benchmark's 7-point grid (issues 14, 22).

    KERAS_AUTOLR_BENCH_THREADS=1 python benchmarks/lr_finder.py            # 9 cells x 2 seeds
    python benchmarks/lr_finder.py --tasks digits --batches digits=64 --seeds 0

For each cell (task, batch size) and seed of `benchmarks/quality.py`: one
`keras_autolr.find_lr` sweep of `--sweep-steps` steps (100, fastai's and
Lightning's default) with the cell's model, LAMB (its own LR 1e-3) and batch
size; then, for each rule below, the grid's recipe (LAMB, linear warmup over
5 % of the budget, cosine to 0; `quality.train_one`) with the rule's LR on
that same sweep as its peak, trained and tested exactly as a grid run:

- `one-test`: `result.suggestion`, AutoLR's peak on the sweep (0.4 x the
  GP minimum of one test on the whole record, floored at the own LR);
- `one-test-minimum`: `result.minimum`, the LR at that test's GP minimum;
- `valley`: `result.valley`, fastai's default rule (`lr_finder.valley`);
- `lightning`: `result.lightning_steepest`, Lightning's steepest-gradient
  rule up to 2.5.2 (`lr_finder.lightning_steepest`, unit spacing);
- `lightning-2.5.3`: the same with the gradient against the LRs
  (`spacing="lr"`, Lightning 2.5.3 and later).

Runs at the same LR are trained once. (AutoLR's live test cadence replayed
on the sweep, measured by earlier versions of this script, is in git
history: commit f4ddfa6, mean gap -22.0.)

The grid is not retrained: its runs are read from the quality study
(`git show f3def02:benchmarks/results/full.json`, contender `grid`, 3 seeds
x 7 LRs per cell); the tuned LR is the one with the best mean validation
accuracy over its 3 seeds, as in `benchmarks/quality.py`, and its test
accuracy is averaged over the seeds run here. Cost: a grid cell is 7 runs;
`find_lr` is one run plus the sweep (`compute` = (run + sweep steps) /
(7 x run steps); the batch size is the same, so steps measure compute).

Writes `benchmarks/results/<name>.json` (every run, machine, versions) and
`<name>.md` (the table).
"""

import argparse
import collections
import json
import math
import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import quality  # noqa: E402  (limits threads first: KERAS_AUTOLR_BENCH_THREADS)

import numpy as np  # noqa: E402

import _tasks  # noqa: E402
import keras_autolr  # noqa: E402
from keras_autolr.tools import lr_finder  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402

GRID_SOURCE = "f3def02:benchmarks/results/full.json"
SWEEP_STEPS = 100  # fastai's and Lightning's default sweep length
# (contender, what it reads): each rule's LR on the same sweep.
RULES = (("one-test", "suggestion"), ("one-test-minimum", "minimum"),
         ("valley", "valley"), ("lightning", "lightning_steepest"),
         ("lightning-2.5.3", "lightning_steepest_lr"))
SUGGESTION = RULES[0][0]  # find_lr's `result.suggestion`
# Issue 22's target: find_lr's suggestion has a better mean gap than these.
OTHERS = ("valley", "lightning", "lightning-2.5.3")


def rule_lrs(result):
    """{field: LR} of every rule in `RULES` on one `find_lr` result."""
    lightning_lr, _ = lr_finder.lightning_steepest(
        result.learning_rates, result.losses, spacing="lr")
    return dict(suggestion=result.suggestion, minimum=result.minimum,
                steepest=result.steepest, valley=result.valley,
                lightning_steepest=result.lightning_steepest,
                lightning_steepest_lr=lightning_lr)


def sweep(task, split, batch_size, seed, steps):
    """One `find_lr` on the cell's model with LAMB; returns its result and time."""
    model = task.build_model(seed)
    model.compile(
        optimizer=quality.make_optimizer("lamb"),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=False)
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    result = keras_autolr.find_lr(model, split.x_train, split.y_train,
                                  batch_size=batch_size, steps=steps)
    return result, time.perf_counter() - start


def load_grid(source):
    """Grid runs by cell: {(task, batch): {lr: [run, ...]}}."""
    if os.path.exists(source):
        with open(source) as f:
            study = json.load(f)
    else:
        root = os.path.dirname(_HERE)
        text = subprocess.run(["git", "show", source], cwd=root, check=True,
                              capture_output=True, text=True).stdout
        study = json.loads(text)
    cells = collections.defaultdict(lambda: collections.defaultdict(list))
    for run in study["runs"]:
        if run["contender"] == "grid":
            cells[(run["task"], run["batch_size"])][run["lr"]].append(run)
    return cells


def grid_best(by_lr, seeds):
    """The tuned LR (best mean validation accuracy) and its test accuracy on `seeds`."""
    best = max(by_lr, key=lambda lr: np.mean([r["val_accuracy"] for r in by_lr[lr]]))
    tests = [r["test_accuracy"] for r in by_lr[best] if r["seed"] in seeds]
    return best, float(np.mean(tests)) if tests else math.nan


def build_parser():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--tasks", default="digits,teacher,mnist")
    parser.add_argument("--batches", action="append",
                        help="'digits=64,256' (repeatable); default: the task's own")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--sweep-steps", type=int, default=SWEEP_STEPS)
    parser.add_argument("--grid-source", default=GRID_SOURCE,
                        help="a results JSON, or a git object holding one")
    parser.add_argument("--name", default="lr_finder")
    parser.add_argument("--out-dir", default=quality.RESULTS_DIR)
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite <name>.md from <name>.json, no training")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    tasks = quality._split_list(args.tasks)
    batches = quality.parse_batches(args.batches, tasks, quick=False)
    seeds = [int(s) for s in quality._split_list(args.seeds)]
    grid = load_grid(args.grid_source)
    path = os.path.join(args.out_dir, f"{args.name}.json")
    if args.report_only:
        with open(path) as f:
            results = json.load(f)
        return _write_report(results, grid, results["config"]["seeds"],
                             args.out_dir, args.name)
    machine, versions = quality.environment()
    results = dict(
        name=args.name, machine=machine, versions=versions,
        started=quality._now(),
        config=dict(tasks=tasks, batches=batches, seeds=seeds,
                    sweep_steps=args.sweep_steps, grid_source=args.grid_source,
                    command="python benchmarks/lr_finder.py " + " ".join(
                        argv if argv is not None else sys.argv[1:])),
        sweeps=[], runs=[])
    os.makedirs(args.out_dir, exist_ok=True)
    clock = time.perf_counter()
    for task_name in tasks:
        task = _tasks.TASKS[task_name]
        split = task.load()
        for batch_size in batches[task_name]:
            for seed in seeds:
                result, seconds = sweep(task, split, batch_size, seed,
                                        args.sweep_steps)
                lrs = rule_lrs(result)
                results["sweeps"].append(dict(
                    task=task_name, batch_size=batch_size, seed=seed,
                    steps=len(result.losses), stop_reason=result.stop_reason,
                    reason=result.decision.reason, rules=lrs,
                    wall_s=round(seconds, 3),
                    losses=[quality._num(v) for v in result.losses],
                    learning_rates=[float(v) for v in result.learning_rates]))
                trained = {}  # lr -> record: the same LR is the same run
                for contender, field in RULES:
                    lr = float(lrs[field])
                    if not math.isfinite(lr):
                        continue
                    if lr not in trained:
                        trained[lr] = quality.train_one(
                            task, split, quality.Contender(contender, "grid"),
                            f"{contender}@{lr:.4g}", lr, batch_size, seed,
                            task.epochs)
                    record = dict(trained[lr], contender=contender,
                                  run_id=f"{contender}@{lr:.4g}")
                    record.update(kind="find_lr", rule=field,
                                  sweep_steps=len(result.losses))
                    results["runs"].append(record)
                    print(f"[{time.perf_counter() - clock:6.0f}s] {task_name} "
                          f"b{batch_size} s{seed} {contender} lr {lr:.3g}: test "
                          f"{record['test_accuracy']:.4f} ({record['wall_s']:.1f}s"
                          f" + sweep {seconds:.1f}s)", flush=True)
                quality._save(results, path)
    results["finished"] = quality._now()
    quality._save(results, path)
    return _write_report(results, grid, seeds, args.out_dir, args.name)


def _write_report(results, grid, seeds, out_dir, name):
    table = report(results, grid, seeds)
    with open(os.path.join(out_dir, f"{name}.md"), "w") as out:
        out.write(table)
    print(table)
    return 0


def report(results, grid, seeds):
    """The Markdown table: one row per cell, test accuracy (%) mean over seeds."""
    runs = collections.defaultdict(list)
    for run in results["runs"]:
        runs[(run["task"], run["batch_size"], run["contender"])].append(run)
    sweeps = collections.defaultdict(list)
    for s in results["sweeps"]:
        sweeps[(s["task"], s["batch_size"])].append(s)
    names = [c for c, _ in RULES]
    lines = [
        f"# find_lr + cosine against the 7-point grid ({results['name']})", "",
        f"Seeds {seeds}; sweep {results['config']['sweep_steps']} steps at most "
        f"({len(results['sweeps'])} sweeps); grid from "
        f"`{results['config']['grid_source']}` (tuned LR: best mean "
        "validation accuracy over its 3 seeds; test accuracy on the seeds "
        "above). Each rule's LR on the same sweep is the peak of the grid's "
        "own recipe (5 % warmup, cosine). Test accuracy %, mean over seeds; "
        "LRs: geometric mean over seeds. `one-test`: `find_lr`'s suggestion "
        "(AutoLR's peak from one test on the whole sweep); `one-test-minimum`: "
        "the LR of that test's GP minimum (before the peak factor); "
        "`valley`: fastai's default rule; `lightning`: Lightning's "
        "steepest gradient (up to 2.5.2); `lightning-2.5.3`: its gradient "
        "against the LR (2.5.3 and later). `gap`: the suggestion's (`one-test`) gap to "
        "the grid. `compute`: (run + sweep steps) / (7 x run steps).",
        "",
        "| cell | steps | sweep steps | "
        + " | ".join(f"`{c}` LR" for c in names) + " | grid LR | "
        + " | ".join(f"`{c}`" for c in names) + " | grid | gap | compute |",
        "| " + " | ".join(["---"] * (3 + 2 * len(names) + 4)) + " |",
    ]
    gaps, ratios = collections.defaultdict(list), []
    to_grid = collections.defaultdict(list)  # log(rule LR / grid LR) per cell
    for (task, batch), cell_sweeps in sweeps.items():
        steps = runs[(task, batch, RULES[0][0])][0]["steps"]
        sweep_steps = float(np.mean([s["steps"] for s in cell_sweeps]))
        best_lr, grid_acc = grid_best(grid[(task, batch)], set(seeds))
        accs = {}
        for c in names:
            cell_runs = runs[(task, batch, c)]
            accs[c] = (100 * float(np.mean([r["test_accuracy"] or 0.0
                                             for r in cell_runs]))
                       if len(cell_runs) == len(cell_sweeps) else math.nan)
            gaps[c].append(accs[c] - 100 * grid_acc)
        ratio = (steps + sweep_steps) / (7 * steps)
        ratios.append(ratio)
        lrs = [_geo([s["rules"][f] for s in cell_sweeps]) for _, f in RULES]
        for c, lr in zip(names, lrs):
            to_grid[c].append(math.log(lr / best_lr))
        lines.append(
            f"| {task} {batch} | {steps} | {sweep_steps:.0f} | "
            + " | ".join(f"{lr:.3g}" for lr in lrs) + f" | {best_lr:.3g} | "
            + " | ".join(f"{accs[c]:.1f}" for c in names)
            + f" | {100 * grid_acc:.1f} | {gaps[SUGGESTION][-1]:+.1f} | "
            f"{ratio:.2f} |")
    lines.append("")
    means = {}
    for c in names:
        cells = np.asarray(gaps[c])
        means[c] = float(np.mean(cells))
        lines.append(
            f"- `{c}` against the grid: mean gap {means[c]:+.1f} points, "
            f"worst {np.min(cells):+.1f}; within 1 point in "
            f"{int(np.sum(cells >= -1.0))} of {len(cells)} cells.")
    beaten = [c for c in OTHERS if means[SUGGESTION] > means[c]]
    met = len(beaten) == len(OTHERS)
    lines += [
        f"- Target (issue 22: the suggestion's mean gap better than `valley`'s "
        f"and the steepest rule's): **{'met' if met else 'not met'}**; "
        f"`{SUGGESTION}`'s mean gap is better than "
        + (", ".join(f"`{c}`" for c in beaten) if beaten else "none of them")
        + ".",
        "- Each rule's LR over the grid's (geometric mean over cells, range): "
        + "; ".join(
            f"`{c}` {math.exp(np.mean(to_grid[c])):.2g}x "
            f"({math.exp(min(to_grid[c])):.2g}x to {math.exp(max(to_grid[c])):.2g}x)"
            for c in names) + ". `valley` (about half-way down the longest "
        "descent of the smoothed loss) lies below the grid; Lightning's "
        "steepest slope of the 0.98 moving average lags the raw loss, so "
        "it lies near the loss minimum: too high a peak for most cells.",
        f"- compute: {min(ratios):.2f} to {max(ratios):.2f} of the grid's "
        "(target: within 1 point at 1/7 = 0.14).", ""]
    return "\n".join(lines)


def _geo(values):
    return float(np.exp(np.mean(np.log(values))))


# When the run ends, regenerate docs/benchmarks/*.md and the README table from the results.
if __name__ == "__main__": __import__("atexit").register(lambda: __import__("pages").main([]))  # noqa: E701


if __name__ == "__main__":
    sys.exit(main())
