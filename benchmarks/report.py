"""Markdown tables and a PNG plot from a quality-benchmark results JSON.

    python benchmarks/report.py benchmarks/results/full.json
    python benchmarks/report.py results.json --out-dir /tmp/report

Writes `<name>.md` and `<name>.png` beside the JSON (or in `--out-dir`;
`--plot-contenders a,b` or `all` chooses the plotted ones):
test accuracy (mean +- standard deviation over seeds) of every contender at
every task and batch size, the gap of each AutoLR variant to the tuned grid
baseline (the data for choosing the default peak rule), AutoLR's decisions,
the grid curves and the compute each contender spent (runs x steps).

The grid baseline is tuned on the validation split: at each task and batch
size, the grid LR with the best mean validation accuracy over the seeds is
selected, and its test accuracy is reported.
"""

import argparse
import collections
import json
import os
import sys

import numpy as np


# ---------------------------------------------------------------- aggregation
def load(path):
    with open(path) as f:
        return json.load(f)


def _acc(value):
    return np.nan if value is None else float(value)


def cells(results):
    """{(task, batch): {contender: summary}} with `summary` a dict.

    A summary holds `test` (per-seed test accuracies), `seeds`, `steps`,
    `compute` (optimizer steps spent per seed: runs x steps), and for the grid
    the selected `lr` and `curve` ({lr: (mean val, mean test)}).
    """
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for run in results["runs"]:
        groups[(run["task"], run["batch_size"])][run["contender"]].append(run)
    table = {}
    for cell, by_contender in groups.items():
        table[cell] = {}
        for name, runs in by_contender.items():
            if runs[0]["kind"] == "grid":
                summary = _grid_summary(runs)
            else:
                runs = sorted(runs, key=lambda r: r["seed"])
                summary = dict(test=[_acc(r["test_accuracy"]) for r in runs],
                               seeds=[r["seed"] for r in runs],
                               steps=runs[0]["steps"], compute=runs[0]["steps"],
                               runs=runs)
            summary["kind"] = runs[0]["kind"]
            summary["optimizer"] = runs[0]["optimizer"]
            table[cell][name] = summary
    return table


def _grid_summary(runs):
    by_lr = collections.defaultdict(dict)
    for run in runs:
        by_lr[run["lr"]][run["seed"]] = run
    # Only seeds that every grid LR has: the selection compares like with like.
    seeds = sorted(set.intersection(*(set(r) for r in by_lr.values())))
    curve = {}
    for lr, per_seed in sorted(by_lr.items()):
        val = [_acc(per_seed[s]["val_accuracy"]) for s in seeds]
        test = [_acc(per_seed[s]["test_accuracy"]) for s in seeds]
        curve[lr] = (_nanmean(val), _nanmean(test))
    best = max(curve, key=lambda lr: (np.nan_to_num(curve[lr][0], nan=-1.0), -lr))
    steps = runs[0]["steps"]
    return dict(test=[_acc(by_lr[best][s]["test_accuracy"]) for s in seeds],
                seeds=seeds, steps=steps, compute=steps * len(by_lr), lr=best,
                curve=curve, grid_size=len(by_lr), runs=runs)


