"""`find_lr` + cosine with the optimizers users run, against the optimizers benchmark's grid.

    python benchmarks/lr_finder_optimizers.py --set development      # 15 cells x 3 seeds
    python benchmarks/lr_finder_optimizers.py --set validation --resume
    python benchmarks/lr_finder_optimizers.py --set holdout --resume    # 9 cells
    python benchmarks/lr_finder_optimizers.py --report                # tables from the JSON

`benchmarks/lr_finder.py` measured `find_lr` with LAMB only, whose own LR
is far below its best. Here each cell of `benchmarks/optimizers.py` (Adam,
AdamW, SGD with momentum 0.9, RMSprop and Lamb at their Keras default LRs;
the same development and validation split) gets one `keras_autolr.find_lr`
sweep per seed (100 steps, fastai's and Lightning's default; the data
repeats) with the cell's model, optimizer and batch size. Then, for each
rule below, the grid's recipe of that benchmark (`optimizers.train_one`,
contender `grid`: linear warmup over 5 % of the budget, cosine to 0) takes
the rule's LR on that same sweep as its peak, trained and scored exactly as
a grid run:

- `factor-0.4`: `find_lr`'s suggestion (`result.suggestion`): AutoLR's peak
  rule on the sweep, 0.4 x the GP minimum of one test on the whole record,
  floored at the own LR;
- `factor-1.0`: the same test and floor with `peak_factor=1.0`, the GP
  minimum itself (`replay` of the sweep with that factor);
- `valley`: fastai's default rule (`lr_finder.valley`);
- `lightning`: Lightning's steepest-gradient rule up to 2.5.2;
- `lightning-2.5.3`: the same with the gradient against the LRs.

Runs at the same LR are trained once. The grid is not retrained: its runs
are the optimizers benchmark's (`benchmarks/results/optimizers.json`,
contender `grid`, 7 LRs x 3 seeds per cell); the tuned LR is the one with
the best mean validation score, and its test score is averaged over the
seeds run here, as on that benchmark's page.

Writes `benchmarks/results/lr_finder_optimizers.json` after every sweep
and its runs (`--resume` skips the cells and seeds it holds; each sweep's
losses and LRs are kept, except in the development set's first run of
2026-12-05) and `.md` beside it.
"""

import argparse
import gc
import json
import math
import os
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import optimizers  # noqa: E402  (limits threads first)

import _user_tasks  # noqa: E402
import keras_autolr  # noqa: E402
import lr_finder_optimizers_report as report  # noqa: E402
from keras_autolr.tools import lr_finder  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402

RESULTS = os.path.join(_HERE, "results", "lr_finder_optimizers.json")
SWEEP_STEPS = 100
RULES = report.RULES  # (contender, field of `rule_lrs`)


def rule_lrs(result):
    """{field: LR} of every rule in `RULES` on one `find_lr` result."""
    lightning_lr, _ = lr_finder.lightning_steepest(
        result.learning_rates, result.losses, spacing="lr")
    # The suggestion is find_lr's own replay at the library's factor
    # (`replay(losses, **replay_options)` reports it); 1.0 is replayed here.
    options = result.replay_options["options"].replace(peak_factor=1.0)
    at_minimum = keras_autolr.replay(
        result.losses, **dict(result.replay_options, options=options))
    lrs = {"factor_0.4": result.suggestion, "factor_1.0": at_minimum.peak_lr,
           "valley": result.valley, "lightning_steepest": result.lightning_steepest,
           "lightning_steepest_lr": lightning_lr, "minimum": result.minimum}
    return {k: float(v) for k, v in lrs.items()}


def sweep(cell, split, seed, steps):
    """One `find_lr` on the cell's model, optimizer and batch size."""
    task = _user_tasks.TASKS[cell.task]
    model = task.build_model(seed)
    model.compile(optimizer=optimizers.make_optimizer(cell.optimizer),
                  loss=task.loss(), metrics=task.metrics())
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    result = keras_autolr.find_lr(model, split.x_train, split.y_train,
                                  batch_size=cell.batch_size, steps=steps)
    return result, time.perf_counter() - start


def run(cells, seeds, path, resume, steps):
    results = dict(schema=1, sweeps=[], runs=[], started=optimizers._now())
    if resume and os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    results.setdefault("environment", optimizers._environment())
    done = {(s["cell"], s["seed"]) for s in results["sweeps"]}
    clock = time.perf_counter()
    splits = {}
    for cell in cells:
        for seed in seeds:
            if (cell.name, seed) in done:
                continue
            if cell.task not in splits:
                splits = {cell.task: _user_tasks.TASKS[cell.task].load()}
            split = splits[cell.task]
            result, seconds = sweep(cell, split, seed, steps)
            lrs = rule_lrs(result)
            runs, trained = [], {}
            for contender, field in RULES:
                lr = lrs[field]
                if not math.isfinite(lr):
                    continue
                if lr not in trained:
                    trained[lr] = optimizers.train_one(cell, split, "grid", lr, seed)
                    keras.backend.clear_session()
                    gc.collect()
                runs.append(dict(trained[lr], contender=contender,
                                 run_id=f"{contender}@{lr:.4g}", rule=field))
                print(f"[{time.perf_counter() - clock:6.0f}s] {cell.name} s{seed} "
                      f"{contender} lr {lr:.3g}: test {runs[-1]['test_score']}",
                      flush=True)
            results["runs"].extend(runs)
            results["sweeps"].append(dict(
                cell=cell.name, set=cell.set, seed=seed, steps=len(result.losses),
                stop_reason=result.stop_reason, own_lr=result.own_lr, rules=lrs,
                wall_s=round(seconds, 2), date=optimizers._now()[:10],
                losses=[optimizers._num(v) for v in result.losses],
                learning_rates=[float(v) for v in result.learning_rates]))
            results["updated"] = optimizers._now()
            with open(path, "w") as f:
                json.dump(results, f, indent=1)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=(optimizers.DEVELOPMENT, optimizers.VALIDATION,
                                          optimizers.HOLDOUT, "all"),
                        default=optimizers.DEVELOPMENT)
    parser.add_argument("--cells", default=None,
                        help="comma list of substrings of cell names (default: all)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--sweep-steps", type=int, default=SWEEP_STEPS)
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--grid", default=optimizers.RESULTS,
                        help="the optimizers benchmark's results (its grid runs)")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    if not args.report:
        cells = [c for c in optimizers.CELLS if args.set in ("all", c.set)]
        if args.cells:
            wanted = [w.strip() for w in args.cells.split(",")]
            cells = [c for c in cells if any(w in c.name for w in wanted)]
        seeds = [int(s) for s in args.seeds.split(",")]
        run(cells, seeds, args.results, args.resume, args.sweep_steps)
    with open(args.results) as f:
        results = json.load(f)
    text = report.markdown(results, report.tuned_grids(args.grid))
    with open(os.path.splitext(args.results)[0] + ".md", "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
