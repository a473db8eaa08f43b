"""Tables of benchmarks/user_scripts.py from its results file (no TensorFlow).

`benchmarks/user_scripts.py` writes `benchmarks/results/user_scripts.json`;
it and `benchmarks/pages.py` make the tables with these functions.
"""

import dataclasses
import math
from typing import Optional

import numpy as np

CONTENDERS = ("own", "autolr", "grid")
# Scores of the issue's table, as filed (on its own data splits): own LR,
# `AutoLR()`, best of the grid (None where the issue ran none).
ISSUE_TABLE = {
    "digits-rmsprop": (79.3, 62.2, None),
    "mnist-rmsprop": (86.0, 79.8, None),
    "cnn-sgd": (89.6, 89.2, 94.6),
    "cnn-adam": (92.5, 95.1, 96.4),
    "guide-steps": (83.8, 51.3, None),
    "guide-validation": (84.2, 80.3, None),
}


@dataclasses.dataclass(frozen=True)
class Script:
    """One user script: its data, model, optimizer and `fit` call."""

    name: str
    description: str
    # "digits" (1,400 / 200 / 197), "mnist" (n_train / 1,000 / 1,000) or
    # "sine" (windows of a noisy sine, n_train / 1,000 / the rest)
    data: str
    model: str  # "mlp" (the guide's 64-64), "cnn" (the README's) or "lstm"
    optimizer: str
    batch_size: int
    epochs: int
    n_train: int
    steps_per_epoch: Optional[int] = None
    validation_steps: Optional[int] = None
    tf_data: bool = False
    grid: bool = False
    validation_split: float = 0.0
    early_stopping: bool = False  # EarlyStopping(val_loss, patience 3, best weights)
    fine_tune_epochs: int = 0  # then unfrozen, recompiled at own LR / 10, fit again
    n_fit: Optional[int] = None  # examples in each fit, when not n_train
    # TensorFlow's tutorial: the second fit is `fit(initial_epoch=epochs,
    # epochs=epochs + fine_tune_epochs)`, not `fit(epochs=fine_tune_epochs)`.
    initial_epoch: bool = False

    @property
    def steps(self):
        fitted = math.ceil((self.n_fit or self.n_train) * (1.0 - self.validation_split))
        per_epoch = self.steps_per_epoch or math.ceil(fitted / self.batch_size)
        return per_epoch * (self.epochs + self.fine_tune_epochs)


SCRIPTS = (
    Script("digits-rmsprop", "RMSprop, MLP on 1,400 digits, batch 64, 1 epoch",
           "digits", "mlp", "rmsprop", 64, 1, 1400),
    Script("mnist-rmsprop", "RMSprop, MLP on 3,000 MNIST images, batch 64, 1 epoch",
           "mnist", "mlp", "rmsprop", 64, 1, 3000),
    Script("cnn-sgd", "SGD momentum 0.9, small CNN, batch 1,024, 20 epochs",
           "mnist", "cnn", "sgd", 1024, 20, 3500, grid=True),
    Script("cnn-adam", "Adam, small CNN, batch 256, 8 epochs",
           "mnist", "cnn", "adam", 256, 8, 3500, grid=True),
    Script("guide-steps", "keras.io guide, RMSprop, tf.data, steps_per_epoch=15, 3 epochs",
           "mnist", "mlp", "rmsprop", 64, 3, 3000, steps_per_epoch=15, tf_data=True),
    Script("guide-validation", "keras.io guide, RMSprop, tf.data, validation_steps=10, "
           "1 epoch", "mnist", "mlp", "rmsprop", 64, 1, 3000, validation_steps=10,
           tf_data=True),
)
# The other optimizers of `keras.optimizers`, each at its default LR, in the
# guide's script on the digits: does "any Keras optimizer" hold?
OTHER_OPTIMIZERS = tuple(
    Script(f"digits-{name}", f"{label}, MLP on 1,400 digits, batch 64, 10 epochs",
           "digits", "mlp", name, 64, 10, 1400)
    for name, label in (("lion", "Lion"), ("nadam", "Nadam"), ("adamax", "Adamax"),
                        ("adagrad", "Adagrad"), ("adadelta", "Adadelta"),
                        ("adafactor", "Adafactor"), ("muon", "Muon"),
                        ("sfadamw", "ScheduleFreeAdamW"),
                        ("multi", "MultiOptimizer (AdamW; Adam for the biases)")))
