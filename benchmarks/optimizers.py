"""Is AutoLR ever worse than what users had? The optimizers users run, at their defaults.

    python benchmarks/optimizers.py --set development          # all contenders, 3 seeds
    python benchmarks/optimizers.py --set development --contenders own,autolr --seeds 0
    python benchmarks/optimizers.py --set validation --resume   # the held-out cells
    python benchmarks/optimizers.py --report                    # tables from the JSON

A cell is a task (benchmarks/_user_tasks.py), an optimizer at its Keras
default learning rate, a batch size and an epoch budget; the budgets run
from about 10 to about 2,000 optimizer steps, with one-epoch cells at
keras.io tutorial size and batches of 1,024 and more. Contenders:

- `own`: the optimizer as the user has it, its own Keras default LR kept
  constant (Adam, AdamW, RMSprop and Lamb 1e-3, SGD 1e-2), no callback:
  what `AutoLR()` must never be worse than.
- `autolr`: the same script with `callbacks=[AutoLR()]` and nothing else.
  `autolr-<tokens>`: an `Options` variant (`f0.6`: `peak_factor`, `paper`:
  `PAPER`, `nofloor`, `norewind`, `frommin`: `sweep_start="min_lr"`,
  `capreached`: `cap_peak="reached"`, `nodescent`: `require_descent=False`,
  `steepest`: `peak="steepest"`; `ctc`, `clip`,
  `bu<factor>`, `capmed`, `capmax` and `w<fraction>` (the schedule's
  `max_warmup_fraction`), not `Options` fields, see `STUDY_TOKENS`).
- `grid`: a linear warmup over 5 % of the steps, then a cosine to zero, its
  peak LR from 7 values, the own LR x 10^(-1, -0.5, ..., 2); the tuned
  baseline is the grid LR with the best mean validation score over the
  seeds, and its test score is reported.
- `prodigy`, `schedulefree`: the learning-rate-free optimizers at their
  authors' recommended settings (benchmarks/lr_free_optimizers.py).

**The split.** The cells are split by task, before any run: the
development set (`digits`, `teacher`, `conv1d`) is the only one defaults may
be chosen on; the validation set (`mnist`, `transformer`, `gru`,
`friedman`: other data, other models, a regression) reports them. Every
optimizer appears in both.

Writes `benchmarks/results/optimizers.json` after every run (`--resume`
skips the runs it holds) and `benchmarks/results/optimizers.md`.
"""

import argparse
import contextlib
import dataclasses
import datetime
import gc
import json
import math
import os
import re
import sys
import time
import warnings
from unittest import mock

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

import numpy as np  # noqa: E402

import _user_tasks  # noqa: E402
import optimizers_report  # noqa: E402
import keras_autolr  # noqa: E402
from keras_autolr._keras import IS_KERAS_3  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402

RESULTS = os.path.join(_HERE, "results", "optimizers.json")
GRID_EXPONENTS = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)  # x the own LR
WARMUP_FRACTION = 0.05
DEVELOPMENT = optimizers_report.DEVELOPMENT
VALIDATION = optimizers_report.VALIDATION
HOLDOUT = optimizers_report.HOLDOUT


@dataclasses.dataclass(frozen=True)
class Cell:
    """One benchmark cell: a task, an optimizer, a batch size and epochs
    (`study`: a study's own set, outside the three sets' tables)."""

    task: str
    optimizer: str
    batch_size: int
    epochs: int
    study: str = None

    @property
    def name(self):
        return f"{self.task} {self.optimizer} b{self.batch_size} x{self.epochs}"

    @property
    def set(self):
        if self.study:
            return self.study
        if self.task in DEVELOPMENT_TASKS:
            return DEVELOPMENT
        return HOLDOUT if self.task in HOLDOUT_TASKS else VALIDATION


DEVELOPMENT_TASKS = ("digits", "teacher", "conv1d")
VALIDATION_TASKS = ("mnist", "transformer", "gru", "friedman")
# Added on 2026-12-06, after the validation set had been looked at eight
# times: tasks no default or study had seen.
HOLDOUT_TASKS = ("chars", "diabetes", "blobs")

# Steps = ceil(train / batch) x epochs; train: digits 1,200, mnist 3,500,
# teacher 200,000, the sequences and friedman 20,000.
CELLS = (
    # development
    Cell("digits", "rmsprop", 32, 1),        # 38 steps, keras.io size
    Cell("digits", "adam", 64, 20),          # 380
    Cell("digits", "sgd", 256, 10),          # 50
    Cell("digits", "lamb", 1024, 20),        # 40
    Cell("digits", "adamw", 16, 1),          # 75
    Cell("teacher", "sgd", 1024, 4),         # 784
    Cell("teacher", "adam", 4096, 1),        # 49
    Cell("teacher", "lamb", 16384, 4),       # 52
    Cell("teacher", "adamw", 16384, 1),      # 13
    Cell("teacher", "rmsprop", 256, 2),      # 1,564
    Cell("conv1d", "adam", 64, 1),           # 313
    Cell("conv1d", "adamw", 1024, 5),        # 100
    Cell("conv1d", "sgd", 32, 3),            # 1,875
    Cell("conv1d", "rmsprop", 256, 1),       # 79
    Cell("conv1d", "lamb", 2048, 10),        # 100
    # validation
    Cell("mnist", "rmsprop", 64, 1),         # 55
    Cell("mnist", "adam", 128, 10),          # 280
    Cell("mnist", "sgd", 512, 10),           # 70
    Cell("mnist", "adamw", 32, 1),           # 110
    Cell("transformer", "adam", 64, 1),      # 313
    Cell("transformer", "adamw", 1024, 10),  # 200
    Cell("transformer", "lamb", 256, 2),     # 158
    Cell("gru", "rmsprop", 128, 2),          # 314
    Cell("gru", "sgd", 1024, 10),            # 200
    Cell("gru", "adamw", 2048, 1),           # 10
    Cell("friedman", "adam", 32, 3),         # 1,875
    Cell("friedman", "sgd", 1024, 10),       # 200
    Cell("friedman", "lamb", 4096, 10),      # 50
    Cell("friedman", "rmsprop", 256, 1),     # 79
    # held out (chars 20,000 windows, diabetes 300, blobs 20,000)
    Cell("chars", "rmsprop", 128, 1),        # 157
    Cell("chars", "adam", 256, 2),           # 158
    Cell("chars", "sgd", 64, 1),             # 313
    Cell("diabetes", "rmsprop", 16, 20),     # 380
    Cell("diabetes", "adamw", 32, 50),       # 500
    Cell("blobs", "rmsprop", 256, 2),        # 158
    Cell("blobs", "lamb", 1024, 5),          # 100
    Cell("blobs", "adamw", 2048, 10),        # 100
    Cell("blobs", "sgd", 512, 3),            # 120
)

