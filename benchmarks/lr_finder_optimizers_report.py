"""Tables of `benchmarks/lr_finder_optimizers.py` from its results file (no TensorFlow).

`benchmarks/pages.py` makes the find_lr page's section from it with these
functions.
"""

import collections
import json
import math

import numpy as np

import optimizers_report

# (contender, field of the sweep's `rules`): each rule's LR on one sweep.
RULES = (("factor-0.4", "factor_0.4"), ("factor-1.0", "factor_1.0"),
         ("valley", "valley"), ("lightning", "lightning_steepest"),
         ("lightning-2.5.3", "lightning_steepest_lr"))
SUGGESTION = "factor-0.4"  # find_lr's `result.suggestion`
OTHERS = ("valley", "lightning", "lightning-2.5.3")


def tuned_grids(path):
    """{cell: (mean test score, seeds, LR)}: the optimizers benchmark's tuned grid.

    As on that benchmark's page (`optimizers_report.summarize`).
    """
    with open(path) as f:
        table = optimizers_report.summarize(json.load(f))
    return {name: row["grid"] for name, row in table.items() if "grid" in row}


def summary(results, grid):
    """Per set: {"rows": [...], "gaps": {contender: [gap per cell]}}.

    `grid` is `tuned_grids`'s; a run without a finite score scores as on the
    optimizers benchmark's page (`optimizers_report.score`).
    """
    runs = collections.defaultdict(list)
    for r in results["runs"]:
        runs[(r["cell"], r["contender"])].append(r)
    sweeps = collections.defaultdict(list)
    for s in results["sweeps"]:
        sweeps[s["cell"]].append(s)
    out = {}
    for name, cell_sweeps in sweeps.items():  # in the order they ran
        grid_score, _, grid_lr = grid[name]
        row = dict(cell=name, steps=runs[(name, RULES[0][0])][0]["steps"],
                   grid_lr=grid_lr, grid=grid_score, scores={}, lrs={})
        for contender, field in RULES:
            got = runs[(name, contender)]
            row["scores"][contender] = (
                float(np.mean([optimizers_report.score(r["test_score"]) for r in got]))
                if len(got) == len(cell_sweeps) else math.nan)
            row["lrs"][contender] = float(np.exp(np.mean(
                [math.log(s["rules"][field]) for s in cell_sweeps])))
        entry = out.setdefault(cell_sweeps[0]["set"],
                               dict(rows=[], gaps=collections.defaultdict(list)))
        entry["rows"].append(row)
        for contender, _ in RULES:
            entry["gaps"][contender].append(row["scores"][contender] - grid_score)
    return out


def target_met(entry):
    """The suggestion's mean gap is better than every other rule's."""
    mean = {c: float(np.nanmean(entry["gaps"][c])) for c, _ in RULES}
    return all(mean[SUGGESTION] > mean[c] for c in OTHERS)


def markdown(results, grid):
    """The tables, one per set, with each rule's mean and worst gap to the grid."""
    names = [c for c, _ in RULES]
    lines = ["# find_lr with the optimizers users run", "",
             f"Results of {results.get('updated', results['started'])[:10]}; "
             "test score (accuracy %, or 100 x R^2 for friedman and diabetes), mean over the "
             "seeds; LRs: geometric mean over seeds.", ""]
    for name, entry in summary(results, grid).items():
        lines += [f"## {optimizers_report.TITLES.get(name, name)}", "",
                  "| cell (steps) | " + " | ".join(f"`{c}` LR" for c in names)
                  + " | grid LR | " + " | ".join(f"`{c}`" for c in names)
                  + " | grid |",
                  "|" + "---|" * (2 * len(names) + 3)]
        for row in entry["rows"]:
            lines.append(
                f"| {row['cell']} ({row['steps']}) | "
                + " | ".join(f"{row['lrs'][c]:.3g}" for c in names)
                + f" | {row['grid_lr']:.3g} | "
                + " | ".join(f"{row['scores'][c]:.1f}" for c in names)
                + f" | {row['grid']:.1f} |")
        lines.append("")
        for c in names:
            gaps = np.asarray(entry["gaps"][c])
            lines.append(f"- `{c}` minus the grid: mean {np.nanmean(gaps):+.1f}, "
                         f"worst {np.nanmin(gaps):+.1f}; within 1 point in "
                         f"{int(np.sum(gaps >= -1.0))} of {len(gaps)} cells.")
        lines += [f"- Issue 22's target (the suggestion, `{SUGGESTION}`, has a better "
                  "mean gap than `valley` and the steepest rules): "
                  f"**{'met' if target_met(entry) else 'not met'}**.", ""]
    return "\n".join(lines)