# keras.io's early-stopping pattern: `validation_split=0.2` and
# `EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)`
# before `AutoLR()` in the list, 40 epochs of batches of 32 (1,400 steps).
EARLY_STOPPING = tuple(
    Script(f"digits-es-{name}", f"{label}, EarlyStopping, MLP on 1,400 digits, batch 32, "
           "up to 40 epochs", "digits", "mlp", name, 32, 40, 1400,
           validation_split=0.2, early_stopping=True)
    for name, label in (("adam", "Adam"), ("rmsprop", "RMSprop")))
# keras.io's transfer learning and fine-tuning, in small, with the same
# callbacks list in both fits: the guide's MLP pretrained on the MNIST digits
# 0-4, its hidden layers frozen under a new head for the 1,491 digits 5-9 of
# the train split (10 epochs), then every layer at Adam(1e-4) (5 epochs).
FINE_TUNING = (
    Script("mnist-finetune", "Adam, fine-tuning a base pretrained on MNIST 0-4 for 5-9: "
           "head 10 epochs, then all layers at Adam(1e-4) 5 epochs, batch 64",
           "mnist", "mlp", "adam", 64, 10, 3000, fine_tune_epochs=5, n_fit=1491),
)
# TensorFlow's "Transfer learning and fine-tuning" tutorial fits the second
# phase from the first's last epoch (`initial_epoch`), a new AutoLR in it.
FINE_TUNING_TF = (
    Script("mnist-finetune-tf", "Adam, the same fine-tuning as TensorFlow's tutorial "
           "writes it: the second fit from `initial_epoch=10` to `epochs=15`",
           "mnist", "mlp", "adam", 64, 10, 3000, fine_tune_epochs=5, n_fit=1491,
           initial_epoch=True),
)
# The guide's MLP with a BatchNormalization after each hidden layer (keras.io
# convnets use it throughout): its moving statistics follow the weights with
# momentum 0.99, about 100 steps.
BATCH_NORM = tuple(
    Script(f"digits-bn-{name}-x{epochs}", f"{label}, MLP with BatchNormalization on 1,400 "
           f"digits, batch 64, {epochs} epochs", "digits", "mlp-bn", name, 64, epochs, 1400)
    for name, label, epochs in (("sgd", "SGD momentum 0.9", 6), ("adam", "Adam", 6),
                                ("rmsprop", "RMSprop", 6), ("sgd", "SGD momentum 0.9", 20)))
# keras.io's "Timeseries forecasting for weather prediction" in small: an
# LSTM(32) reads 40 steps of a series and predicts the next value, MSE, 10
# epochs of batches of 256. The series is generated (two sines and Gaussian
# noise of standard deviation 0.2); the score is 100 x R^2 on later windows.
FORECAST = tuple(
    Script(f"sine-lstm-{name}", f"{label}, LSTM(32) forecasting a noisy sine, "
           "batch 256, 10 epochs", "sine", "lstm", name, 256, 10, 9000)
    for name, label in (("rmsprop", "RMSprop"), ("adam", "Adam")))
ALL_SCRIPTS = (SCRIPTS + OTHER_OPTIMIZERS + EARLY_STOPPING + FINE_TUNING + FINE_TUNING_TF
               + BATCH_NORM + FORECAST)
# The tables beside the issue's: (scripts, the study contender shown beside
# `AutoLR()`, the behaviour before the change it measures, or None).
DEFAULTS_TABLES = ((OTHER_OPTIMIZERS, None), (EARLY_STOPPING, "autolr-esoff"),
                   (FINE_TUNING, "autolr-reuse"), (FINE_TUNING_TF, "autolr-wholebudget"),
                   (BATCH_NORM, None), (FORECAST, "autolr-anycopy"))


