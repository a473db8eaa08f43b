"""`keras-autolr replay`: AutoLR's decision on a recorded loss curve, from a shell.

```
python -m keras_autolr replay losses.csv --total-steps 2000 [--plot out.png] [--json]
```

LOSSES is one of:

- a text or CSV file with one loss per line (blank lines and lines starting
  with `#` are skipped);
- a CSV file with a header row, e.g. a `keras.callbacks.CSVLogger` log: the
  column `loss` (or `--column NAME`) is read, one row per step. CSVLogger
  writes one row per *epoch*, so its file replays as if each epoch were one
  step: pass `--total-steps` in those units (the number of epochs of the
  run). Its marker `NA` for a missing value reads as NaN;
- a NumPy `.npy` file holding a 1-D array.

The decision is printed as a table (switch step, peak LR, each test's
past-minimum probability), or as JSON with `--json`. A file that cannot be
read ends the command with exit status 1 and one line on stderr naming the
problem; a bad argument, with exit status 2.
"""

import argparse
import csv
import json
import math
import os
import sys

import numpy as np

from keras_autolr.decision.options import Options
from keras_autolr.decision.options import PAPER

PROG = "keras-autolr"
_MISSING = ("NA",)  # CSVLogger's marker for a missing value
# Flags for `Options` fields whose type is not that of their default.
_OPTION_CHOICES = {"peak": ("minimum", "steepest"), "sweep_start": ("own_lr", "min_lr"),
                   "cap_peak": ("gp", "reached"), "gp": ("library", "reference")}
_OPTION_TYPES = {"initial_noise": float}
_SCHEDULE_FLAGS = (
    ("min_lr", float, "warmup start (1e-5)"),
    ("max_lr", float, "warmup end at the cap (1.0)"),
    ("max_warmup_fraction", float, "longest warmup, as a fraction of the budget (0.5)"),
    ("warmup", str, "'exponential' (default) or 'linear'"),
    ("decay", str, "'cosine' (default), 'constant_then_cosine' or 'linear'"),
    ("cooldown_fraction", float, "(0.2)"),
)


class LossFileError(Exception):
    """A loss file that cannot be read; the message names the problem."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) raised, not exited."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message}")


def main(argv=None):
    """Runs the command line; returns the exit status (0 success, 1 data, 2 usage)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        return _fail(str(error), 2)
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    try:
        return args.run(args)
    except LossFileError as error:
        return _fail(f"{PROG}: error: {error}", 1)
    except (ValueError, TypeError) as error:  # an option replay refused
        return _fail(f"{PROG}: error: {error}", 2)
    except ImportError as error:  # --plot without matplotlib
        return _fail(f"{PROG}: error: {error}", 1)


def _build_parser():
    parser = _Parser(prog=PROG, description=(
        "Automatic LR warmup for Keras (AutoLR, arXiv 2107.05855)."))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    replay = commands.add_parser(
        "replay", help="the decision AutoLR takes on a recorded loss curve",
        description=(
            "Runs AutoLR's detector on a recorded loss curve and prints the "
            "decision: switch step, peak LR, each test's probability."))
    replay.add_argument(
        "losses", metavar="LOSSES",
        help="text/CSV file with one loss per step, a CSVLogger file "
             "(column 'loss'; one row per epoch, read as one step), or a .npy array")
    replay.add_argument("--total-steps", type=_positive_int, required=True,
                        metavar="N", help="the budget of the run, in steps")
    replay.add_argument("--steps-per-epoch", type=_positive_int, metavar="M",
                        help="epoch length (needed by --check-every epoch)")
    replay.add_argument("--steps-per-execution", type=_positive_int, default=1,
                        metavar="K", help="steps per execution of the live run (1)")
    replay.add_argument("--column", default="loss",
                        help="column to read from a CSV file with a header (loss)")
    replay.add_argument("--own-lr", type=float, metavar="LR",
                        help="the optimizer's own constant LR that AutoLR replaced "
                             "(the floor and short-budget fallback; default: none)")
    replay.add_argument("--paper", action="store_true",
                        help="start from keras_autolr.PAPER (the paper's rule) "
                             "instead of the default options")
    options = replay.add_argument_group(
        "options", "keras_autolr.Options fields (default: the library's, or "
                   "PAPER's with --paper)")
    for name in Options.names():
        flag = "--" + name.replace("_", "-")
        default = getattr(Options(), name)
        if isinstance(default, bool):
            options.add_argument(flag, action=argparse.BooleanOptionalAction,
                                 default=None, help=f"({default})")
        elif name == "check_every":
            options.add_argument(flag, type=_check_every, metavar="K",
                                 help="'auto', 'epoch' or a number of steps (auto)")
        else:
            options.add_argument(flag, type=_OPTION_TYPES.get(name, type(default)),
                                 choices=_OPTION_CHOICES.get(name),
                                 help=f"({default})")
    shape = replay.add_argument_group(
        "schedule", "keras_autolr.AutoLRSchedule's shape (default: its defaults)")
    for name, kind, help_text in _SCHEDULE_FLAGS:
        shape.add_argument("--" + name.replace("_", "-"), type=kind, help=help_text)
    replay.add_argument("--plot", metavar="PNG",
                        help="also draw the decision to this image (needs matplotlib)")
    replay.add_argument("--json", action="store_true",
                        help="print the decision as JSON")
    replay.set_defaults(run=_replay)
    return parser


