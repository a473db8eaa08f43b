"""Tables of the optimizers benchmark from its results file (no TensorFlow).

`benchmarks/optimizers.py` writes `benchmarks/results/optimizers.json`;
`benchmarks/pages.py` makes the docs page and the README's table from it
with these functions.
"""

import numpy as np

DEVELOPMENT = "development"
DEFAULT_PEAK_FACTOR = 0.4  # keras_autolr.Options().peak_factor (no import here)
SHORT_BUDGET_STEPS = 26  # under it `AutoLR()` keeps the own LR (no import here)
VALIDATION = "validation"
HOLDOUT = "holdout"  # the held-out set of 2026-12-06 (benchmarks/optimizers.py)
SETS = (VALIDATION, HOLDOUT, DEVELOPMENT)  # in the order the pages show them
TITLES = {VALIDATION: "Validation set", HOLDOUT: "Held-out set",
          DEVELOPMENT: "Development set"}
MAIN = ("own", "autolr", "grid", "prodigy", "schedulefree")
LABELS = {
    "own": "own LR, constant",
    "autolr": "`AutoLR()`",
    "grid": "tuned warmup-cosine grid",
    "prodigy": "Prodigy",
    "schedulefree": "Schedule-Free AdamW",
    "autolr-before": "`AutoLR()` before the two changes",
    "autolr-fromown": "sweep from the own LR at every budget",
    "autolr-norewind": "`rewind=False`",
    "autolr-ctc": "constant-then-cosine decay",
    "autolr-f0.7": "`peak_factor=0.7`",
    "autolr-f1.0": "`peak_factor=1.0`",
    "autolr-capreached": "`cap_peak=\"reached\"`",
    "autolr-nodescent": "`require_descent=False`",
    "autolr-clip": "the blow-up clipped (study)",
    "autolr-bu4": "the blow-up stop at 4x (study)",
    "autolr-bu2": "the blow-up stop at 2x (study)",
    "autolr-capmed": "the cap's LR from a running median (study)",
    "autolr-capmax": "the larger of the cap's GP and running-median LRs (study)",
    "autolr-w0.25": "the warmup capped at 25 % (study)",
    "autolr-w0.35": "the warmup capped at 35 % (study)",
    "autolr-detrend": "the guard's start spread about a line (study)",
    "autolr-diffsd": "the guard's start spread from differences (study)",
    "autolr-detrend9": "the start spread about a line, 9 spreads (study)",
    "autolr-span1.5": "the sweep 1.5 decades above the own LR (study)",
    "autolr-span2": "the sweep 2 decades above the own LR (study)",
    "autolr-span2.5": "the sweep 2.5 decades above the own LR (study)",
    "autolr-capend": "a cap's minimum at the sweep's end taken whole (study)",
    "autolr-span2-capend": "2 decades, a minimum at the end whole (study)",
    "autolr-span2-detrend9": "2 decades and 9 detrended spreads (study)",
    "autolr-keepfirst": "the first snapshot kept (study)",
    "autolr-capprev": "the cap's LR from the test before it (study)",
    "autolr-capconf": "the cap's LR from the newest confident test (study)",
    "autolr-confident": "the best LR from confident tests only (study)",
    "autolr-edge": "a best LR at the sweep's end located nothing (study)",
    "autolr-edge2": "the same, past a blow-up only (now the default)",
    "autolr-floor2": "the peak at least 2x the own LR (study)",
    "autolr-keepbetter": "the rewind only when the loss is above the copy's (study)",
    "autolr-allcopies": "a copy at every warmup step (study)",
    "autolr-soundcopy": "a copy a blow-up damaged passed over (now the default)",
    "autolr-anycopy": "`AutoLR()` before the damaged-copy rule",
    "autolr-steepest": "`peak=\"steepest\"`",
    "autolr-steepest-f1.0": "`peak=\"steepest\"`, `peak_factor=1.0`",
    "autolr-damagedmin": "a minimum inside a blow-up locates nothing (study; the library's rule since 2026-12-06)",
    "autolr-anymin": "a minimum inside a blow-up counts (the rule before 2026-12-06)",
    "autolr-lag-f1.0": "the minimum's LR moved back by the momentum's lag, whole (study)",
    "autolr-lag": "the minimum's LR moved back by the momentum's lag, x 0.4 (study)",
    "autolr-plateau": "a flat sweep's peak from where it left the plateau (study)",
    "autolr-oracle": "the tuned grid's peak given to `AutoLR()` (a bound)",
    "autolr-oracle-norewind": "the same, without the rewind (a bound)",
    "autolr-nohuge": "a best LR read past a huge loss counts (the rule before 2026-12-06)",
    "autolr-noguard": "no guard for a blow-up in the decay (the library before it, 2026-12-06)",
    "autolr-guard1": "the decay guard's first form: one execution above the ceiling acts",
    "autolr-huge10": "every test after a huge loss passed over at a detection (study)",
    "autolr-hugecap10": "every test after a huge loss passed over at the cap (study)",
    "autolr-hugepast10": "a best LR read past a huge loss gives way (study; the library's rule since 2026-12-06)",
}