def summarize(results):
    """{script: {contender: mean test score}}, the grid tuned on validation."""
    table = {}
    for script in ALL_SCRIPTS:
        runs = [r for r in results["runs"] if r["script"] == script.name]
        if not runs:
            continue
        row = {}
        for contender in sorted({r["contender"] for r in runs} - {"grid"}):
            scores = [r["test_score"] for r in runs if r["contender"] == contender]
            row[contender] = float(np.mean(scores))
        by_lr = {}
        for r in runs:
            if r["contender"] == "grid":
                by_lr.setdefault(r["lr"], []).append(r)
        if by_lr:
            best = max(sorted(by_lr), key=lambda lr: np.mean([r["val_score"] for r in by_lr[lr]]))
            row["grid"] = float(np.mean([r["test_score"] for r in by_lr[best]]))
            row["grid_lr"] = best
        decisions = [r["autolr"] for r in runs if r["contender"] == "autolr"]  # today's
        row["decisions"] = decisions
        table[script.name] = row
    return table


def markdown(results):
    """The table: the issue's figures beside today's."""
    table = summarize(results)
    seeds = sorted({r["seed"] for r in results["runs"]})
    lines = [
        f"Test accuracy %, mean over seeds {', '.join(map(str, seeds))}; results of "
        f"{results.get('updated', '?')}, `benchmarks/results/user_scripts.json`. "
        "\"Issue\": the figures issue 22 was filed with, on its own data splits.", "",
        "| script (steps) | own LR | `AutoLR()` | AutoLR - own | before the blow-up fix "
        "| grid (peak) | issue: own / `AutoLR()` / grid | how warmup ended |",
        "|---|---|---|---|---|---|---|---|"]
    gaps = []
    for script in SCRIPTS:
        row = table.get(script.name)
        if not row or "own" not in row or "autolr" not in row:
            continue
        gap = row["autolr"] - row["own"]
        gaps.append(gap)
        grid = f"{row['grid']:.1f} ({row['grid_lr']:.3g})" if "grid" in row else "-"
        issue = " / ".join("-" if v is None else f"{v:.1f}" for v in ISSUE_TABLE[script.name])
        ended = ", ".join(sorted({d["reason"] for d in row["decisions"]}))
        before = f"{row['autolr-before']:.1f}" if "autolr-before" in row else "-"
        lines.append(f"| {script.description} ({script.steps}) | {row['own']:.1f} | "
                     f"{row['autolr']:.1f} | {gap:+.1f} | {before} | {grid} | {issue} "
                     f"| {ended} |")
    if gaps:
        plural = "s" if len(gaps) != 1 else ""
        lines += ["", f"`AutoLR()` minus the own LR: mean {np.mean(gaps):+.1f}, "
                      f"worst {min(gaps):+.1f} ({len(gaps)} script{plural})."]
    return "\n".join(lines)


def defaults_markdown(results, scripts, before=None):
    """A table of `scripts` (`OTHER_OPTIMIZERS`, `EARLY_STOPPING`): own LR and
    `AutoLR()` per script, with the steps each ran (mean); with `before` (a
    study contender, e.g. `"autolr-esoff"`), its score in a column of its own."""
    table = summarize(results)
    extra = f" | `{before}`" if before else ""
    lines = ["| script (its default LR), budget in steps | own LR | `AutoLR()` | AutoLR - own "
             f"| steps run: own / `AutoLR()`{extra} | how warmup ended | peak LR (mean) |",
             "|---|---|---|---|---|---|---|" + ("---|" if before else "")]
    for script in scripts:
        row = table.get(script.name)
        if not row or "own" not in row or "autolr" not in row:
            continue
        runs = [r for r in results["runs"] if r["script"] == script.name]
        own_lr = next((r["own_lr"] for r in runs if "own_lr" in r), None)
        ran = " / ".join(
            f"{np.mean([r['steps'] for r in runs if r['contender'] == c]):.0f}"
            for c in ("own", "autolr"))
        label = script.description.split(",")[0]
        own = "" if own_lr is None else f" ({own_lr:.3g})"
        ended = ", ".join(sorted({str(d["reason"]) for d in row["decisions"]}))
        peaks = [d["peak_lr"] for d in row["decisions"] if d["peak_lr"] is not None]
        peak = f"{np.mean(peaks):.3g}" if peaks else "-"
        if before:
            ran += f" | {row[before]:.1f}" if before in row else " | -"
        lines.append(f"| {label}{own}, {script.steps} | {row['own']:.1f} | "
                     f"{row['autolr']:.1f} | {row['autolr'] - row['own']:+.1f} | {ran} "
                     f"| {ended} | {peak} |")
    return "\n".join(lines)