# The momentum study (`--set momentum`): does the peak factor follow the
# optimizer's momentum? A momentum buffer lags the sweep's growing LR, so
# the loss shows the LR some steps late; without one it does not. SGD
# without momentum and RMSprop with 0.9, on the development set's SGD and
# RMSprop cells' tasks and budgets; not in the sets' tables.
MOMENTUM = "momentum"
MOMENTUM_CELLS = (
    Cell("digits", "sgdplain", 256, 10, study=MOMENTUM),     # 50
    Cell("teacher", "sgdplain", 1024, 4, study=MOMENTUM),    # 784
    Cell("conv1d", "sgdplain", 32, 3, study=MOMENTUM),       # 1,875
    Cell("digits", "rmspropm", 32, 1, study=MOMENTUM),       # 38
    Cell("teacher", "rmspropm", 256, 2, study=MOMENTUM),     # 1,564
    Cell("conv1d", "rmspropm", 256, 1, study=MOMENTUM),      # 79
)

# The huge-loss study (`--set hugeloss`, written on 2026-12-06 before any of
# its runs): at a detection, pass over the tests taken after a huge loss
# (study `huge<R>`, `huge_loss`). Six new tasks: four regressions whose
# losses can blow up by orders of magnitude (mean squared error, and a
# log-link Poisson loss, the loss of the known miss) and two classifiers,
# with the five optimizers at their Keras defaults; not in the sets' tables.
# The prediction, with R = 10 fixed before the runs: on the regressions,
# `huge10` changes the peak of some detections that follow a blow-up and
# does no worse than `AutoLR()` where it does; on the classifiers it
# changes almost no peak. Adopted as a default only if, over the study's 3
# seeds, (a) the runs whose peak it changes score no lower on the mean than
# `AutoLR()`'s, (b) no cell's mean falls more than 1 point below `AutoLR()`'s
# nor becomes more than 1 point below the own LR, and (c) it changes at most
# one peak of the classifiers' 18 runs.
# Outcome (2026-12-06): (b) and (c) held, (a) did not: it changed 6 runs'
# peaks (5 on the regressions, 1 of the classifiers' 18), -0.04 points on
# their mean; not adopted. The same cells showed a miss of `AutoLR()` at the
# cap: boston Adam seed 1, a blow-up 146 depths high from step 211 left the
# network predicting the mean, the cap's test read a minimum at 0.81 in it
# and the run ended at R^2 -0.6 against 86.6 without AutoLR. Study
# `hugecap10`, written before its runs: the same rule at the cap alone.
# Adopted if on the development set no cell's mean falls more than 1 point
# below `AutoLR()`'s and the runs it changes score no lower on the mean; the
# validation, held-out, momentum and huge-loss sets are reported beside.
# Its huge-loss runs came first: it changed 16 of 42 peaks, mostly lower
# (5 of the classifiers' 18), rescued boston Adam seed 1 (R^2 -0.6 to
# 86.3) and put boston RMSprop 2.3 points below the own LR (-4.1 on
# `AutoLR()`): too broad at the cap, where most sweeps end in a blow-up.
# Study `hugepast10`, written before its runs: at a detection or the cap,
# only a chosen LR past the sweep's LR at the first huge loss is replaced
# (`huge_loss_past`); adopted on the same development-set terms, if it also
# rescues that run and puts no huge-loss cell more than 1 point below the
# own LR that `AutoLR()` was not.

# The decay guard (written on 2026-12-06 before any benchmark run of it):
# in the decay, an execution's loss more than HUGE_LOSS_DEPTHS descent
# depths above the start's highest loss puts back the newest sound copy of
# the weights trained on and lowers the decay's peak to a quarter, at most
# the own LR (`WarmupController._back_off`). Designed on one run, the
# Poisson spike of docs/reliability.md (10.8 % against 96.0 % without
# AutoLR before it; 97.7 % with it), which is no evidence. The prediction:
# on the development, validation, held-out, momentum and huge-loss sets
# (192 runs) and the 75 user-script runs it fires in at most a few runs.
# Kept as a default only if (a) every run where it does not fire and whose
# decay had no non-finite loss repeats the `AutoLR()` run before it, its
# switch, peak and score (conv1d RMSprop b256 and chars RMSprop b128
# excepted: not bit-reproducible here), and (b) the runs where it fires
# score no lower on their mean than before, none more than 1 point lower.
# Outcome (2026-12-06): it acted in 1 of the 192 runs, autompg RMSprop b8
# seed 1 (huge-loss set), at one noisy batch 10.1 depths high two steps
# after the switch, the losses before and after it normal: 88.6 -> 87.9,
# so (b) failed (-0.7 on the mean of the runs where it acted); (a) held
# (only conv1d and chars RMSprop moved; the user scripts, 66 of 75 run,
# none). Not kept as written. The revision, written after that failure
# and before any run of it (`benchmarks/decay_guard.py` holds its new
# cells, prediction and criteria): the guard acts at an execution above
# the ceiling only when the median of the newest DAMAGE_WINDOW executions'
# losses lies above it too, the weights damaged, not one batch.
HUGELOSS = "hugeloss"
HUGELOSS_CELLS = (
    Cell("boston", "adam", 16, 20, study=HUGELOSS),          # 520
    Cell("boston", "rmsprop", 32, 20, study=HUGELOSS),       # 260
    Cell("boston", "sgd", 32, 30, study=HUGELOSS),           # 390
    Cell("autompg", "adamw", 16, 20, study=HUGELOSS),        # 400
    Cell("autompg", "rmsprop", 8, 10, study=HUGELOSS),       # 390
    Cell("friedman2", "adam", 128, 2, study=HUGELOSS),       # 314
    Cell("friedman2", "sgd", 512, 5, study=HUGELOSS),        # 200
    Cell("friedman2", "lamb", 1024, 10, study=HUGELOSS),     # 200
    Cell("counts", "adam", 256, 2, study=HUGELOSS),          # 158
    Cell("counts", "rmsprop", 64, 1, study=HUGELOSS),        # 313
    Cell("cancer", "adam", 32, 10, study=HUGELOSS),          # 150
    Cell("cancer", "sgd", 64, 20, study=HUGELOSS),           # 160
    Cell("wine", "adamw", 16, 30, study=HUGELOSS),           # 270
    Cell("wine", "rmsprop", 8, 10, study=HUGELOSS),          # 180
)

CONTENDERS = ("own", "autolr", "grid", "prodigy", "schedulefree")


# ---------------------------------------------------------------- optimizers
# Other `keras.optimizers`, at their defaults (benchmarks/user_scripts.py).
OTHER_KERAS = {"lion": "Lion", "nadam": "Nadam", "adamax": "Adamax", "adagrad": "Adagrad",
               "adadelta": "Adadelta", "adafactor": "Adafactor", "muon": "Muon",
               "sfadamw": "ScheduleFreeAdamW"}  # the last two: Keras 3.15's