DIVERGED_SCORE = -100.0


def score(value):
    """A run's score. A diverged run scores -100: one with no finite score,
    or a regression whose 100 x R^2 fell below -100 (its predictions off by
    more than the targets' spread; one run of 1e7 would outweigh every
    other run of a mean)."""
    return DIVERGED_SCORE if value is None else max(float(value), DIVERGED_SCORE)


def tuned_grid(runs):
    """(mean test score, seeds, LR) of the grid LR best on validation, or None.

    Only the seeds every grid LR has count, so a partly run grid is not
    tuned on a subset of its LRs.
    """
    by_lr = {}
    for run in runs:
        by_lr.setdefault(run["lr"], []).append(run)
    seeds = set.intersection(*({r["seed"] for r in v} for v in by_lr.values()))
    if not seeds or len(by_lr) < 7:
        return None
    best = max(sorted(by_lr), key=lambda lr: np.mean(
        [score(r["val_score"]) for r in by_lr[lr] if r["seed"] in seeds]))
    test = [score(r["test_score"]) for r in by_lr[best] if r["seed"] in seeds]
    return float(np.mean(test)), len(test), best


def summarize(results):
    """{cell: {contender: (mean test score, seeds[, LR])}, plus `_set`, `_steps`}."""
    by_cell = {}
    for run in results["runs"]:
        by_cell.setdefault(run["cell"], []).append(run)
    table = {}
    for name, runs in by_cell.items():
        row = {"_set": runs[0]["set"], "_steps": runs[0]["steps"]}
        for contender in sorted({r["contender"] for r in runs}):
            mine = [r for r in runs if r["contender"] == contender]
            if contender == "grid":
                tuned = tuned_grid(mine)
                if tuned is not None:
                    row["grid"] = tuned
                continue
            scores = [score(r["test_score"]) for r in mine]
            row[contender] = (float(np.mean(scores)), len(scores))
        table[name] = row
    return table


def gaps(table, which, contender, baseline):
    """[(cell, contender - baseline)] over the cells of `which` that have both."""
    out = []
    for name, row in table.items():
        if row["_set"] == which and contender in row and baseline in row:
            out.append((name, row[contender][0] - row[baseline][0]))
    return out


def _signed(value):
    return "-" if value is None else f"{value:+.1f}"


def mean_worst(pairs):
    if not pairs:
        return "-"
    values = [g for _, g in pairs]
    return f"{np.mean(values):+.1f} / {min(values):+.1f}"


def cell_table(table, which, contenders):
    """Markdown: one row per cell of `which`, the contenders' mean scores."""
    rows = [(n, r) for n, r in table.items() if r["_set"] == which]
    head = "| cell (steps) | " + " | ".join(LABELS.get(c, f"`{c}`") for c in contenders)
    lines = [head + " | AutoLR - own | AutoLR - grid |",
             "|---" * (len(contenders) + 3) + "|"]
    for name, row in rows:
        cells = []
        for c in contenders:
            value = row.get(c)
            if value is None:
                cells.append("-")
            elif c == "grid":
                cells.append(f"{value[0]:.1f} (LR {value[2]:.3g})")
            else:
                cells.append(f"{value[0]:.1f}")
        own = row.get("autolr", (None,))[0], row.get("own", (None,))[0]
        grid = row.get("grid")
        gap_own = None if None in own else own[0] - own[1]
        gap_grid = None if grid is None or own[0] is None else own[0] - grid[0]
        lines.append(f"| {name} ({row['_steps']}) | " + " | ".join(cells)
                     + f" | {_signed(gap_own)} | {_signed(gap_grid)} |")
    lines.append("| **mean / worst** |" + " |" * len(contenders)
                 + f" {mean_worst(gaps(table, which, 'autolr', 'own'))} |"
                 + f" {mean_worst(gaps(table, which, 'autolr', 'grid'))} |")
    return "\n".join(lines)


