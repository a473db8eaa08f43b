"""`find_lr`: the learning-rate range test, on AutoLR's sweep and detector.

Before training, `find_lr` grows the learning rate of the model's compiled
optimizer exponentially over a few hundred steps, records the training loss
of every step, smooths the record with the Gaussian process of `AutoLR`'s
detector (one test on the whole record) and reports the learning rate that
`AutoLR` would decay from on this curve. The model is then put back exactly
as it was, so the user trains from where they started, with the LR (or the
`schedule`) of their choice.

`find_lr` runs one step after another, each in its own function:
`_check_arguments` and `_check_model`; `lr_sweep.plan_sweep` (the sweep's
steps and LRs); `model_state.build_optimizer`; `lr_sweep.run_sweep` (the
`fit` with the `SweepRecorder`, inside `model_state.kept`, which restores
the model); `_check_record`; `_replay_options` and `decide` (AutoLR's
decision on the record, by `replay`); `valley` and `lightning_steepest`
(fastai's and Lightning's suggestions on the same record, for comparison);
and the `LRFinderResult`.
"""

import dataclasses
import math
from typing import Optional

import numpy as np

from keras_autolr import _keras
from keras_autolr import _validation
from keras_autolr.tools import lr_sweep
from keras_autolr.tools import model_state
from keras_autolr.tools import offline
from keras_autolr.tools.lr_sweep import DEFAULT_STEPS
from keras_autolr.tools.lr_sweep import MIN_SWEEP_STEPS
from keras_autolr.training import short_budget
from keras_autolr.decision.controller import DEFAULT_PEAK_FACTOR
from keras_autolr.decision.options import Options
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr.decision.controller import DIVERGED
from keras_autolr.decision.controller import Decision
from keras_autolr.decision.detector import TestResult

keras = _keras.keras

# `schedule()`: linear warmup over this fraction of the steps, then cosine
# (the quality benchmark's tuned baseline, benchmarks/quality.py).
WARMUP_FRACTION = 0.05
# `fit` arguments that `find_lr` sets itself.
_RESERVED = ("epochs", "steps_per_epoch", "initial_epoch", "validation_data",
             "validation_split", "validation_steps", "validation_freq",
             "validation_batch_size")
# fastai's `AvgSmoothLoss` and Lightning's `_LRCallback`: the losses their
# suggestion rules read are this exponential moving average of the raw ones.
SMOOTH_BETA = 0.98


