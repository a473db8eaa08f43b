"""`find_lr`'s sweep: its length, its LR schedule, and the `fit` that runs it.

`plan_sweep` sizes the sweep (its steps, one epoch of the data, the LR's
growth per step); `run_sweep` runs it: one `fit` of the model with the
optimizer's LR replaced by `SweepSchedule` and a `SweepRecorder` among the
callbacks, which records the loss of every step and stops the `fit` when
the sweep is done. The model is put back as it was afterwards
(`model_state.kept`).
"""

import dataclasses
import math
from typing import Optional

import numpy as np

from keras_autolr import _keras
from keras_autolr.tools import model_state
from keras_autolr.training import distributed
from keras_autolr.training import install
from keras_autolr.training.loss_reader import ExecutionLossReader

keras = _keras.keras
ops = _keras.ops

# The GP needs a record it can smooth: fewer sweep steps are refused.
MIN_SWEEP_STEPS = 20
# The default sweep length (`steps=None`), as fastai's `lr_find` (`num_it`)
# and Lightning's `Tuner.lr_find` (`num_training`): the data repeats when
# an epoch is shorter.
DEFAULT_STEPS = 100
# The stop rule's smoothing: the median of the last few losses (one per
# execution); the GP is fitted once, after the sweep. fastai's moving
# average (0.98) lags: on 100-step LAMB sweeps of 4 quality-benchmark cells
# it stopped 5 to 18 steps later, deep in the divergence (losses 30-100x
# the minimum), and the GP's minimum moved 1.4x to 6x lower on 3 of them
# (2.4x higher on the 4th).
STOP_WINDOW = 5


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """The sweep's size and LRs.

    Attributes:
        steps: int. Planned sweep steps.
        epoch_steps: int or None. Batches in one epoch of the data (None:
            it cannot be told).
        min_lr: float. LR of the first step.
        log_gamma: float. Log of the LR's growth per step: step `t` has LR
            `min_lr * exp(log_gamma * t)`, and step `steps - 1` `max_lr`.
    """

    steps: int
    epoch_steps: Optional[int]
    min_lr: float
    log_gamma: float

    def learning_rates(self, count):
        """The LRs of the first `count` steps, a float64 array."""
        return self.min_lr * np.exp(
            self.log_gamma * np.arange(count, dtype=np.float64))

    def learning_rate(self, step):
        """The LR of step `step` (a float; `step` may lie past the plan)."""
        return float(self.min_lr * math.exp(self.log_gamma * step))


def plan_sweep(x, steps, batch_size, min_lr, max_lr, steps_per_execution=1):
    """Sizes the sweep over `x` (checked arguments, as `find_lr` takes them).

    `steps=None` is `DEFAULT_STEPS` (100) losses: as many executions of
    `steps_per_execution` steps. Data whose epoch length is
    known (arrays, a sized dataset, a `PyDataset`) repeats as often as the
    sweep needs (`fit` runs enough epochs); a generator or an unsized
    dataset is read once, for at most `steps` batches, and the sweep ends
    where it ends (`stop_reason="data"`).

    Raises:
        ValueError: `steps` is below `MIN_SWEEP_STEPS`.
    """
    epoch_steps = steps_per_epoch(x, batch_size)
    if steps is None:
        steps = DEFAULT_STEPS * max(1, int(steps_per_execution))
    elif steps < MIN_SWEEP_STEPS:
        raise ValueError(
            f"`steps` must be at least {MIN_SWEEP_STEPS}: the GP cannot "
            f"smooth a shorter sweep. Received steps={steps!r}")
    log_gamma = math.log(max_lr / min_lr) / (steps - 1)
    return SweepPlan(steps=steps, epoch_steps=epoch_steps, min_lr=min_lr,
                     log_gamma=log_gamma)


def run_sweep(model, optimizer, swept_optimizers, x, y, plan, stop_factor,
              batch_size, fit_kwargs):
    """Runs the sweep: one `fit` at the sweep's LRs; the model is put back after.

    Args:
        model: the compiled, built model.
        optimizer: its optimizer, built (`model_state.build_optimizer`).
        swept_optimizers: the optimizers whose LR the sweep sets
            (`swept(optimizer)`).
        x, y: the data, as `fit` takes it.
        plan: the `SweepPlan`.
        stop_factor: float > 1 or None (see `SweepRecorder`).
        batch_size: int or None, as `fit` takes it.
        fit_kwargs: dict. The user's other `fit` arguments.

    Returns:
        The `SweepRecorder`: `losses`, `stop_reason`, `steps_per_execution`.
    """
    recorder = SweepRecorder(plan.steps, stop_factor)
    fit_kwargs = dict(fit_kwargs)
    fit_kwargs.setdefault("verbose", 0)
    fit_kwargs["callbacks"] = list(fit_kwargs.get("callbacks") or []) + [recorder]
    run = _fit_length(plan, batch_size)
    strategy = getattr(model, "distribute_strategy", None)
    with model_state.kept(model, optimizer, swept_optimizers):
        start = int(_keras.step_counter(optimizer).numpy())
        sweep = SweepSchedule(plan.min_lr, plan.log_gamma, start)
        for each in swept_optimizers:
            _keras.set_raw_learning_rate(each, sweep)
        if not _keras.IS_KERAS_3:  # its current-LR variable, made eagerly
            distributed.build_learning_rate_variable(optimizer, sweep, strategy)
        model.make_train_function(force=True)
        model.fit(x, y, **run, **fit_kwargs)
    return recorder


