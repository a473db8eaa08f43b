"""`ExecutionLossReader`: the mean loss of each execution, from what `fit` reports."""

import math

import numpy as np

from keras_autolr import _keras


class MissingLossError(ValueError):
    """The training step reports no loss AutoLR can read."""


class ExecutionLossReader:
    """Mean loss of the steps since the last read, from what the step reports.

    The source is chosen at the first read of a `fit`, from what the first
    execution really updated:

    1. `"tracker"`: Keras' compiled loss tracker (`monitor="loss"` only),
       when the step updated it (Keras' own `train_step`, or one calling
       `compute_loss`). Its weighted sum and count give the exact mean of
       the execution's steps.
    2. `"metric"`: a metric of the model named `monitor` that keeps a sum and
       a count (the `keras.metrics.Mean(name="loss")` tracker of a custom
       `train_step`), read the same way.
    3. `"running_mean"`: a metric named `monitor` without them: the running
       mean in `logs[monitor]`, differenced under equal batch weights.
    4. `"value"`: no such metric: `logs[monitor]` is the loss of the batch
       (a `train_step` returning `{"loss": loss}`), taken as it is.

    With none of them, the first read raises `MissingLossError`, which names
    what AutoLR needs. Call `start_epoch()` when an epoch begins (Keras
    resets the metrics) and `read(logs, steps)` after each execution of
    `steps` steps.

    Args:
        model: the Keras model.
        monitor: str. Name of the loss in the step's logs. Defaults to "loss".
    """

    def __init__(self, model, monitor="loss"):
        self.monitor = monitor
        self._compiled = _keras.loss_tracker(model) if monitor == "loss" else None
        self._metric = _metric_named(model, monitor, exclude=self._compiled)
        self.source = None
        self._tracker = None
        self.start_epoch()

    @property
    def reads_sums(self):
        """Whether the source keeps a sum and a count (`"tracker"`, `"metric"`)."""
        return self._tracker is not None

    @property
    def total(self):
        """The loss metric's weighted sum at the last read (0 after a reset)."""
        return self._total

    @property
    def count(self):
        """The loss metric's count at the last read (0 after a reset)."""
        return self._count

    def start_epoch(self):
        self._total = 0.0
        self._count = 0.0
        self._epoch_steps = 0

    def reset(self):
        """Clears the loss metric (e.g. of a NaN) and starts counting anew."""
        tracker = self._tracker if self._tracker is not None else (
            self._metric if self.source == "running_mean" else None)
        if tracker is not None:
            reset = getattr(tracker, "reset_state", None) or tracker.reset_states
            reset()
            if self.source == "running_mean":
                self._epoch_steps = 0
        self._total = 0.0
        self._count = 0.0

    def clear_if_not_finite(self):
        """After a restore: `reset` when the metric holds a non-finite loss.

        A NaN stays in every later mean of the epoch, so it is cleared. A
        finite metric is kept: the epoch logs the mean of every step it
        trained, as without AutoLR. Cleared at a rewind on an epoch's last
        step (the warmup cap, with an even number of epochs), the epoch
        logged a loss of 0.0, the best of the run for `ModelCheckpoint` and
        `EarlyStopping` on `"loss"`.
        """
        if not math.isfinite(self._total):
            self.reset()

    def read(self, logs, steps):
        self._epoch_steps += steps
        if self.source is None:
            self._choose(logs)
        if self._tracker is not None:
            total = float(self._read_total())
            count = float(self._read_count())
            d_total, d_count = total - self._total, count - self._count
            self._total, self._count = total, count
            if d_count > 0:
                return d_total / d_count
            return math.nan
        value = (logs or {}).get(self.monitor)
        if value is None:
            return math.nan
        value = float(np.asarray(value))
        if self.source == "value":
            return value
        total = value * self._epoch_steps  # a running mean over the epoch
        chunk = (total - self._total) / steps
        self._total = total
        return chunk

    def _choose(self, logs):
        """Picks the source from what the first execution updated."""
        if self._compiled is not None and float(self._compiled.count.numpy()) > 0:
            self.source, self._tracker = "tracker", self._compiled
        elif self._metric is not None and _has_sum(self._metric):
            self.source, self._tracker = "metric", self._metric
        if self._tracker is not None:  # read after every execution: fast
            self._read_total = _keras.value_reader(self._tracker.total)
            self._read_count = _keras.value_reader(self._tracker.count)
            return
        if self._metric is not None and self.monitor in (logs or {}):
            self.source = "running_mean"
        elif self.monitor in (logs or {}):
            self.source = "value"
        else:
            raise MissingLossError(
                f"AutoLR needs the training loss of every step, as "
                f"{self.monitor!r}, and this training step reports none: "
                + ("Keras' compiled loss tracker was not updated (a custom "
                   "`train_step` that does not call `compute_loss`), "
                   if self.monitor == "loss" else "")
                + f"the model has no metric named {self.monitor!r}, and the "
                f"step's logs have no {self.monitor!r} entry. Return the loss "
                f"from `train_step` as {{{self.monitor!r}: loss}} (or track it "
                f"in a `keras.metrics.Mean(name={self.monitor!r})` listed in "
                "`model.metrics`), or pass `AutoLR(monitor=...)` naming one "
                "of the logged values. Received monitor="
                f"{self.monitor!r}, logs keys={sorted(logs or {})}")


def _has_sum(metric):
    return hasattr(metric, "total") and hasattr(metric, "count")


def _metric_named(model, name, exclude=None):
    """The metric of `model` called `name` (not `exclude`), or None."""
    try:
        metrics = list(model.metrics)
    except (AttributeError, TypeError, ValueError):
        return None
    for metric in metrics:
        if metric is not exclude and getattr(metric, "name", None) == name:
            return metric
    return None