@dataclasses.dataclass
class LRFinderResult:
    """What `find_lr` measured and chose.

    Attributes:
        learning_rates: float array. LR of each sweep step.
        losses: float array. Training loss of each sweep step (the mean of
            its execution under `steps_per_execution > 1`; the last may be
            non-finite when the sweep stopped on it).
        suggestion: float. The peak LR `AutoLR` chooses on this curve with
            its defaults: `peak_factor` (0.4) times `minimum`, never above
            the last LR of the sweep, and never below the optimizer's own
            constant LR (`own_lr`, as `Options(own_lr_floor=True)`).
        minimum: float. LR at the minimum of the GP-smoothed loss (mean over
            the posteriors of the LR at their argmin).
        steepest: float. LR of the steepest descent of the smoothed loss
            before its minimum (the LR `AutoLR(peak="steepest")` chooses
            before `peak_factor`).
        own_lr: float or None. The optimizer's constant LR (None: it had a
            schedule).
        stop_reason: `"steps"` (all steps ran), `"stop_factor"` (the
            smoothed loss exceeded `stop_factor` times its minimum),
            `"non_finite"` (a NaN or Inf loss) or `"data"` (the data ran out).
        decision: the `Decision` of `keras_autolr.replay` on this record.
        replay_options: dict. `keras_autolr.replay(result.losses,
            **result.replay_options)` takes the same decision: the sweep
            seen as an `AutoLR` warmup whose LRs are the sweep's step for
            step and whose cap is the end of the record, tested once there
            (`check_every=len(losses)`). With `check_every="auto"` it is
            AutoLR's live cadence instead (measured worse on sweeps:
            README, "find_lr").
        test: the `TestResult` whose LR the decision took (its past-minimum
            probabilities and GP hyperparameters; `plot()` draws it).
        valley: float. fastai's default suggestion (`lr_find`'s
            `SuggestionMethod.Valley`) on this record: see `valley()`. NaN
            when the record is too short for it.
        lightning_steepest: float. Lightning's suggestion
            (`Tuner.lr_find(...).suggestion()`, version 2.5.2 and before) on
            this record: see `lightning_steepest()`. NaN when too short.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    suggestion: float
    minimum: float
    steepest: float
    own_lr: Optional[float]
    stop_reason: str
    decision: Decision
    replay_options: dict
    test: Optional[TestResult] = None
    valley: float = math.nan
    lightning_steepest: float = math.nan

    def schedule(self, total_steps, warmup_fraction=WARMUP_FRACTION):
        """A Keras schedule: linear warmup from 0 to `suggestion`, then cosine to 0.

        Warmup lasts `max(1, round(warmup_fraction * total_steps))` steps;
        the cosine reaches 0 at `total_steps`. It is Keras' own
        `CosineDecay` (serializable); give it to a new optimizer, whose
        step counter starts at 0.

        Args:
            total_steps: int. The training budget in optimizer steps.
            warmup_fraction: float in (0, 1). Defaults to 0.05.

        Returns:
            A `keras.optimizers.schedules.CosineDecay`.
        """
        total_steps = _validation.positive_int("total_steps", total_steps)
        if total_steps < 2:
            raise ValueError(
                "`total_steps` must be at least 2 (a warmup step and a decay "
                f"step). Received total_steps={total_steps!r}")
        warmup_fraction = _validation.fraction(
            "warmup_fraction", warmup_fraction, include_one=False)
        warmup = min(max(1, int(round(warmup_fraction * total_steps))),
                     total_steps - 1)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0, decay_steps=total_steps - warmup,
            alpha=0.0, warmup_target=float(self.suggestion),
            warmup_steps=warmup)

    def plot(self):
        """Loss against LR (log x): the record, the GP mean and band, the marks.

        Needs matplotlib (`pip install keras_autolr[plot]`).

        Returns:
            A `matplotlib.figure.Figure`.
        """
        from keras_autolr.tools import plotting  # matplotlib is optional
        from keras_autolr.decision.detector import WarmupDetector

        figure_class = plotting._figure_class()
        options = self.replay_options
        schedule = AutoLRSchedule.from_config(dict(
            options["schedule"].get_config(), total_steps=options["total_steps"]))
        posterior = None if self.test is None else plotting.recompute_posterior(
            self.losses, self.test, WarmupDetector(options["options"]), schedule)
        figure = figure_class(figsize=(7.5, 4.5), layout="constrained")
        ax = figure.subplots()
        finite = np.isfinite(self.losses)
        ax.plot(self.learning_rates[finite], self.losses[finite], ".",
                color="0.45", ms=4, label="loss per step")
        visible = [self.losses[finite]]
        if posterior is not None:
            sigma = np.sqrt(posterior.variance)
            ax.plot(posterior.lr, posterior.mean, color="tab:blue", lw=2,
                    label="GP posterior mean")
            ax.fill_between(posterior.lr, posterior.mean - 2 * sigma,
                            posterior.mean + 2 * sigma, color="tab:blue",
                            alpha=0.2, linewidth=0, label="2 sigma")
            visible.append(posterior.mean)
        marks = ((self.minimum, "tab:green", ":", 1.0, "GP minimum"),
                 (self.valley, "tab:orange", (0, (5, 2, 1, 2)), 1.0,
                  "fastai valley"),
                 (self.lightning_steepest, "tab:brown", (0, (1, 1)), 1.0,
                  "Lightning steepest"),
                 (self.suggestion, "tab:red", "--", 2.5, "suggestion"))
        for lr, color, style, width, name in marks:
            if math.isfinite(lr):
                ax.axvline(lr, color=color, ls=style, lw=width,
                           label=f"{name} {lr:.3g}")
        if math.isfinite(self.suggestion):
            at = np.interp(np.log(self.suggestion), np.log(self.learning_rates[finite]),
                           self.losses[finite])
            ax.plot([self.suggestion], [at], "o", color="tab:red", ms=8,
                    zorder=5)
        ax.set_xscale("log")
        ax.set_xlim(self.learning_rates[0], self.learning_rates[-1])
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        plotting._robust_ylim(ax, np.concatenate(visible))
        ax.legend(loc="best", fontsize="small")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_title(f"find_lr: {len(self.losses)} steps "
                     f"(stopped: {self.stop_reason}); suggestion "
                     f"{self.suggestion:.3g}")
        return figure


def find_lr(model, x, y=None, batch_size=None, steps=None, min_lr=1e-7,
            max_lr=10.0, stop_factor=4.0, **fit_kwargs):
    """Learning-rate range test: sweeps the LR, smooths the loss, suggests a peak.

    Users who want to look before they train (fastai's `lr_find`,
    Lightning's `Tuner.lr_find`) get the sweep that `AutoLR` runs during
    training, the same Gaussian-process smoothing and the same choice of
    LR, so that the two agree: on the curve `find_lr` records,
    `keras_autolr.replay(result.losses, **result.replay_options)` reports
    `result.suggestion` as its peak LR.

    The sweep trains the model with its compiled optimizer and loss for
    `steps` steps (default 100, as fastai and Lightning; the data repeats
    when an epoch is shorter), the LR of
    step `t` being `min_lr * (max_lr / min_lr)**(t / (steps - 1))`. It stops
    early when the smoothed loss (the median of the last 5 losses) exceeds
    `stop_factor` times its lowest value, or at a non-finite loss. The GP of `AutoLR`'s detector (seed 0) is then
    fitted once on the whole record. The suggestion is AutoLR's default
    peak: 0.4 x the LR at the minimum of the smoothed loss, never above
    the sweep's last LR nor below the optimizer's own constant LR. On the
    same record, `result.valley` and `result.lightning_steepest` are the
    suggestions fastai's and Lightning's LR finders would make (their
    rules, not their sweeps); `result.plot()` marks all three.

    Afterwards the model is exactly as it was: its variables (weights,
    non-trainable state, random-seed state), the optimizer's variables
    (slots, `iterations`, the learning-rate variable) bit for bit, and the
    optimizer's learning rate is the very object it had (a variable or a
    schedule). An optimizer not built yet is built first, as `fit` would
    build it. The global random state advances, as with any `fit`.

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Lamb(),
                  loss="sparse_categorical_crossentropy")
    result = keras_autolr.find_lr(model, x, y, batch_size=256)
    result.suggestion, result.valley, result.lightning_steepest
    result.plot().savefig("lr_find.png")
    total = 10 * math.ceil(len(x) / 256)
    model.optimizer.learning_rate  # unchanged: the sweep left no trace
    model.compile(optimizer=keras.optimizers.Lamb(result.schedule(total)),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=256, epochs=10)
    ```

    Args:
        model: a compiled Keras model (built: its weights exist).
        x: what `fit` takes: arrays (or a dict or list of them), a
            `tf.data.Dataset`, a `keras.utils.PyDataset` or a generator.
        y: targets, with arrays. Defaults to None.
        batch_size: int or None. With arrays; None is `fit`'s default (32).
        steps: int or None. Sweep steps, at least 20 losses (the host
            sees one per execution: `steps_per_execution` steps); None is
            100 losses (fastai's and Lightning's default of 100 steps, times
            the model's `steps_per_execution`). Arrays, a sized
            `tf.data.Dataset` and a `PyDataset` repeat as often as needed
            (1,400 samples at batch 256 are 6 steps an epoch: 17 epochs).
            A generator or an unsized dataset is read once: if it ends
            before `steps` batches, the sweep ends there
            (`stop_reason="data"`; at least 20 losses needed).
        min_lr: float. LR of the first step. Defaults to 1e-7.
        max_lr: float. LR of the last planned step. Defaults to 10.0.
        stop_factor: float > 1 or None. Stop once the smoothed loss exceeds
            this times its lowest value (for positive losses); None runs
            every step. Defaults to 4.0.
        **fit_kwargs: more `fit` arguments (`callbacks`, `verbose`,
            `shuffle`, `class_weight`, `sample_weight`, ...); not `epochs`,
            `steps_per_epoch` or validation arguments. `verbose` defaults
            to 0.

    Returns:
        An `LRFinderResult`: `learning_rates`, `losses`, `suggestion`,
        `minimum`, `steepest`, `valley`, `lightning_steepest`, `plot()` and
        `schedule(total_steps)`.

    Raises:
        ValueError: the model is not compiled or not built; a bad
            argument; the sweep is (or ended) too short for the GP.
    """
    min_lr, max_lr, steps, batch_size, stop_factor = _check_arguments(
        min_lr, max_lr, steps, batch_size, stop_factor, fit_kwargs)
    _check_model(model)
    steps_per_execution = _keras.steps_per_execution(model)
    plan = lr_sweep.plan_sweep(x, steps, batch_size, min_lr, max_lr,
                               steps_per_execution)
    _check_executions(plan, steps_per_execution, steps)
    optimizer = model_state.build_optimizer(model)
    swept = lr_sweep.swept(optimizer)
    own_lr = _keras.constant_learning_rate(swept[0])
    recorder = lr_sweep.run_sweep(model, optimizer, swept, x, y, plan,
                                  stop_factor, batch_size, fit_kwargs)
    losses = np.asarray(recorder.losses, np.float64)
    learning_rates = plan.learning_rates(len(losses))
    _check_record(losses, recorder.finite_executions, learning_rates,
                  recorder.stop_reason, min_lr, stop_factor)
    replay_options = _replay_options(plan, len(losses),
                                     recorder.steps_per_execution, own_lr)
    decision, test, steepest = decide(losses, replay_options)
    fastai_lr, _ = valley(learning_rates, losses, plan.steps)
    lightning_lr, _ = lightning_steepest(learning_rates, losses)
    return LRFinderResult(
        learning_rates=learning_rates, losses=losses,
        suggestion=float(decision.peak_lr),
        minimum=_chosen_lr(test), steepest=_chosen_lr(steepest),
        own_lr=own_lr,
        stop_reason=recorder.stop_reason or "data", decision=decision,
        replay_options=replay_options, test=test, valley=fastai_lr,
        lightning_steepest=lightning_lr)


def _check_arguments(min_lr, max_lr, steps, batch_size, stop_factor,
                     fit_kwargs):
    """`find_lr`'s arguments, checked: `(min_lr, max_lr, steps, batch_size, stop_factor)`.

    Raises:
        ValueError: a bad value, naming the argument.
        TypeError: `fit_kwargs` holds a `fit` argument that `find_lr` sets.
    """
    min_lr, max_lr = _validation.lr_range(min_lr, max_lr)
    steps = _validation.positive_int("steps", steps, allow_none=True)
    batch_size = _validation.positive_int("batch_size", batch_size,
                                          allow_none=True)
    if stop_factor is not None:
        stop_factor = _validation.positive_float("stop_factor", stop_factor)
        if stop_factor <= 1.0:
            raise ValueError("`stop_factor` must be > 1 or None. "
                             f"Received stop_factor={stop_factor!r}")
    for name in _RESERVED:
        if name in fit_kwargs:
            raise TypeError(
                f"`find_lr` sets `{name}` itself (the sweep runs `steps` "
                f"steps, without validation). Received {name}="
                f"{fit_kwargs[name]!r}")
    return min_lr, max_lr, steps, batch_size, stop_factor


def _check_model(model):
    """The model's optimizer; a ValueError unless the model is compiled and built."""
    optimizer = getattr(model, "optimizer", None)
    compiled = getattr(model, "compiled", None)
    if optimizer is None or compiled is False or not _has_loss(model):
        raise ValueError(
            "`find_lr` needs a compiled model (an optimizer and a loss): "
            "call `model.compile(optimizer=..., loss=...)` first. "
            f"Received model.optimizer={optimizer!r}")
    if not model.built or not model.weights:
        raise ValueError(
            "`find_lr` needs a built model, whose weights exist (give it an "
            "`Input`, or call `model.build(input_shape)`): the sweep restores "
            f"them afterwards. Received model.built={model.built!r}")
    return optimizer


def _has_loss(model):
    """True when `compile` gave the model a loss."""
    if _keras.IS_KERAS_3:
        return getattr(model, "loss", None) is not None or bool(model.losses)
    return getattr(model, "compiled_loss", None) is not None


def _check_executions(plan, steps_per_execution, steps):
    """Raises a ValueError before the sweep when it would give the GP too few losses.

    The host sees one loss per execution: under `steps_per_execution=k` a
    sweep of 100 steps is 100 / k losses (2 at k=50, where the GP's test
    could not run and the suggestion was 0.4x the sweep's last LR, 14.7
    for Adam on the digits). The default `steps` is 100 losses; a `steps`
    given that holds fewer than `MIN_SWEEP_STEPS` is refused.
    """
    seen = short_budget.losses_seen(plan.steps, plan.epoch_steps,
                                    steps_per_execution)
    if seen < MIN_SWEEP_STEPS:
        raise ValueError(
            f"With steps_per_execution={steps_per_execution}, a sweep of "
            f"{plan.steps} steps gives {seen} losses (one per execution), "
            f"too few for the GP (at least {MIN_SWEEP_STEPS}). Pass "
            f"steps={MIN_SWEEP_STEPS * steps_per_execution} or more, or "
            "compile the model with a smaller steps_per_execution for the "
            f"sweep. Received steps={steps!r}")


def _check_record(losses, finite_executions, learning_rates, stop_reason,
                  min_lr, stop_factor):
    """Raises a ValueError when the sweep left too few finite losses for the GP.

    `finite_executions`: the finite losses the host read, one per execution.
    """
    n = len(losses)
    finite = int(finite_executions)
    if finite < MIN_SWEEP_STEPS:
        raise ValueError(
            f"The sweep ended after {n} steps ({stop_reason or 'data'}"
            f" at LR {learning_rates[-1] if n else min_lr:.3g}) with {finite} "
            f"finite losses, too few for the GP (at least {MIN_SWEEP_STEPS}). "
            "Start lower, or give the data or `stop_factor` more room. "
            f"Received min_lr={min_lr!r}, stop_factor={stop_factor!r}")


def _replay_options(plan, n, steps_per_execution, own_lr):
    """The `replay` arguments under which a sweep of `n` steps is an AutoLR warmup.

    Its LRs are the sweep's step for step, its cap the end of the record,
    tested once there (see `LRFinderResult.replay_options`).
    """
    # The suggestion's test: one test on the whole record (the warmup cap at
    # its end), not AutoLR's live cadence (`check_every="auto"`: a test per
    # 1.2x of LR, 3 positive in a row). Both were measured on the same 18
    # sweeps against the quality study's grid (benchmarks/lr_finder.py,
    # README "find_lr"): the cadence's peak was within 1 point of the grid
    # in 0 of 9 cells (mean gap -24.5 points, worst -76.7), the one test's
    # in 2 of 9 (-9.8, worst -32.4). A 100-step sweep over 8 decades grows
    # the LR 1.2x a step, so the cadence tests at every step; on the flat
    # start (1e-7 to ~1e-4) the warm-started GP amplitude shrinks test after
    # test (to ~1e-6 of the losses' scale on mnist) and later tests read the
    # descent as noise: the GP minimum lands at 1.3e-4 or below on 5 sweeps,
    # and the peak at the optimizer's own LR (the floor, 1e-3) on 7. The stop
    # rule also ends the sweep a few steps past the minimum, before 3
    # positive tests in a row: 16 of 18 cadence decisions came at the cap.
    # `replay(result.losses, **dict(result.replay_options,
    # options=result.replay_options["options"].replace(check_every="auto")))`
    # gives the cadence's decision.
    replay_options = dict(
        total_steps=2 * n,
        schedule=AutoLRSchedule(
            min_lr=plan.min_lr, max_lr=plan.learning_rate(n),
            max_warmup_fraction=0.5),
        # The recorded sweep started at `min_lr`, not at the own LR: the own
        # LR below only floors the peak.
        options=Options(check_every=n, seed=0, peak_factor=DEFAULT_PEAK_FACTOR,
                        sweep_start="min_lr"),
        steps_per_execution=steps_per_execution,
        steps_per_epoch=(plan.epoch_steps
                         if plan.epoch_steps and n > plan.epoch_steps else None))
    if own_lr is not None and own_lr > 0:  # AutoLR's floor (own_lr_floor)
        replay_options["own_lr"] = own_lr
    return replay_options


def decide(losses, replay_options):
    """AutoLR's decision on a sweep record, its deciding test, and that test's steepest LR.

    `keras_autolr.replay(losses, **replay_options)`: tests at AutoLR's
    cadence as the record grows, `patience` positive tests in a row to
    switch, else a last test at the end of the record (the warmup cap).
    The deciding test is the one whose LR the decision took: the last one,
    or on divergence the last regular test before it (`WarmupController`).
    The steepest descent comes from the same test of a replay with
    `peak="steepest"`: the tests' draws, fits and votes do not depend on
    `peak`, only the LR each one reports.

    Returns:
        `(decision, test, steepest_test)`; the tests are None when no test
        ran.
    """
    decision = offline.replay(losses, **replay_options)
    test = deciding_test(decision)
    if test is None:
        return decision, None, None
    other = offline.replay(losses, **dict(
        replay_options, options=replay_options["options"].replace(peak="steepest")))
    steepest = other.tests[test.index] if test.index < len(other.tests) else None
    if steepest is not None and (steepest.step != test.step or
                                 steepest.probabilities != test.probabilities):
        raise AssertionError(  # the tests must be the same ones
            f"The steepest replay's test {test.index} differs from the "
            f"decision's: step {steepest.step} against {test.step}")
    return decision, test, steepest


def deciding_test(decision):
    """The `TestResult` whose LR `decision` took (None when none did)."""
    tests = decision.tests
    if not tests:
        return None
    last = tests[-1]
    if decision.reason == DIVERGED:
        final = last if last.step == decision.switch_step else None
        earlier = [t for t in tests if t is not final and t.peak_lr is not None]
        return earlier[-1] if earlier else final
    return last


def _chosen_lr(test):
    """The LR a test chose (NaN when there is none or the GP failed)."""
    if test is None or test.peak_lr is None:
        return math.nan
    return float(test.peak_lr)


# ------------------------------------------------------- other finders' rules
def smooth(losses, beta=SMOOTH_BETA, first_power=1):
    """The debiased exponential moving average that fastai and Lightning record.

    `avg[t] = beta * avg[t-1] + (1 - beta) * losses[t]` from `avg[-1] = 0`,
    reported as `avg[t] / (1 - beta**(t + first_power))`. fastai's
    `AvgSmoothLoss` debiases by its count (`first_power=1`); Lightning's
    `_LRCallback` by `global_step + 1`, which is 2 at its first step
    (`first_power=2`). A non-finite loss makes every later value
    non-finite, as in both.

    Returns:
        A float64 array as long as `losses`.
    """
    losses = np.asarray(losses, np.float64)
    out = np.empty_like(losses)
    average = 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        for t, loss in enumerate(losses):
            average = beta * average + (1.0 - beta) * loss
            out[t] = average / (1.0 - beta ** (t + first_power))
    return out


def valley(learning_rates, losses, num_it=DEFAULT_STEPS, beta=SMOOTH_BETA):
    """fastai's `valley` suggestion on a sweep record: `(lr, index)`.

    As `Learner.lr_find` (fastai 2.7, `fastai/callback/schedule.py`): the
    raw `losses` are smoothed as fastai's recorder smooths them
    (`smooth(losses)`, beta 0.98); the record loses its first `num_it // 10`
    steps (`num_it`: the planned sweep length) and its last 5, and is cut
    at its first NaN. On what is left, `lds[i]` is the length of the
    longest strictly decreasing subsequence ending at `i`; the valley ends
    at the first `i` with the largest `lds` and starts `lds` steps before
    it; the suggestion is step `start + int(d / 3) + int(d / 3 / 2)`,
    `d = end - start`, about half-way down it (fastai's code; its docs
    speak of "2/3 of the way").

    Args:
        learning_rates: the sweep's LRs, one per step.
        losses: the raw training losses, one per step.
        num_it: int. The planned sweep length (fastai's `num_it`).
        beta: float in [0, 1). The smoothing (0: the losses as they are).

    Returns:
        `(lr, index)`: the LR and its step in the record; `(nan, None)`
        when nothing is left after the trimming.
    """
    learning_rates = np.asarray(learning_rates, np.float64)
    smoothed = smooth(losses, beta)
    begin = num_it // 10
    lrs, values = learning_rates[begin:-5], smoothed[begin:-5]
    nan = np.flatnonzero(np.isnan(values))
    if nan.size:
        lrs, values = lrs[:nan[0]], values[:nan[0]]
    n = len(values)
    if n == 0:
        return math.nan, None
    values = values.tolist()
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if values[i] < values[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    index = max_start + int(sections) + int(sections / 2)
    return float(lrs[index]), begin + index


def lightning_steepest(learning_rates, losses, skip_begin=10, skip_end=1,
                       spacing="steps", beta=SMOOTH_BETA):
    """Lightning's steepest-gradient suggestion on a sweep record: `(lr, index)`.

    As `_LRFinder.suggestion()` (`lightning/pytorch/tuner/lr_finder.py`):
    the raw `losses` are smoothed as Lightning's `_LRCallback` smooths them
    (`smooth(losses, first_power=2)`, beta 0.98); the record loses its
    first `skip_begin` and last `skip_end` steps and its non-finite values;
    the suggestion is the LR at the argmin of the gradient of the smoothed
    losses. `spacing="steps"`: `np.gradient(losses)`, one unit per step
    (Lightning 1.x to 2.5.2, the rule since 2020, and even steps of log LR
    on an exponential sweep); `spacing="lr"`: the gradient against the LRs
    themselves (`torch.gradient(losses, spacing=[lrs])`, Lightning 2.5.3
    and later), which divides the log-LR slope by the LR and so leans to
    small LRs (Lightning issue 21141). `beta=0` reads the losses as they
    are.

    Returns:
        `(lr, index)`: the LR and its step in the record; `(nan, None)`
        with fewer than 2 finite points left.
    """
    if spacing not in ("steps", "lr"):
        raise ValueError('`spacing` must be "steps" or "lr". '
                         f"Received spacing={spacing!r}")
    learning_rates = np.asarray(learning_rates, np.float64)
    smoothed = smooth(losses, beta, first_power=2)
    indices = np.arange(len(smoothed))[skip_begin:-skip_end]
    values, lrs = smoothed[skip_begin:-skip_end], learning_rates[skip_begin:-skip_end]
    finite = np.isfinite(values)
    indices, values, lrs = indices[finite], values[finite], lrs[finite]
    if len(values) < 2:
        return math.nan, None
    gradient = (np.gradient(values) if spacing == "steps"
                else np.gradient(values, lrs))
    index = int(indices[int(np.argmin(gradient))])
    return float(learning_rates[index]), index