def seeds_of(results):
    return sorted({r["seed"] for r in results["runs"]})


def date_of(results):
    return str(results.get("updated") or results.get("started") or "")[:10]


def summary_lines(table):
    """One line per set: AutoLR against the own LR, the grid and the LR-free ones."""
    lines = []
    for which in SETS:
        parts = []
        for baseline, label in (("own", "the own LR"), ("grid", "the tuned grid"),
                                ("prodigy", "Prodigy"),
                                ("schedulefree", "Schedule-Free AdamW")):
            pairs = gaps(table, which, "autolr", baseline)
            if pairs:
                cells = "1 cell" if len(pairs) == 1 else f"{len(pairs)} cells"
                parts.append(f"against {label} {mean_worst(pairs)} ({cells})")
        for lr_free in ("prodigy", "schedulefree"):
            pairs = gaps(table, which, lr_free, "grid")
            if pairs:
                parts.append(f"{LABELS[lr_free]} against the grid {mean_worst(pairs)}")
        if parts:
            lines.append(f"- {TITLES[which]}, `AutoLR()` minus, mean / worst "
                         "points: " + "; ".join(parts) + ".")
        for lr_free in ("prodigy", "schedulefree"):
            wins = [name for name, gap in gaps(table, which, lr_free, "autolr") if gap > 1.0]
            if wins:
                lines.append(f"- {TITLES[which]}, {LABELS[lr_free]} beats `AutoLR()` "
                             f"by more than 1 point on {len(wins)} cells: " + ", ".join(wins) + ".")
    return lines


REASONS = {"detected": "a detection", "cap": "the warmup cap (no detection)",
           "short_budget": "the own LR kept (under 26 steps)", "diverged": "divergence"}
# The default, and the variants of the study run beside it.
STUDY_BASE = "autolr"
STUDY = ("autolr-f0.7", "autolr-f1.0", "autolr-capreached", "autolr-nodescent",
         "autolr-clip", "autolr-bu4", "autolr-bu2", "autolr-capmed", "autolr-capmax",
         "autolr-w0.25", "autolr-w0.35", "autolr-detrend", "autolr-diffsd",
         "autolr-detrend9", "autolr-span1.5", "autolr-span2", "autolr-span2.5",
         "autolr-capend", "autolr-span2-capend", "autolr-span2-detrend9",
         "autolr-keepfirst", "autolr-capprev", "autolr-capconf", "autolr-confident",
         "autolr-edge", "autolr-edge2", "autolr-floor2", "autolr-keepbetter",
         "autolr-allcopies", "autolr-soundcopy", "autolr-anycopy", "autolr-plateau", "autolr-damagedmin", "autolr-anymin", "autolr-lag-f1.0", "autolr-lag",
         "autolr-steepest", "autolr-steepest-f1.0",
         "autolr-oracle", "autolr-oracle-norewind")


def family_means(pairs):
    """"adam +x, ...": the mean of (cell, gap) pairs over each optimizer's cells."""
    by_family = {}
    for name, gap in pairs:
        by_family.setdefault(name.split()[1], []).append(gap)
    return ", ".join(f"{f} {np.mean(v):+.1f}" for f, v in sorted(by_family.items()))