def swept(optimizer):
    """The optimizers whose LR the sweep sets: `optimizer`, or its sub-optimizers.

    A built `MultiOptimizer` has no LR of its own: its sub-optimizers that
    train are swept together, and must have one LR (else a ValueError).
    """
    inner = _keras.sub_optimizers(optimizer)
    if inner is None:
        return [optimizer]
    install.check_multi_optimizer(
        inner, "`find_lr` sweeps one learning rate",
        "Compile the model with one optimizer for the sweep, or give the "
        "sub-optimizers one learning rate.")
    return inner


def _fit_length(plan, batch_size):
    """The `fit` arguments that make it run (at least) the planned steps."""
    if plan.epoch_steps is not None:
        run = dict(epochs=-(-plan.steps // plan.epoch_steps))
    else:
        run = dict(epochs=1, steps_per_epoch=plan.steps)
    if batch_size is not None:
        run["batch_size"] = batch_size
    return run


class SweepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`min_lr * exp(log_gamma * (step - start))`: the sweep, from the optimizer's step."""

    def __init__(self, min_lr, log_gamma, start):
        super().__init__()
        self.min_lr, self.log_gamma, self.start = min_lr, log_gamma, start

    def __call__(self, step):
        # In keras.ops, as AutoLRSchedule: the step is an int64 on
        # TensorFlow, an int32 on JAX.
        t = ops.cast(ops.cast(step, _keras.STEP_DTYPE) - self.start, "float32")
        return self.min_lr * ops.exp(self.log_gamma * t)

    def get_config(self):
        return dict(min_lr=self.min_lr, log_gamma=self.log_gamma,
                    start=self.start)


class SweepRecorder(keras.callbacks.Callback):
    """Records the loss of every sweep step; stops the sweep when it is done.

    The sweep stops after `steps` steps, at a non-finite loss, or once the
    smoothed loss (the median of the last `STOP_WINDOW` losses) exceeds
    `stop_factor` times its lowest value (for positive losses; never when
    `stop_factor` is None). `stop_reason` says which (None: the data ran
    out first).
    """

    def __init__(self, steps, stop_factor):
        super().__init__()
        self.steps, self.stop_factor = steps, stop_factor
        self.losses = []
        self.finite_executions = 0  # the GP's points: one per execution
        self.stop_reason = None
        self.steps_per_execution = None
        self._recent, self._best = [], math.inf

    def on_train_begin(self, logs=None):
        self._optimizer = _keras.optimizer_of(self.model)
        self._seen = int(_keras.step_counter(self._optimizer).numpy())
        self._reader = ExecutionLossReader(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._reader.start_epoch()

    def on_train_batch_end(self, batch, logs=None):
        # JAX: the step counter and the loss tracker as this execution left
        # them (`_keras.sync_model_state`).
        _keras.sync_model_state(self.model)
        step = int(_keras.step_counter(self._optimizer).numpy())
        count, self._seen = step - self._seen, step
        if count <= 0:
            return
        if self.steps_per_execution is None:
            self.steps_per_execution = count
        loss = self._reader.read(logs, count)
        self.losses.extend([loss] * count)
        if not math.isfinite(loss):
            return self._stop("non_finite")
        self.finite_executions += 1
        self._recent = (self._recent + [loss])[-STOP_WINDOW:]
        smoothed = float(np.median(self._recent))
        self._best = min(self._best, smoothed)
        if (self.stop_factor is not None and self._best > 0
                and smoothed > self.stop_factor * self._best):
            return self._stop("stop_factor")
        if len(self.losses) >= self.steps:
            self._stop("steps")

    def _stop(self, reason):
        self.stop_reason = reason
        self.model.stop_training = True


def steps_per_epoch(x, batch_size):
    """Batches in one epoch of `x`, or None when it cannot be told."""
    if _is_tf_dataset(x):  # on any backend: Keras 3 fits JAX and torch from one
        cardinality = int(x.cardinality().numpy())
        return cardinality if cardinality > 0 else None
    if isinstance(x, keras.utils.Sequence) or (
            hasattr(keras.utils, "PyDataset")
            and isinstance(x, keras.utils.PyDataset)):
        try:
            return len(x)
        except TypeError:
            return None
    leaves = (keras.tree.flatten(x) if _keras.IS_KERAS_3
              else _keras.tf.nest.flatten(x))
    if not leaves:
        return None
    first = leaves[0]
    shape = getattr(first, "shape", None)
    if shape is not None and len(shape) and shape[0] is not None:
        size = int(shape[0])
    elif isinstance(first, (list, tuple)):
        size = len(first)
    else:
        return None  # a generator or an iterator: no length
    return -(-size // (batch_size or 32))


def _is_tf_dataset(x):
    """True for a `tf.data.Dataset`, without importing TensorFlow."""
    return (type(x).__module__.startswith("tensorflow")
            and callable(getattr(x, "cardinality", None)))