def make_optimizer(name, learning_rate=None):
    """The optimizer `name` at its Keras default LR, or at `learning_rate`."""
    kwargs = {} if learning_rate is None else {"learning_rate": learning_rate}
    if name == "adam":
        return keras.optimizers.Adam(**kwargs)
    if name == "adamw":
        return keras.optimizers.AdamW(**kwargs)
    if name == "sgd":  # SGD with momentum, as users run it
        return keras.optimizers.SGD(momentum=0.9, **kwargs)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kwargs)
    if name == "sgdplain":  # the momentum study: SGD without momentum
        return keras.optimizers.SGD(**kwargs)
    if name == "rmspropm":  # the momentum study: RMSprop with momentum 0.9
        return keras.optimizers.RMSprop(momentum=0.9, **kwargs)
    if name == "lamb":
        if IS_KERAS_3:
            return keras.optimizers.Lamb(**kwargs)
        import tensorflow_addons as tfa  # the legacy lane's LAMB

        return tfa.optimizers.LAMB(**kwargs)
    if name in ("prodigy", "schedulefree"):
        import lr_free_optimizers

        cls = (lr_free_optimizers.Prodigy if name == "prodigy"
               else lr_free_optimizers.ScheduleFreeAdamW)
        return cls(**kwargs)
    if name in OTHER_KERAS:  # the user-scripts benchmark's other optimizers
        return getattr(keras.optimizers, OTHER_KERAS[name])(**kwargs)
    if name == "multi":  # AdamW, and Adam for the biases: no decay on them
        mapping = keras.optimizers.OptimizerMap(
            default_optimizer=keras.optimizers.AdamW(**kwargs))
        mapping[".*/bias"] = keras.optimizers.Adam(**kwargs)
        return keras.optimizers.MultiOptimizer(mapping)
    raise ValueError(f"Unknown optimizer. Received optimizer={name!r}")


def own_lr(name):
    """The optimizer's Keras default learning rate."""
    optimizer = make_optimizer(name)
    if name == "multi":  # no LR of its own: its sub-optimizers share one
        optimizer = optimizer.optimizers[0]
    return float(np.asarray(optimizer.learning_rate))


def warmup_cosine(peak_lr, total_steps):
    """Linear warmup from 0 over 5 % of the steps, then cosine to 0."""
    warmup = max(1, int(round(WARMUP_FRACTION * total_steps)))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0, decay_steps=max(1, total_steps - warmup),
        alpha=0.0, warmup_target=peak_lr, warmup_steps=warmup)


# Tokens of candidate policies that are not `Options` fields (a study of
# them, not a public knob): `ctc` decays as
# `AutoLRSchedule(decay="constant_then_cosine")`. (`fromown`, the sweep from
# the own LR at every budget, was one until the development set made it the
# default, `Options(sweep_start="own_lr")`: its runs are in the results file.)
STUDY_TOKENS = ("ctc", "clip", "capmed", "capmax", "detrend", "diffsd", "detrend9",
                "capend", "keepfirst", "capprev", "capconf", "capconf2", "confident", "edge",
                "edge2", "esoff", "reuse", "keepbetter", "allcopies", "soundcopy", "anycopy",
                "wholebudget", "oracle", "plateau", "damagedmin", "anymin", "lag", "nohuge",
                "noguard", "guard1")
# Study tokens with a number: `bu<factor>` (`blowup_stop`), `w<fraction>` (the
# warmup cap at that fraction of the budget), `span<decades>` (`sweep_span`)
# `floor<factor>` (`floor_times`), `rms<factor>` (`peak_factor` for RMSprop
# alone), `huge<depths>` (`huge_loss`, at a detection), `hugecap<depths>`
# (the same at the cap alone) and `hugepast<depths>` (`huge_loss_past`).
NUMBERED_TOKENS = {"bu": r"bu([0-9.]+)", "w": r"w(0\.[0-9]+)", "span": r"span([0-9.]+)",
                   "floor": r"floor([0-9.]+)", "rms": r"rms([0-9.]+)",
                   "huge": r"huge([0-9.]+)", "hugecap": r"hugecap([0-9.]+)",
                   "hugepast": r"hugepast([0-9.]+)"}


def study_token(token):
    """`(name, number)` of a study token (`"bu2"` -> `("bu", 2.0)`, `"clip"`
    -> `("clip", None)`), or None when `token` is not one."""
    if token in STUDY_TOKENS:
        return token, None
    for name, pattern in NUMBERED_TOKENS.items():
        match = re.fullmatch(pattern, token)
        if match:
            return name, float(match.group(1))
    return None


@contextlib.contextmanager
def clipped_blowup():
    """Study `clip`: each test sees the losses clipped at the highest loss of
    the record's start (its first 10 %, at least 10 losses), so the height of
    a blow-up past the minimum does not weigh on the GP. A candidate policy
    (chosen on the development set, rejected on the validation set; see
    docs/benchmarks/optimizers.md), not a public knob: it patches the
    detector for one run."""
    from keras_autolr.decision import detector

    original = detector.WarmupDetector.test

    def test(self, finite_steps, finite_losses, n_steps, lr_at):
        losses = np.asarray(finite_losses, np.float64)
        if len(losses):
            losses = np.minimum(losses, float(np.max(detector.start_head(losses))))
        return original(self, finite_steps, losses, n_steps, lr_at)

    with mock.patch.object(detector.WarmupDetector, "test", test):
        yield


@contextlib.contextmanager
def blowup_stop(factor):
    """Study `bu<factor>`: a blow-up of the loss ends warmup as a non-finite
    loss would (the peak from the last test before it, then the rewind).

    At a test, when the last `BLOWUP_RUN` points the GP sees all lie above
    the median of the record's first 10 and above `factor` times the lowest
    running median (of 5 points) before them, warmup ends at once instead of
    sweeping on to a detection or the cap. A candidate policy (chosen on the
    development set, rejected on the validation set; see
    docs/benchmarks/optimizers.md), not a public knob: it patches the
    controller for one run."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._decide

    def decide(self, losses, first, step):
        if (self.warming_up and self.sweep and step >= self.next_test
                and step < self.schedule.warmup_steps
                and np.all(np.isfinite(losses))):
            start = _blowup_start(self.points, factor)
            if start is not None:
                return self._final_test(start, step, controller.DIVERGED)
        return original(self, losses, first, step)

    with mock.patch.object(controller.WarmupController, "_decide", decide):
        yield


BLOWUP_RUN = 3


@contextlib.contextmanager
def cap_median(mode):
    """Study `capmed` / `capmax`: at the warmup cap, the LR chosen is the one
    at the lowest running median of the record (a window of 5 % of its
    points, at least 3) instead of a last GP test's best LR (`capmed`), or
    the larger of the two (`capmax`). A running median follows a dip a few
    steps wide that the GP's length scale (a fifth of the record) smooths
    away, as on a plateau the sweep leaves just before the loss blows up.
    A candidate policy, not a public knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._final_test

    def final_test(self, last_good, switch_at, reason):
        result = original(self, last_good, switch_at, reason)
        if reason == controller.CAP:
            step = _median_argmin(self.points)
            if step is not None:
                chosen = float(self.schedule.warmup_lr(step))
                if mode == "capmax" and self.best_lr is not None:
                    chosen = max(chosen, self.best_lr)
                self._end_warmup(switch_at, chosen, reason)
        return result

    with mock.patch.object(controller.WarmupController, "_final_test", final_test):
        yield


