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


class GrowingArray:
    """A float64 array that grows by doubling: amortized O(1) appends.

    Example:

    ```python
    array = GrowingArray()
    array.extend([1.0, 2.0])
    array.values  # array([1., 2.])
    ```
    """

    def __init__(self, capacity=1024):
        self._data = np.zeros(max(1, capacity))
        self.size = 0

    def extend(self, values):
        values = np.asarray(values, np.float64).reshape(-1)
        end = self.size + len(values)
        if end > len(self._data):
            grown = np.zeros(max(end, 2 * len(self._data)))
            grown[:self.size] = self._data[:self.size]
            self._data = grown
        self._data[self.size:end] = values
        self.size = end

    @property
    def values(self):
        return self._data[:self.size]


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
        self._losses = GrowingArray(capacity)

    def extend(self, losses):
        self._losses.extend(losses)

    @property
    def n_steps(self):
        return self._losses.size

    @property
    def values(self):
        """Loss of each step so far (NaN where none or non-finite)."""
        return self._losses.values


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