def study_lines(results, which=DEVELOPMENT, base=STUDY_BASE):
    """The study that chose the defaults: each variant's gap to the grid, by
    optimizer family, and against `base` (the default the variants ran
    beside), paired by cell and seed and split by how `base`'s warmup ended."""
    table = summarize(results)
    runs = {(r["cell"], r["seed"], r["contender"]): r for r in results["runs"]
            if r["set"] == which}
    ended = {}
    for (cell, seed, c), run in runs.items():
        if c == base and run.get("autolr"):
            reason = run["autolr"]["reason"]
            ended[reason] = ended.get(reason, 0) + 1
    lines = []
    if ended:
        lines.append(f"- How the warmup of {LABELS.get(base, base)} ended: " + ", ".join(
            f"{REASONS.get(k, k)} {v}" for k, v in sorted(ended.items())) + " runs.")
    for contender in (base,) + STUDY:
        pairs = gaps(table, which, contender, "grid")
        if not pairs:
            continue
        families = family_means(pairs)
        paired = {}
        for (cell, seed, c), run in runs.items():
            default = runs.get((cell, seed, base))
            if c != contender or contender == base or not default:
                continue
            reason = (default.get("autolr") or {}).get("reason")
            if reason in ("detected", "cap"):
                paired.setdefault(reason, []).append(
                    score(run["test_score"]) - score(default["test_score"]))
        against = "; ".join(
            f"minus {LABELS.get(base, base)} on the runs whose warmup ended "
            f"{'at the cap' if k == 'cap' else 'by a detection'}"
            f" {np.mean(v):+.1f} ({len(v)} runs)" for k, v in sorted(paired.items()))
        own = gaps(table, which, contender, "own")
        lines.append(f"- {LABELS.get(contender, contender)}: minus the own LR {mean_worst(own)}, "
                     f"minus the grid {mean_worst(pairs)} "
                     f"({len(pairs)} cells; by optimizer {families})"
                     + (f"; {against}." if against else "."))
    return lines


ORACLES = ("autolr-oracle", "autolr-oracle-norewind")


def oracle_lines(results, which):
    """The gap to the grid of `AutoLR()` and of the oracle bounds (`ORACLES`),
    over all cells of a set and over the cells that sweep (10 optimizer
    steps or more per sweep: the budget at least 26 steps)."""
    table = summarize(results)
    lines = []
    for contender in ("autolr",) + ORACLES:
        pairs = gaps(table, which, contender, "grid")
        if not pairs:
            continue
        swept = [(n, g) for n, g in pairs if table[n]["_steps"] >= SHORT_BUDGET_STEPS]
        lines.append(f"- {LABELS[contender]}: minus the grid {mean_worst(pairs)} "
                     f"({len(pairs)} cells), {mean_worst(swept)} on the "
                     f"{len(swept)} cells of {SHORT_BUDGET_STEPS} steps or more.")
    return lines


def rewind_lines(results):
    """The steps the rewind threw away (switch step - restored step), by budget."""
    lines = []
    for label, short in (("under 100 steps", True), ("100 steps or more", False)):
        thrown = []
        for run in results["runs"]:
            decision = run.get("autolr")
            if (run["contender"] != "autolr" or not decision
                    or run["set"] not in SETS or decision.get("restored_step") is None
                    or (run["steps"] < 100) != short):
                continue
            thrown.append((decision["switch_step"] - decision["restored_step"])
                          / run["steps"])
        if thrown:
            lines.append(
                f"- Steps the rewind threw away, `AutoLR()` runs {label}: "
                f"{100 * np.mean(thrown):.1f} % of the budget on average, at most "
                f"{100 * max(thrown):.1f} % ({len(thrown)} runs that rewound).")
    return lines


def markdown(results, contenders=None, source="optimizers.json"):
    """Both sets, every contender the file has; `source`: the file's name."""
    table = summarize(results)
    lines = [f"Test score (accuracy %, or 100 x R^2 for friedman and diabetes), mean over seeds "
             f"{', '.join(map(str, seeds_of(results)))}; results of {date_of(results)}, "
             f"`benchmarks/results/{source}`.", ""]
    lines += summary_lines(table) + rewind_lines(results) + [""]
    for which in SETS:
        rows = [row for row in table.values() if row["_set"] == which]
        if not rows:
            continue
        present = {c for row in rows for c in row if not c.startswith("_")}
        main = contenders or [c for c in MAIN if c in present]
        lines += [f"### {TITLES[which]}", "", cell_table(table, which, main), ""]
        studies = sorted(present - set(main))
        if studies and contenders is None:
            lines += [f"The studies on the {TITLES[which].lower()}, beside `AutoLR()` (the "
                      "gaps are the default's):", ""]
            for start in range(0, len(studies), STUDY_COLUMNS):
                columns = ["autolr"] + studies[start:start + STUDY_COLUMNS]
                lines += [cell_table(table, which, columns), ""]
    return "\n".join(lines)


STUDY_COLUMNS = 8  # studies per table, so that a table stays readable
