"""Per-step training losses, recovered from what `fit` reports.

Keras reports the running mean of the loss since the epoch began, once per
execution (`steps_per_execution` steps), weighted by batch size. The loss
metric keeps its weighted sum and count in two variables; their increments
over one execution give the weighted mean loss of that execution's steps
exactly, also for a partial last batch. The optimizer's `iterations` counter
says which steps those were. Where no such metric exists (a custom
`train_step`), the running mean in `logs["loss"]` is differenced under
equal batch weights.
"""

import math

import numpy as np

from keras_autolr import _keras


class LossRecord:
    """One loss per optimizer step; a chunk's mean is placed at each of its steps.

    Example:

    ```python
    record = LossRecord()
    record.extend(np.full(4, 2.3))  # one execution of 4 steps
    record.values  # array([2.3, 2.3, 2.3, 2.3])
    ```
    """

    def __init__(self, capacity=1024):
        self._values = np.full(max(1, capacity), np.nan)
        self._finite_steps = np.zeros(max(1, capacity), np.int64)
        self._finite_values = np.zeros(max(1, capacity), np.float64)
        self.n_steps = 0
        self.n_finite = 0

    def extend(self, losses):
        losses = np.asarray(losses, np.float64).reshape(-1)
        end = self.n_steps + len(losses)
        self._grow(end)
        self._values[self.n_steps:end] = losses
        finite = np.flatnonzero(np.isfinite(losses))
        f_end = self.n_finite + len(finite)
        self._finite_steps[self.n_finite:f_end] = self.n_steps + finite
        self._finite_values[self.n_finite:f_end] = losses[finite]
        self.n_steps, self.n_finite = end, f_end

    def _grow(self, size):
        if size <= len(self._values):
            return
        new = max(size, 2 * len(self._values))
        pad = new - len(self._values)
        self._values = np.concatenate([self._values, np.full(pad, np.nan)])
        self._finite_steps = np.concatenate(
            [self._finite_steps, np.zeros(pad, np.int64)])
        self._finite_values = np.concatenate(
            [self._finite_values, np.zeros(pad, np.float64)])

    @property
    def values(self):
        """Loss of each step so far (NaN where none or non-finite)."""
        return self._values[:self.n_steps]

    @property
    def finite_steps(self):
        return self._finite_steps[:self.n_finite]

    @property
    def finite_losses(self):
        return self._finite_values[:self.n_finite]


class ExecutionLossReader:
    """Mean loss of the steps since the last read, from Keras' loss metric.

    Call `start_epoch()` when an epoch begins (the metric resets) and
    `read(logs, steps)` after each execution of `steps` steps.
    """

    def __init__(self, model):
        self._tracker = _keras.loss_tracker(model)
        self.start_epoch()

    def start_epoch(self):
        self._total = 0.0
        self._count = 0.0
        self._epoch_steps = 0

    def reset(self):
        """Clears the loss metric (e.g. of a NaN) and starts counting anew."""
        if self._tracker is not None:
            reset = getattr(self._tracker, "reset_state", None) or self._tracker.reset_states
            reset()
        self._total = 0.0
        self._count = 0.0

    def read(self, logs, steps):
        self._epoch_steps += steps
        if self._tracker is not None:
            total = float(self._tracker.total.numpy())
            count = float(self._tracker.count.numpy())
            d_total, d_count = total - self._total, count - self._count
            self._total, self._count = total, count
            if d_count > 0:
                return d_total / d_count
            return math.nan
        mean = (logs or {}).get("loss")
        if mean is None:
            return math.nan
        total = float(mean) * self._epoch_steps
        chunk = (total - self._total) / steps
        self._total = total
        return chunk