@contextlib.contextmanager
def start_spread(mode, spreads=None):
    """Study `detrend` / `diffsd`: the descent guard's spread of the raw
    losses at the record's start without its trend: the standard deviation
    of their residuals from a straight line (`detrend`), or of their
    successive differences over sqrt(2) (`diffsd`). On a short sweep from the
    own LR the start (at least 10 losses) already holds the descent, whose
    spread the guard takes for noise. A candidate policy, not a public knob:
    it patches the detector (`spreads`: `DESCENT_START_SPREADS` meanwhile,
    `detrend9`: 9 instead of 6)."""
    from keras_autolr.decision import detector

    def spread(losses):
        head = np.asarray(detector.start_head(losses), np.float64)
        with np.errstate(all="ignore"):
            if mode == "diffsd":
                value = float(np.std(np.diff(head)) / math.sqrt(2.0))
            else:
                t = np.arange(len(head), dtype=np.float64)
                slope, intercept = np.polyfit(t, head, 1)
                value = float(np.std(head - (slope * t + intercept)))
        return value if math.isfinite(value) else 0.0

    factor = detector.DESCENT_START_SPREADS if spreads is None else spreads
    with mock.patch.multiple(detector, _start_spread=spread, DESCENT_START_SPREADS=factor):
        yield


@contextlib.contextmanager
def rewind_if_worse(window=5):
    """Study `keepbetter`: at the switch the rewind puts the copy back only
    when the loss now (the median of the newest `window` points) is above
    the loss where the copy was taken (the median of the `window` points up
    to its step); otherwise the weights trained since the copy are kept. A
    candidate policy, not a public knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController.plan_rewind

    def plan_rewind(self):
        original(self)
        target = self.restored_step
        if target is None or self.reason not in (controller.CAP, controller.DETECTED):
            return
        x, y = np.asarray(self.points.x), np.asarray(self.points.y)
        finite = np.isfinite(y)
        x, y = x[finite], y[finite]
        before = y[x <= target][-window:]
        if len(before) == 0 or len(y) < window:
            return
        if float(np.median(y[-window:])) <= float(np.median(before)):
            self._actions = [a for a in self._actions if a[0] != "restore"]
            self.restored_step = None

    with mock.patch.object(controller.WarmupController, "plan_rewind", plan_rewind):
        yield


@contextlib.contextmanager
def all_copies():
    """Study `allcopies`: during warmup a copy at every step, all held, so
    the rewind puts back the weights of the very step whose LR it chose
    (the bound on what more or closer copies could gain; host memory grows
    with the warmup). A candidate policy, not a public knob: it patches
    the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController.plan_snapshot

    def plan_snapshot(self):
        if not self.warming_up:
            return original(self)
        step = self.record.n_steps
        held = list(self.snapshot_steps)
        if held and held[-1] == step:
            return None
        self.snapshot_steps = held + [step]
        self._actions.append(("snapshot", step, tuple(held)))
        return None

    due = controller.WarmupController._snapshot_due

    def snapshot_due(self, step, within_budget=True):
        if self.warming_up and step < self.schedule.total_steps:
            return not self.snapshot_steps or step > self.snapshot_steps[-1]
        return due(self, step, within_budget)

    with mock.patch.object(controller.WarmupController, "plan_snapshot", plan_snapshot), \
            mock.patch.object(controller.WarmupController, "_snapshot_due", snapshot_due):
        yield


@contextlib.contextmanager
def keep_first_snapshot():
    """Study `keepfirst`: during warmup the first snapshot (step 0, at the
    sweep's lowest LR) is held besides the two the controller keeps, so the
    rewind always has a copy at or before the LR it chose; with two copies,
    a copy from before the minimum can be dropped while the detector's best
    LR is higher than the LR its last test chooses, and the rewind then
    restores a copy taken past that LR (counted on
    docs/benchmarks/optimizers.md). A third host copy at most.
    A candidate policy, not a public knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController.plan_snapshot

    def plan_snapshot(self):
        first = getattr(self, "_study_first_snapshot", None)
        count = len(self._actions)
        original(self)
        if first is None and self.snapshot_steps:
            self._study_first_snapshot = self.snapshot_steps[0]
        elif (first is not None and self.warming_up and len(self._actions) > count
                and first not in self.snapshot_steps):
            kind, step, keep = self._actions[-1]
            self._actions[-1] = (kind, step, (first,) + tuple(keep))
            self.snapshot_steps = [first] + self.snapshot_steps

    with mock.patch.object(controller.WarmupController, "plan_snapshot", plan_snapshot):
        yield


@contextlib.contextmanager
def sound_copies(damaged_too=False):
    """Study `soundcopy` / `anycopy`: a copy taken while the loss lay above
    every loss of the record's start (a blow-up had damaged the weights) is
    passed over, by the snapshots kept and by the rewind, for an older copy
    at or before the same LR that is not. With two copies and a best LR
    that jumped up after a blow-up, the copy from before the blow-up was
    dropped for one taken in it, and the rewind put back the blow-up's
    weights (an LSTM forecasting a noisy sine with RMSprop: test MSE 0.081
    against 0.056 without AutoLR). `soundcopy` is the library's rule since
    2026-12-05 (`WarmupController._copy_for`): its token patches nothing.
    `anycopy` (`damaged_too`) is the rule before: the newest copy at or
    before the LR, damaged or not. It patches the controller."""
    if not damaged_too:
        yield
        return
    from keras_autolr.decision import controller

    with mock.patch.object(controller.WarmupController, "_damaged", lambda self, step: False):
        yield


@contextlib.contextmanager
def cap_previous():
    """Study `capprev`: at the warmup cap, decay from the best LR of the last
    regular test before the cap (the LR the snapshots were kept by) instead
    of a last test's at the cap, which often chooses lower, so the rewind's
    copy from before the minimum is gone (`keep_first_snapshot`). A
    candidate policy, not a public knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._final_test

    def final_test(self, last_good, switch_at, reason):
        previous = self.best_lr
        result = original(self, last_good, switch_at, reason)
        if reason == controller.CAP and previous is not None:
            self._end_warmup(switch_at, previous, reason)
        return result

    with mock.patch.object(controller.WarmupController, "_final_test", final_test):
        yield