def _nanmean(values):
    values = np.asarray(values, float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan


def mean_std(values):
    values = np.asarray(values, float)
    if not len(values):
        return np.nan, np.nan
    values = np.nan_to_num(values, nan=0.0)  # a diverged run scores 0
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def _ordered_cells(results, table):
    order = list(results.get("config", {}).get("tasks", []))
    for task, _ in table:
        if task not in order:
            order.append(task)
    return sorted(table, key=lambda c: (order.index(c[0]), c[1]))


def _ordered_contenders(results, table):
    names = []
    for part in results.get("parts", [results.get("config", {})]):
        for name in (part or {}).get("contenders", []):
            if name not in names:
                names.append(name)
    for by_contender in table.values():
        for name in by_contender:
            if name not in names:
                names.append(name)
    kinds = {}
    for by in table.values():
        for name, summary in by.items():
            kinds[name] = (summary["kind"], summary["optimizer"])

    def group(name):  # AutoLR + LAMB, AutoLR + others, the grid, the rest
        kind, optimizer = kinds[name]
        if kind == "autolr":
            return 0 if optimizer == "lamb" else 1
        return 2 if kind == "grid" else 3

    present = [n for n in names if n in kinds]
    return sorted(present, key=lambda n: (group(n), present.index(n)))


def variant_gaps(results, table, reference="grid"):
    """Gap (points of test accuracy) of each AutoLR contender to `reference`.

    Returns {contender: dict(mean, worst, within1, best_count, cells)} over
    the cells where both were run, with the seeds they share.
    """
    out = {}
    others = [n for n in _ordered_contenders(results, table) if n != reference]
    for name in others:
        gaps = []
        for cell, by in table.items():
            if name not in by or reference not in by:
                continue
            ref = dict(zip(by[reference]["seeds"], by[reference]["test"]))
            mine = dict(zip(by[name]["seeds"], by[name]["test"]))
            shared = sorted(set(ref) & set(mine))
            if not shared:
                continue
            gap = np.mean([np.nan_to_num(mine[s]) - np.nan_to_num(ref[s])
                           for s in shared])
            gaps.append((cell, 100.0 * gap))
        if gaps:
            values = np.array([g for _, g in gaps])
            out[name] = dict(mean=float(values.mean()), worst=float(values.min()),
                             within1=int((values >= -1.0).sum()), cells=len(gaps),
                             per_cell=dict(gaps))
    # How often each is the best AutoLR contender (with LAMB) of a cell.
    lamb = [n for n in out if _is_lamb_autolr(table, n)]
    for name in out:
        out[name]["best_count"] = 0
    for cell in table:
        scores = {n: out[n]["per_cell"][cell] for n in lamb
                  if cell in out[n]["per_cell"]}
        if scores:
            out[max(scores, key=scores.get)]["best_count"] += 1
    return out


def _is_lamb_autolr(table, name):
    for by in table.values():
        if name in by:
            return by[name]["kind"] == "autolr" and by[name]["optimizer"] == "lamb"
    return False


def recommend(gaps, table):
    """The LAMB AutoLR variant with the best mean gap (ties: best worst case)."""
    lamb = {n: g for n, g in gaps.items() if _is_lamb_autolr(table, n)}
    if not lamb:
        return None
    return max(lamb, key=lambda n: (round(lamb[n]["mean"], 2), lamb[n]["worst"]))


# ---------------------------------------------------------------- Markdown
def markdown(results):
    table = cells(results)
    order = _ordered_cells(results, table)
    names = _ordered_contenders(results, table)
    lines = [f"# Quality benchmark: {results.get('name', '')}", ""]
    machine, versions = results.get("machine", {}), results.get("versions", {})
    lines += [
        f"- date: {results.get('started', '?')} to "
        f"{results.get('finished', results.get('updated', '?'))} (UTC)",
        f"- machine: {machine.get('processor', '?')}, {machine.get('cpu_count', '?')} "
        f"CPUs ({_threads(machine)}), {machine.get('gpus', 0)} GPU; "
        f"{machine.get('platform', '')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"- runs: {len(results['runs'])}; seeds per cell: "
        f"{_seed_counts(table)}",
        "",
    ]
    for task, info in results.get("tasks", {}).items():
        lines.append(f"- `{task}`: {info['description']}, {info['epochs']} epochs; "
                     f"split {info['sizes']}")
    lines.append("")

    lines += ["## Test accuracy (%), mean ± std over seeds", ""]
    header = ["contender"] + [f"{t} b{b} ({_steps(table, (t, b))} steps)"
                              for t, b in order] + ["compute (steps, all cells)"]
    lines += [_row(header), _row(["---"] * len(header))]
    for name in names:
        row = [f"`{name}`"]
        compute = 0
        for cell in order:
            summary = table[cell].get(name)
            if summary is None:
                row.append("")
                continue
            mean, std = mean_std(summary["test"])
            text = f"{100 * mean:.1f} ± {100 * std:.1f}"
            if summary["kind"] == "grid":
                text += f" (lr {summary['lr']:.3g})"
            row.append(text)
            compute += summary["compute"] * len(summary["seeds"])
        row.append(f"{compute:,}")
        lines.append(_row(row))
    lines += ["", "`grid`: best of the grid by mean validation accuracy (its LR in "
              "brackets); compute counts every grid run. A diverged run scores 0.", ""]

    gaps = variant_gaps(results, table)
    if gaps:
        lines += ["## Against the tuned grid (points of test accuracy)", "",
                  "Gap = contender minus the validation-tuned grid, same seeds; "
                  "`best` = cells where it is the best LAMB AutoLR contender.", ""]
        header = ["contender", "mean gap", "worst gap", "cells within 1 pt",
                  "best"] + [f"{t} b{b}" for t, b in order]
        lines += [_row(header), _row(["---"] * len(header))]
        for name, g in gaps.items():
            lines.append(_row(
                [f"`{name}`", f"{g['mean']:+.2f}", f"{g['worst']:+.2f}",
                 f"{g['within1']}/{g['cells']}", str(g["best_count"])]
                + [f"{g['per_cell'][c]:+.1f}" if c in g["per_cell"] else ""
                   for c in order]))
        best = recommend(gaps, table)
        if best is not None:
            g = gaps[best]
            lines += ["", f"Best LAMB AutoLR contender on this data: `{best}` "
                      f"(mean gap {g['mean']:+.2f} points, worst {g['worst']:+.2f}, "
                      f"within 1 point of the tuned grid in {g['within1']} of "
                      f"{g['cells']} cells).", ""]

    lines += ["## AutoLR decisions (mean over seeds)", "",
              "switch step / budget, peak LR, and how warmup ended "
              "(d = detected, c = cap, x = diverged).", ""]
    autolr_names = [n for n in names if any(
        table[c].get(n, {}).get("kind") == "autolr" for c in table)]
    header = ["task", "batch", "steps"] + [f"`{n}`" for n in autolr_names]
    lines += [_row(header), _row(["---"] * len(header))]
    for cell in order:
        row = [cell[0], str(cell[1]), str(_steps(table, cell))]
        for name in autolr_names:
            summary = table[cell].get(name)
            row.append(_decision_text(summary) if summary else "")
        lines.append(_row(row))
    lines.append("")

    grids = [(cell, table[cell]["grid"]) for cell in order if "grid" in table[cell]]
    if grids:
        lrs = sorted({lr for _, g in grids for lr in g["curve"]})
        lines += ["## Grid baseline: validation / test accuracy (%) per peak LR", "",
                  "Mean over seeds; the selected LR in bold.", ""]
        header = ["task", "batch"] + [f"{lr:.3g}" for lr in lrs]
        lines += [_row(header), _row(["---"] * len(header))]
        for cell, g in grids:
            row = [cell[0], str(cell[1])]
            for lr in lrs:
                if lr not in g["curve"]:
                    row.append("")
                    continue
                val, test = g["curve"][lr]
                text = f"{100 * np.nan_to_num(val):.1f} / {100 * np.nan_to_num(test):.1f}"
                row.append(f"**{text}**" if lr == g["lr"] else text)
            lines.append(_row(row))
        lines.append("")
    parts = results.get("parts") or [results.get("config", {})]
    lines += [f"Generated by `python benchmarks/report.py benchmarks/results/"
              f"{results.get('name')}.json`. The runs came from:", ""]
    lines += [f"    {part.get('command', '')}" for part in parts if part]
    lines.append("")
    return "\n".join(lines)


def _decision_text(summary):
    decisions = [r.get("autolr") for r in summary["runs"] if r.get("autolr")]
    if not decisions:
        return ""
    switch = np.mean([d["switch_step"] for d in decisions if d["switch_step"] is not None])
    peaks = [d["peak_lr"] for d in decisions if d["peak_lr"]]
    peak = float(np.exp(np.mean(np.log(peaks)))) if peaks else float("nan")
    reasons = collections.Counter(d["reason"] for d in decisions)
    tag = "".join(f"{k[0] if k != 'diverged' else 'x'}{v}"
                  for k, v in sorted(reasons.items()))
    return f"{switch:.0f}/{summary['steps']}, {peak:.3g}, {tag}"


def _steps(table, cell):
    for summary in table[cell].values():
        return summary["steps"]
    return "?"


def _seed_counts(table):
    counts = sorted({len(s["seeds"]) for by in table.values() for s in by.values()})
    return "/".join(str(c) for c in counts)


def _threads(machine):
    threads = machine.get("threads")
    return f"{threads} TF thread(s)" if threads else "default TF threads"


def _row(cells_):
    return "| " + " | ".join(cells_) + " |"


# ---------------------------------------------------------------- plot
def headline_contenders(results, table):
    """The contenders a plot shows by default: names of at most two words
    (`autolr`, `autolr-paper`, `autolr-adam`, `grid`, ...) and the best LAMB
    AutoLR variant; every contender when there are at most 10."""
    names = _ordered_contenders(results, table)
    if len(names) <= 10:
        return names
    best = recommend(variant_gaps(results, table), table)
    return [n for n in names if n.count("-") <= 1 or n == best]


def plot(results, path, contenders=None):
    """Test accuracy against batch size, one column per task.

    Top row: the whole 0-100 % range (collapsed runs included); bottom row:
    zoomed on the band of the tuned grid, where the good contenders differ.
    `contenders`: names to draw (default: `headline_contenders`).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    table = cells(results)
    order = _ordered_cells(results, table)
    names = contenders or headline_contenders(results, table)
    tasks = []
    for task, _ in order:
        if task not in tasks:
            tasks.append(task)
    figure = Figure(figsize=(5.2 * len(tasks), 8.4), dpi=100)
    markers = "osD^vP*Xh<>pd"
    colors = [matplotlib.colormaps["tab20"](k / 20) for k in range(0, 20, 2)] + [
        matplotlib.colormaps["tab20"](k / 20) for k in range(1, 20, 2)]
    for index, task in enumerate(tasks):
        batches = [b for t, b in order if t == task]
        reference = [100 * mean_std(table[(task, b)]["grid"]["test"])[0]
                     for b in batches if "grid" in table[(task, b)]]
        for row in range(2):
            axis = figure.add_subplot(2, len(tasks), row * len(tasks) + index + 1)
            for k, name in enumerate(names):
                xs, ys, es = [], [], []
                for b in batches:
                    summary = table[(task, b)].get(name)
                    if summary is None:
                        continue
                    mean, std = mean_std(summary["test"])
                    xs.append(b), ys.append(100 * mean), es.append(100 * std)
                if not xs:
                    continue
                axis.errorbar(
                    xs, ys, yerr=es, marker=markers[k % len(markers)],
                    color=colors[k % len(colors)], capsize=3, label=name,
                    linewidth=2.5 if name == "grid" else 1.2,
                    linestyle="-" if name.startswith("autolr") else "--")
            axis.set_xscale("log", base=2)
            axis.set_xticks(batches)
            axis.set_xticklabels([str(b) for b in batches])
            axis.grid(alpha=0.3)
            if row == 0:
                axis.set_ylim(0, 100)
                info = results.get("tasks", {}).get(task, {})
                axis.set_title(f"{task} ({info.get('epochs', '?')} epochs)")
                axis.set_ylabel("test accuracy (%)")
            else:
                low = (min(reference) - 15) if reference else 50
                axis.set_ylim(max(0, low), min(100, max(reference or [95]) + 3))
                axis.set_xlabel("batch size")
                axis.set_ylabel("test accuracy (%), zoomed")
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(7, len(labels)),
                  fontsize=8, frameon=False)
    figure.suptitle("AutoLR against tuned schedules: test accuracy vs batch size "
                    "(mean ± std over seeds; fixed epochs)")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path)
    return path


# ---------------------------------------------------------------- main
def write_report(json_path, out_dir=None, plot_contenders=None):
    """Writes `<name>.md` and `<name>.png`; returns their paths."""
    results = load(json_path)
    out_dir = out_dir or os.path.dirname(os.path.abspath(json_path))
    os.makedirs(out_dir, exist_ok=True)
    stem = os.path.splitext(os.path.basename(json_path))[0]
    md_path = os.path.join(out_dir, stem + ".md")
    with open(md_path, "w") as f:
        f.write(markdown(results))
    png_path = os.path.join(out_dir, stem + ".png")
    if plot_contenders == ["all"]:
        plot_contenders = _ordered_contenders(results, cells(results))
    plot(results, png_path, plot_contenders)
    return [md_path, png_path]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a results JSON of benchmarks/quality.py")
    parser.add_argument("--out-dir", default=None)
    parser.add_argument("--print", action="store_true", help="print the Markdown")
    parser.add_argument("--plot-contenders", default=None,
                        help="comma list of contenders to plot, or 'all' (default: "
                             "the short names and the best LAMB AutoLR variant)")
    args = parser.parse_args(argv)
    plot_contenders = (args.plot_contenders.split(",") if args.plot_contenders
                       else None)
    for path in write_report(args.results, args.out_dir, plot_contenders):
        print(path)
    if args.print:
        print(markdown(load(args.results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