def _replay(args):
    from keras_autolr.schedule import AutoLRSchedule
    from keras_autolr.tools.offline import replay

    losses = load_losses(args.losses, column=args.column)
    changes = {name: getattr(args, name) for name in Options.names()
               if getattr(args, name) is not None}
    options = (PAPER if args.paper else Options()).replace(**changes)
    shape = {name: getattr(args, name) for name, _, _ in _SCHEDULE_FLAGS
             if getattr(args, name) is not None}
    schedule = AutoLRSchedule(**shape)
    decision = replay(
        losses, total_steps=args.total_steps,
        steps_per_epoch=args.steps_per_epoch,
        steps_per_execution=args.steps_per_execution,
        schedule=schedule, options=options, own_lr=args.own_lr)
    if args.plot:
        from keras_autolr.tools.plotting import plot_decision

        figure = plot_decision(losses, decision, schedule=schedule, options=options)
        try:
            figure.savefig(args.plot)
        except (OSError, ValueError) as error:
            raise LossFileError(f"cannot write the plot {args.plot}: {error}") from None
    if args.json:
        print(json.dumps(decision_to_json(decision, args.losses, len(losses),
                                          plot=args.plot), indent=2))
    else:
        print(format_table(decision, args.losses, len(losses)))
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


# ------------------------------------------------------------------ reading
def load_losses(path, column="loss"):
    """The per-step losses in `path` (text, CSV with a header, or `.npy`).

    Raises:
        LossFileError: the file is missing, empty or malformed; the message
            names the file and, for text, the line.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise LossFileError(f"{name}: no such file")
    if os.path.isdir(name):
        raise LossFileError(f"{name}: is a directory, not a loss file")
    if name.lower().endswith(".npy"):
        return _load_npy(name)
    try:
        with open(name, encoding="utf-8", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise LossFileError(
            f"{name}: not a text file (a .npy array must end in .npy)") from None
    except OSError as error:
        raise LossFileError(f"{name}: cannot read it ({error.strerror})") from None
    return _parse_text(name, text, column)


def _load_npy(name):
    try:
        values = np.load(name, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise LossFileError(f"{name}: not a NumPy .npy array ({error})") from None
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "fiub":
        raise LossFileError(f"{name}: holds {getattr(values, 'dtype', type(values))}, "
                            "not numbers")
    if values.ndim == 2 and 1 in values.shape:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise LossFileError(f"{name}: holds an array of shape {values.shape}; "
                            "expected one loss per step (1-D)")
    if values.size == 0:
        raise LossFileError(f"{name}: contains no losses (empty array)")
    return values.astype(np.float64)


def _parse_text(name, text, column):
    rows = [(number, line.strip()) for number, line in
            enumerate(text.splitlines(), start=1)
            if line.strip() and not line.strip().startswith("#")]
    if not rows:
        raise LossFileError(f"{name}: contains no losses (empty file)")
    delimiter = next((d for d in (",", "\t", ";") if d in rows[0][1]), None)

    def fields(line):
        if delimiter is None:
            return [line]
        return [f.strip() for f in next(csv.reader([line], delimiter=delimiter))]

    first = fields(rows[0][1])
    header = not all(_is_number(f) for f in first)
    if not header:  # one loss per line
        if len(first) != 1:
            raise LossFileError(
                f"{name}: line {rows[0][0]} has {len(first)} fields and the "
                f"file has no header; give one loss per line, or a header "
                f"row with a '{column}' column")
        index, data = 0, rows
    else:
        names = [f.strip().strip('"') for f in first]
        if column not in names:
            raise LossFileError(
                f"{name}: no column '{column}' in the header "
                f"(columns: {', '.join(names)})")
        index, data = names.index(column), rows[1:]
        if not data:
            raise LossFileError(f"{name}: contains no losses (a header row only)")
    losses = np.empty(len(data), np.float64)
    for i, (number, line) in enumerate(data):
        row = fields(line)
        if len(row) <= index:
            raise LossFileError(
                f"{name}: line {number} has {len(row)} fields, no '{column}' value")
        losses[i] = _number(name, number, row[index], column if header else None)
    return losses


def _is_number(field):
    if field in _MISSING:
        return True
    try:
        float(field)
    except ValueError:
        return False
    return True


def _number(name, number, field, column):
    if field in _MISSING:
        return math.nan
    try:
        return float(field)
    except ValueError:
        where = f" in column '{column}'" if column else ""
        raise LossFileError(
            f"{name}: line {number}: {field!r}{where} is not a number") from None


# ------------------------------------------------------------------ output
def format_table(decision, source, n_losses):
    """The decision as text: a summary line, then one row per test."""
    lines = [f"AutoLR replay of {source}: {n_losses} losses, budget "
             f"{decision.total_steps} steps, warmup cap {decision.warmup_steps} steps"]
    if decision.switch_step is None:
        lines.append(f"no switch: still warming up after {len(decision.tests)} tests "
                     "(the record ends before a decision)")
    else:
        lines.append(f"warmup ends at step {decision.switch_step} ({decision.reason}); "
                     f"peak LR {decision.peak_lr:.4g}")
    lines.append(f"{'test':>5} {'step':>8} {'P(min passed)':>14} "
                 f"{'positive':>9} {'GP best LR':>11}")
    for test in decision.tests:
        probability = ("inconclusive" if test.inconclusive
                       else f"{test.probability:.3f}")
        best = "-" if test.peak_lr is None else f"{test.peak_lr:.4g}"
        lines.append(f"{test.index + 1:>5} {test.step:>8} {probability:>14} "
                     f"{'yes' if test.positive else 'no':>9} {best:>11}")
    return "\n".join(lines)


def decision_to_json(decision, source, n_losses, plot=None):
    """The decision as JSON-ready data (NaN and Inf become null)."""
    tests = []
    for test in decision.tests:
        tests.append({
            "index": test.index, "step": test.step,
            "probability": _finite(test.probability),
            "probabilities": [_finite(p) for p in test.probabilities],
            "positive": test.positive, "peak_lr": _finite(test.peak_lr),
            "amplitude": _finite(test.amplitude), "noise": _finite(test.noise),
            "mean": _finite(test.mean), "inconclusive": test.inconclusive,
        })
    out = {
        "losses": os.fspath(source), "n_losses": int(n_losses),
        "switch_step": decision.switch_step, "peak_lr": _finite(decision.peak_lr),
        "reason": decision.reason, "total_steps": decision.total_steps,
        "warmup_steps": decision.warmup_steps, "tests": tests,
    }
    if plot:
        out["plot"] = os.fspath(plot)
    return out


def _finite(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------ args
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, received {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer, received {text}")
    return value


def _check_every(text):
    if text in ("auto", "epoch"):
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be 'auto', 'epoch' or a positive integer, received {text!r}"
        ) from None


def _fail(message, status):
    """Writes one line to stderr and returns the exit status."""
    lines = str(message).splitlines()
    sys.stderr.write((lines[0] if lines else f"{PROG}: error") + "\n")
    return status