@contextlib.contextmanager
def cap_confident(only_unconfident=False):
    """Study `capconf`: at the warmup cap, decay from the best LR of the
    newest test whose posteriors found the minimum in the past (positive, or
    held back by the descent guard) instead of a last test's at the cap,
    when there is one (`capconf2`: only when the last test itself did not
    find the minimum in the past). As on divergence (`_final_test`), a blow-up's huge
    losses flatten the last test's curve and move its argmin anywhere, up
    to the sweep's end (keras.io's guide with `steps_per_epoch=15`:
    `benchmarks/user_scripts.py`). A candidate policy, not a public knob: it
    patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._final_test

    def final_test(self, last_good, switch_at, reason):
        confident = [r for r in self.detector.results if _confident(r)]
        result = original(self, last_good, switch_at, reason)
        if (reason == controller.CAP and confident
                and not (only_unconfident and _confident(result))):
            self._end_warmup(switch_at, confident[-1].peak_lr, reason)
        return result

    with mock.patch.object(controller.WarmupController, "_final_test", final_test):
        yield


@contextlib.contextmanager
def edge_tests(above_start=False):
    """Study `edge` / `edge2`: a test whose best LR lies at the sweep's
    newest end (within the 1.2x between two tests) located no minimum: a
    blow-up's huge losses flatten its curve and its argmin goes to the end.
    Such a test does not move the detector's best LR (which keeps the
    rewind's copy), and at the cap, when the last test is one, the newest
    best LR that was located decides (keras.io's guide with
    `steps_per_epoch=15`: the cap decayed from 0.4 x 1.0 and the rewind
    restored a copy from past the blow-up, `benchmarks/user_scripts.py`).
    `edge2`, only when the newest loss also lies above the median of the
    record's start (a blow-up, not a plateau's escape still under way), is
    the library's rule since 2026-12-05 (`WarmupController._located_nothing`):
    its token patches nothing. `edge` drops that condition. A candidate
    policy, not a public knob: it patches the controller."""
    if above_start:
        yield
        return
    from keras_autolr.decision import controller
    from keras_autolr.decision.cadence import GROWTH

    original = controller.WarmupController._located_nothing

    def located_nothing(self, result):
        if original(self, result):
            return True
        newest = float(self.schedule.warmup_lr(max(self.record.n_steps - 1, 0)))
        return result.peak_lr * GROWTH >= newest

    with mock.patch.object(controller.WarmupController, "_located_nothing", located_nothing):
        yield


def _confident(result):
    """Whether a test's posteriors found the minimum in the past (positive,
    or held back by the descent guard), with a finite best LR."""
    return (result is not None and result.peak_lr is not None
            and math.isfinite(result.peak_lr) and (result.positive or result.held_back))


@contextlib.contextmanager
def confident_tests():
    """Study `confident`: the detector's best LR, which the snapshots are
    kept by and the cap decays from, is the newest *confident* test's (its
    posteriors found the minimum in the past: positive, or held back by the
    descent guard), not the newest test's. A blow-up's huge losses flatten a
    test's curve and move its argmin anywhere, up to the sweep's end; then
    the copy from before the minimum was dropped and the cap decayed from
    the LR of the blow-up (keras.io's guide, `benchmarks/user_scripts.py`).
    At the cap, a confident last test still decides; else the newest
    confident one before it; else the last test, as before. A candidate
    policy, not a public knob: it patches the controller."""
    from keras_autolr.decision import controller

    decide, final = controller.WarmupController._decide, controller.WarmupController._final_test
    confident = _confident

    def patched_decide(self, losses, first, step):
        before = self.best_lr
        result = decide(self, losses, first, step)
        if self.warming_up and result is not None and not confident(result):
            self.best_lr = before
        return result

    def patched_final(self, last_good, switch_at, reason):
        before = self.best_lr
        result = final(self, last_good, switch_at, reason)
        if reason == controller.CAP and not confident(result) and before is not None:
            self._end_warmup(switch_at, before, reason)
        return result

    with mock.patch.multiple(controller.WarmupController, _decide=patched_decide,
                             _final_test=patched_final):
        yield


@contextlib.contextmanager
def floor_times(factor):
    """Study `floor<factor>`: the peak is never below `factor` times the
    optimizer's own LR (`own_lr_floor`: 1x). A cosine to 0 trains at half
    its peak on average, so from a peak at the own LR it trains at half of
    what the user had; from 2x, at as much. A candidate policy, not a public
    knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.min_peak is not None:
            self.min_peak = factor * self.min_peak

    with mock.patch.object(controller.WarmupController, "__init__", init):
        yield


CAP_END_NEAR = 0.05


@contextlib.contextmanager
def cap_descending(near=CAP_END_NEAR):
    """Study `capend`: at the warmup cap, when the LR chosen lies within the
    last `near` of the sweep (in log LR: the smoothed loss was still falling
    when the sweep ended, no overshoot seen), decay from that LR whole, not
    `peak_factor` times it. A candidate policy, not a public knob: it
    patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._end_warmup

    def end_warmup(self, step, chosen_lr, reason):
        original(self, step, chosen_lr, reason)
        if reason != controller.CAP or self.best_lr is None:
            return
        start = float(self.schedule.warmup_lr(0))
        reached = float(self.schedule.warmup_lr(min(step, self.schedule.warmup_steps)))
        if reached > start and (math.log(self.best_lr / start)
                                >= (1.0 - near) * math.log(reached / start)):
            self.peak_lr = float(max(self.peak_lr, self.best_lr))

    with mock.patch.object(controller.WarmupController, "_end_warmup", end_warmup):
        yield


@contextlib.contextmanager
def sweep_span(decades):
    """Study `span<decades>`: a sweep that starts at the optimizer's own LR
    ends at most `decades` decades above it (`max_lr = own LR x 10**decades`,
    never above the schedule's `max_lr`) instead of at `max_lr` (1.0), so the
    same warmup cap spends more steps per decade. The grid of the benchmark
    spans the own LR x 10**-1 ... 10**2. A candidate policy, not a public
    knob: it patches where the sweep's start is moved to the own LR."""
    from keras_autolr.training import short_budget

    original = short_budget.start_sweep_at_own_lr

    def start(schedule, total_steps, own_lr, policy="own_lr"):
        moved = original(schedule, total_steps, own_lr, policy)
        if moved:
            schedule.max_lr = min(schedule.max_lr, schedule.min_lr * 10.0 ** decades)
        return moved

    with mock.patch.object(short_budget, "start_sweep_at_own_lr", start):
        yield


def _median_argmin(points, fraction=0.05, least=3):
    """The step at the lowest running median of the points (None: too few)."""
    y = points.y
    window = max(least, int(fraction * len(y)))
    if len(y) < window:
        return None
    medians = np.median(np.lib.stride_tricks.sliding_window_view(y, window), axis=1)
    return int(round(points.x[int(np.argmin(medians)) + window // 2]))


def _blowup_start(points, factor, run=BLOWUP_RUN, median=5, start=10):
    """The first step of a blow-up of the loss, or None (study `bu`)."""
    y = points.y
    if len(y) < start + run:
        return None
    tail, head = y[-run:], y[:-run]
    windows = np.lib.stride_tricks.sliding_window_view(head, min(median, len(head)))
    best = float(np.min(np.median(windows, axis=1)))
    level = float(np.min(tail))
    if level > factor * best and level > float(np.median(y[:start])):
        return int(points.x[-run])
    return None


def early_stopping_unheld():
    """Study `esoff`: an `EarlyStopping` in the `fit` watches the sweep's
    epochs too, as before 2026-12-05 (keras_autolr/training/early_stopping.py);
    benchmarks/user_scripts.py's early-stopping scripts measure the change."""
    from keras_autolr.training import early_stopping

    return mock.patch.multiple(early_stopping.EarlyStoppingAfterWarmup,
                               epoch_begins=lambda self, epoch, sweeping: None,
                               switched=lambda self, epoch: None)


@contextlib.contextmanager
def damaged_minimum():
    """Study `damagedmin`: a test whose best LR lies where a blow-up had
    already damaged the weights (`WarmupController._damaged`: the median of
    the losses before that step above every loss of the record's start)
    located no minimum, as one at the sweep's newest end does
    (`_located_nothing`). The blow-up's huge losses flatten the GP's curve,
    and its argmin can land inside the blow-up, not only at its end: RMSprop
    with momentum 0.9 on the digits, the cap's last test chose 0.106 after
    tests on end had chosen 0.006 to 0.015, and the run ended at 36 % against
    92 % without AutoLR (the momentum study). It passed its look at the
    validation and held-out sets under the rule written before it, and is
    the library's rule since 2026-12-06 (`WarmupController._located_nothing`,
    `_step_at_lr`): its token patches nothing. Its runs before that date are
    the study's record."""
    yield


def any_minimum():
    """Study `anymin`: the rule before `damagedmin` entered the library
    (2026-12-06). A test's best LR at a step a blow-up had damaged counts as
    a minimum; only one at the sweep's newest end during a blow-up locates
    nothing. Its runs in the results file were made on 2026-12-06 beside
    the library's `AutoLR()` runs, on one machine, to compare the two rules
    (runs of one rule vary between machines). It patches the controller."""
    from keras_autolr.decision import controller

    return mock.patch.object(controller.WarmupController, "_step_at_lr", lambda self, lr: None)


def plateau_edge(points, fraction=0.05, least=3):
    """The step where a flat record's loss left its start for good, or None.

    Flat: no running median of the record (a window of `fraction` of its
    points, at least `least`) lies below the lowest loss of its start
    (`detector.start_head`), so the sweep saw no descent. The edge is the
    centre of the last window at or under the start's highest loss before
    the record's final run above it; None when the record never left the
    start's band (no blow-up either) or fell below it (a descent).
    """
    from keras_autolr.decision import detector

    y = np.asarray(points.y, np.float64)
    head = detector.start_head(y)
    window = max(least, int(fraction * len(y)))
    if len(y) < len(head) + window:
        return None
    medians = np.median(np.lib.stride_tricks.sliding_window_view(y, window), axis=1)
    if float(np.min(medians)) < float(np.min(head)):
        return None  # a descent: not a plateau
    above = medians > float(np.max(head))
    if not above[-1] or above.all():
        return None
    last_inside = int(np.flatnonzero(~above)[-1])
    return float(points.x[last_inside + window // 2])


@contextlib.contextmanager
def plateau_cap():
    """Study `plateau`: at the warmup cap, when the sweep saw no descent (a
    plateau: `plateau_edge`), the LR chosen is the sweep's at the edge, where
    the loss left the plateau for good, instead of the GP's best LR of a flat
    curve (anywhere on it, often near the own LR). A plateau is left by
    training long at a high LR that the sweep only passes; the edge is the
    highest LR the sweep saw stable. The rewind puts back a copy from the
    plateau, so no progress is thrown away. A candidate policy, not a public
    knob: it patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._final_test

    def final_test(self, last_good, switch_at, reason):
        result = original(self, last_good, switch_at, reason)
        if reason == controller.CAP:
            edge = plateau_edge(self.points)
            if edge is not None:
                chosen = float(self.schedule.warmup_lr(edge))
                self._end_warmup(switch_at, max(chosen, self.best_lr or 0.0), reason)
        return result

    with mock.patch.object(controller.WarmupController, "_final_test", final_test):
        yield


@contextlib.contextmanager
def oracle_peak(lr):
    """Study `oracle`: a bound, not a policy. `AutoLR()` sweeps, switches
    and rewinds as it decides, but decays from `lr`, the cell's tuned grid LR
    (the peak a 7-run search chose on the validation split), not from the
    peak it chose. What `AutoLR()` still misses then is not its choice of
    peak but what the sweep and the rewind cost: the steps spent at other
    LRs and thrown away. Under 26 steps (the own LR kept) it changes nothing."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._end_warmup

    def end_warmup(self, step, chosen_lr, reason):
        original(self, step, chosen_lr, reason)  # the rewind as AutoLR chose it
        if reason != controller.SHORT_BUDGET:
            self.peak_lr = float(lr)

    with mock.patch.object(controller.WarmupController, "_end_warmup", end_warmup):
        yield


# The mean age, in steps, of a gradient in each optimizer's first-moment
# (momentum) buffer: beta / (1 - beta), 0 without one (study `lag`).
MOMENTUM_LAG = {"adam": 9.0, "adamw": 9.0, "lamb": 9.0, "sgd": 9.0, "rmspropm": 9.0,
                "rmsprop": 0.0, "sgdplain": 0.0}


def momentum_lag(lag):
    """Study `lag`: the minimum's LR moved back by a momentum's lag.

    With a first-moment buffer (momentum, or Adam's first moment), a
    gradient of step s keeps moving the weights for about `lag` =
    beta / (1 - beta) steps (9 at beta 0.9), so the loss at step t answers
    to the LRs of steps t - lag to t, and the loss's minimum appears about
    `lag` steps after the LR that gave it. The sweep's LR grows by a
    constant factor a step, large on short budgets (1.44x over 38 steps)
    and small on long ones (1.02x over 800): the study decays from the
    best LR divided by that factor to the power `lag` (never below the
    sweep's start), the rewind following it. If this lag is what
    `peak_factor=0.4` stands for, `lag-f1.0` should match or beat
    `AutoLR()` on the optimizers with momentum and behave as `rms1.0` on
    RMSprop without it. It patches the controller."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._end_warmup

    def end_warmup(self, step, chosen_lr, reason):
        if (reason != controller.SHORT_BUDGET and lag and chosen_lr is not None
                and math.isfinite(chosen_lr) and chosen_lr > 0):
            lr = self.schedule.warmup_lr
            growth = float(lr(1)) / float(lr(0))
            chosen_lr = max(chosen_lr / growth ** lag, float(lr(0)))
        original(self, step, chosen_lr, reason)

    return mock.patch.object(controller.WarmupController, "_end_warmup", end_warmup)


def huge_loss(depths, at_cap=False):
    """Study `huge<depths>`: at a detection (`hugecap`: at the cap alone), the
    peak comes from the newest
    regular test taken at or before the first huge loss, when the record has
    one; off under `gp="reference"`.

    A huge loss lies more than `depths` times the descent's depth (the
    highest loss of the record's start, `detector.start_head`, minus the
    record's lowest loss) above the start's highest loss. One such loss
    flattens a test's curve: one loss of 428 among losses of 0.2-0.5 (a
    log-link Poisson loss, Adam, digits) made the next tests positive with a
    best LR 5x past the minimum's (docs/reliability.md). The divergence rule
    (`WarmupController._before_blowup`) passes over tests after any loss
    above the start's; at a detection that changed the peak of 9 of the
    first 59 benchmark runs, hence a threshold noise should not reach. It
    patches the controller. Its runs were made before `_below_huge_loss`
    entered the library (2026-12-06): run again, both rules apply."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._end_warmup

    def end_warmup(self, step, chosen_lr, reason):
        ends = (controller.CAP,) if at_cap else (controller.DETECTED,)
        if reason in ends and self.options.gp != "reference":
            onset = self._blowup_onset(depths)
            if onset is not None:
                before = [r for r in self.detector.results
                          if r.peak_lr is not None and r.step <= onset]
                if before:
                    chosen_lr = before[-1].peak_lr
        original(self, step, chosen_lr, reason)

    return mock.patch.object(controller.WarmupController, "_end_warmup", end_warmup)


def huge_loss_past(depths):
    """Study `hugepast<depths>`: at a detection or the cap, a chosen LR past
    the sweep's LR at the first huge loss (`huge_loss`) is replaced by the
    newest regular test's best LR at or below that LR (else by the best LR
    of the newest test taken before the huge loss; else kept). Off under
    `gp="reference"`.

    Narrower than `huge`/`hugecap`, which pass over every test after the
    huge loss: a best LR below the huge loss's LR lies where the loss was
    recorded before the blow-up, so a test after it may still read it; a
    best LR past it was read from losses recorded after the blow-up, by
    weights it may have broken (boston Adam seed 1: a minimum at 0.81
    read from a network left predicting the mean). It patches the
    controller. The library's rule since 2026-12-06
    (`WarmupController._below_huge_loss`); `nohuge` is the rule before."""
    from keras_autolr.decision import controller

    original = controller.WarmupController._end_warmup

    def end_warmup(self, step, chosen_lr, reason):
        if (reason in (controller.DETECTED, controller.CAP)
                and self.options.gp != "reference" and chosen_lr is not None):
            onset = self._blowup_onset(depths)
            if onset is not None:
                ceiling = float(self.schedule.warmup_lr(onset))
                if chosen_lr > ceiling:
                    tests = [r for r in self.detector.results if r.peak_lr is not None]
                    below = [r.peak_lr for r in tests if r.peak_lr <= ceiling]
                    before = [r.peak_lr for r in tests if r.step <= onset]
                    chosen_lr = (below or before or [chosen_lr])[-1]
        original(self, step, chosen_lr, reason)

    return mock.patch.object(controller.WarmupController, "_end_warmup", end_warmup)


_TUNED = {}


def tuned_lr(cell, path=RESULTS):
    """The LR of `cell`'s tuned grid in the results file (study `oracle`)."""
    if path not in _TUNED:
        with open(path) as f:
            _TUNED[path] = optimizers_report.summarize(json.load(f))
    grid = _TUNED[path].get(cell.name, {}).get("grid")
    if grid is None:
        raise ValueError(f"No tuned grid for cell {cell.name!r} in {path}: "
                         "run its grid first (`--contenders grid`).")
    return grid[2]


@contextlib.contextmanager
def study_patches(contender, cell=None):
    """The patches an `autolr-<tokens>` contender's study tokens ask for
    (`STUDY_TOKENS`); none for other contenders. `reuse`: a recompiled
    optimizer fit again with the same `AutoLR` reuses the earlier schedule,
    as before 2026-12-05 (`AutoLR._new_run`). `wholebudget`: a new
    optimizer in `fit(initial_epoch=k, epochs=n)` gets a budget of `n`
    epochs, as before 2026-12-05 (`FitRun._budget_from_initial_epoch`).
    `oracle` needs the `cell` (its tuned grid LR, `tuned_lr`)."""
    from keras_autolr.decision import controller as controller_lib
    from keras_autolr.training import fit_run

    tokens = contender.split("-")[1:] if contender.startswith("autolr") else []
    with contextlib.ExitStack() as stack:
        for name, number in filter(None, map(study_token, tokens)):
            if name == "clip":
                stack.enter_context(clipped_blowup())
            elif name == "bu":
                stack.enter_context(blowup_stop(number))
            elif name in ("capmed", "capmax"):
                stack.enter_context(cap_median(name))
            elif name in ("detrend", "diffsd"):
                stack.enter_context(start_spread(name))
            elif name == "detrend9":
                stack.enter_context(start_spread("detrend", spreads=9.0))
            elif name == "span":
                stack.enter_context(sweep_span(number))
            elif name == "capend":
                stack.enter_context(cap_descending())
            elif name == "allcopies":
                stack.enter_context(all_copies())
            elif name == "keepbetter":
                stack.enter_context(rewind_if_worse())
            elif name in ("soundcopy", "anycopy"):
                stack.enter_context(sound_copies(damaged_too=name == "anycopy"))
            elif name == "keepfirst":
                stack.enter_context(keep_first_snapshot())
            elif name == "capprev":
                stack.enter_context(cap_previous())
            elif name in ("capconf", "capconf2"):
                stack.enter_context(cap_confident(only_unconfident=name == "capconf2"))
            elif name == "confident":
                stack.enter_context(confident_tests())
            elif name in ("edge", "edge2"):
                stack.enter_context(edge_tests(above_start=name == "edge2"))
            elif name == "floor":
                stack.enter_context(floor_times(number))
            elif name == "esoff":
                stack.enter_context(early_stopping_unheld())
            elif name == "wholebudget":
                stack.enter_context(mock.patch.object(
                    fit_run.FitRun, "_budget_from_initial_epoch", lambda self, epoch: None))
            elif name == "damagedmin":
                stack.enter_context(damaged_minimum())
            elif name == "anymin":
                stack.enter_context(any_minimum())
            elif name == "plateau":
                stack.enter_context(plateau_cap())
            elif name == "oracle":
                stack.enter_context(oracle_peak(tuned_lr(cell)))
            elif name == "nohuge":  # the rule before `_below_huge_loss`
                stack.enter_context(mock.patch.object(
                    controller_lib, "HUGE_LOSS_DEPTHS", float("inf")))
            elif name == "noguard":  # the library before the decay guard
                stack.enter_context(mock.patch.object(
                    controller_lib, "DECAY_BLOWUP_DEPTHS", float("inf")))
                stack.enter_context(mock.patch.object(
                    controller_lib.WarmupController, "_copies_on_path",
                    lambda self: list(self.snapshot_steps)))
            elif name == "guard1":  # the decay guard's first form: one execution
                stack.enter_context(mock.patch.object(
                    controller_lib.WarmupController, "_blown_up", lambda self: True))
            elif name == "hugepast":
                stack.enter_context(huge_loss_past(number))
            elif name in ("huge", "hugecap"):
                stack.enter_context(huge_loss(number, at_cap=name == "hugecap"))
            elif name == "lag":
                stack.enter_context(momentum_lag(MOMENTUM_LAG[cell.optimizer]))
            elif name == "reuse":
                stack.enter_context(mock.patch.object(
                    keras_autolr.AutoLR, "_new_run", lambda self, optimizers: False))
        yield


def autolr_options(contender, optimizer=None):
    """The `Options` of an `autolr[-tokens]` contender (with `optimizer`, the
    cell's: `rms<factor>` is the `peak_factor` of RMSprop alone)."""
    options = keras_autolr.Options()
    for token in contender.split("-")[1:]:
        study = study_token(token)
        if study is not None and study[0] == "rms":
            if optimizer == "rmsprop":
                options = options.replace(peak_factor=study[1])
            continue
        if study is not None:
            continue
        if token == "paper":
            options = keras_autolr.PAPER
        elif re.fullmatch(r"f[0-9.]+", token):
            options = options.replace(peak_factor=float(token[1:]))
        elif token == "nofloor":
            options = options.replace(own_lr_floor=False)
        elif token == "norewind":
            options = options.replace(rewind=False)
        elif token == "frommin":
            options = options.replace(sweep_start="min_lr")
        elif token == "capreached":
            options = options.replace(cap_peak="reached")
        elif token == "nodescent":
            options = options.replace(require_descent=False)
        elif token == "steepest":
            options = options.replace(peak="steepest")
        else:
            raise ValueError(f"Unknown token {token!r}. Received contender={contender!r}")
    return options


def runs_of(contender, cell):
    """[(run_id, peak LR or None)] that a contender costs in a cell."""
    if contender == "grid":
        lr = own_lr(cell.optimizer)
        return [(f"grid@{lr * 10 ** e:.4g}", lr * 10 ** e) for e in GRID_EXPONENTS]
    return [(contender, None)]


# ---------------------------------------------------------------- one run
def train_one(cell, split, contender, lr, seed):
    """One run; its record (a JSON-able dict)."""
    task = _user_tasks.TASKS[cell.task]
    steps = int(math.ceil(len(split.x_train) / cell.batch_size)) * cell.epochs
    model = task.build_model(seed)
    callbacks, autolr = [], None
    if contender == "own":
        optimizer = make_optimizer(cell.optimizer)
    elif contender.startswith("autolr"):
        optimizer = make_optimizer(cell.optimizer)
        tokens = contender.split("-")
        fraction = [n for name, n in filter(None, map(study_token, tokens)) if name == "w"]
        schedule = None
        if "ctc" in tokens or fraction:
            schedule = keras_autolr.AutoLRSchedule(
                decay="constant_then_cosine" if "ctc" in tokens else "cosine",
                **({"max_warmup_fraction": fraction[0]} if fraction else {}))
        autolr = keras_autolr.AutoLR(
            schedule=schedule,
            options=autolr_options(contender, cell.optimizer).replace(seed=seed),
            verbose=0)
        callbacks.append(autolr)
    elif contender == "grid":
        optimizer = make_optimizer(cell.optimizer, warmup_cosine(lr, steps))
    elif contender in ("prodigy", "schedulefree"):
        optimizer = make_optimizer(contender)
    else:
        raise ValueError(f"Unknown contender. Received contender={contender!r}")
    model.compile(optimizer=optimizer, loss=task.loss(), metrics=task.metrics())
    keras.utils.set_random_seed(seed)  # the same shuffles for every contender
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, study_patches(contender, cell):
        warnings.simplefilter("always")
        history = model.fit(split.x_train, split.y_train, batch_size=cell.batch_size,
                            epochs=cell.epochs, verbose=0, callbacks=callbacks)
    wall = time.perf_counter() - start
    if contender == "schedulefree":
        optimizer.eval()  # evaluate at x, as the authors do
    record = dict(
        cell=cell.name, set=cell.set, task=cell.task, optimizer=cell.optimizer,
        batch_size=cell.batch_size, epochs=cell.epochs, steps=steps, seed=seed,
        contender=contender, lr=lr, own_lr=own_lr(cell.optimizer),
        val_score=task.score(model, split.x_val, split.y_val),
        test_score=task.score(model, split.x_test, split.y_test),
        final_train_loss=_num(history.history["loss"][-1]), wall_s=round(wall, 2),
        warnings=sorted({str(w.message)[:160] for w in caught
                         if "AutoLR" in str(w.message)}),
    )
    if autolr is not None:
        decision = autolr.decision
        record["autolr"] = dict(
            switch_step=decision.switch_step, peak_lr=_num(decision.peak_lr),
            reason=decision.reason, tests=len(decision.tests),
            restored_step=decision.restored_step, warmup_cap=decision.warmup_steps,
            faults=[[int(s), str(a)] for s, a in decision.faults])
    return record


def _num(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------- the study
def run(cells, contenders, seeds, path, resume):
    results = dict(schema=1, runs=[], started=_now())
    if resume and os.path.exists(path):
        with open(path) as previous:
            results = json.load(previous)
    results.setdefault("environment", _environment())
    done = {run_key(r) for r in results["runs"]}
    splits = {}
    todo = [(cell, seed, contender, run_id, lr)
            for cell in cells for seed in seeds for contender in contenders
            for run_id, lr in runs_of(contender, cell)
            if (cell.name, seed, run_id) not in done]
    start = time.perf_counter()
    for count, (cell, seed, contender, run_id, lr) in enumerate(todo, 1):
        if cell.task not in splits:
            splits = {cell.task: _user_tasks.TASKS[cell.task].load()}
        record = train_one(cell, splits[cell.task], contender, lr, seed)
        record["run_id"] = run_id
        record["date"] = _now()[:10]
        results["runs"].append(record)
        results["updated"] = _now()
        _save(results, path, key=run_key if resume else None)
        print(f"[{count}/{len(todo)} {time.perf_counter() - start:6.0f}s] "
              f"{cell.name} seed {seed} {run_id}: test {record['test_score']}"
              f"{_decision_text(record)}", flush=True)
        keras.backend.clear_session()
        gc.collect()
    return results


def _decision_text(record):
    if "autolr" not in record:
        return ""
    a = record["autolr"]
    peak = a["peak_lr"]
    return (f" (switch {a['switch_step']}/{record['steps']}, {a['reason']}, "
            f"peak {peak:.3g})" if peak is not None else f" ({a['reason']})")


def _environment():
    import platform

    from keras_autolr import _keras

    return dict(python=platform.python_version(),
                tensorflow=_keras.tf.__version__ if _keras.tf else None,
                backend=_keras.BACKEND, keras=getattr(keras, "__version__", "2"),
                keras_autolr=keras_autolr.__version__, cpu_count=os.cpu_count())


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _save(results, path, key=None):
    """Writes `results` to `path` (atomically).

    With `key` (a run's identity; `--resume`), the runs another job wrote to
    the file since this one loaded it are kept: two jobs resuming one file
    (say one per contender) each hold only the runs they loaded and made,
    and the later save dropped the other's. Under a lock, the file's runs
    whose key this job lacks are added before it writes.
    """
    import fcntl

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if key is not None and os.path.exists(path):
            with open(path) as f:
                on_disk = json.load(f)
            have = {key(r) for r in results["runs"]}
            results["runs"].extend(r for r in on_disk.get("runs", ())
                                   if key(r) not in have)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, path)


def run_key(record):
    """The identity of an optimizers-benchmark run: cell, seed, contender and LR."""
    return (record["cell"], record["seed"], record["run_id"])


# ---------------------------------------------------------------- command line
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=(DEVELOPMENT, VALIDATION, HOLDOUT, MOMENTUM,
                                          HUGELOSS, "all"), default="all")
    parser.add_argument("--cells", default=None,
                        help="comma list of substrings of cell names (default: all)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--report", action="store_true",
                        help="only write the tables from the results file")
    args = parser.parse_args(argv)
    if not args.report:
        cells = ([c for c in CELLS if args.set in ("all", c.set)]
                 + [c for c in MOMENTUM_CELLS if args.set == MOMENTUM]
                 + [c for c in HUGELOSS_CELLS if args.set == HUGELOSS])
        if args.cells:
            wanted = [w.strip() for w in args.cells.split(",")]
            cells = [c for c in cells if any(w in c.name for w in wanted)]
        contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
        for contender in contenders:
            if contender.startswith("autolr"):
                autolr_options(contender)  # a bad name fails before any run
            elif contender not in CONTENDERS:
                parser.error(f"unknown contender {contender!r}")
        seeds = [int(s) for s in args.seeds.split(",")]
        run(cells, contenders, seeds, args.results, args.resume)
    with open(args.results) as f:
        results = json.load(f)
    report = os.path.splitext(args.results)[0] + ".md"
    with open(report, "w") as f:
        f.write(optimizers_report.markdown(
            results, source=os.path.basename(args.results)) + "\n")
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
