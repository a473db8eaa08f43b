"""The per-step loss record the detector tests: one loss per optimizer step.

What `fit` reports is turned into these losses by
`keras_autolr.training.loss_reader`. Keras reports the running mean of the loss since the epoch began, once per
execution (`steps_per_execution` steps), weighted by batch size. The loss
metric keeps its weighted sum and count in two variables; their increments
over one execution give the weighted mean loss of that execution's steps
exactly, also for a partial last batch. The optimizer's `iterations` counter
says which steps those were. A custom `train_step` that keeps its own loss
tracker, or returns the loss of the batch, is read from that instead
(`ExecutionLossReader`).
"""

import numpy as np


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

    def append(self, value):
        """Adds one float (`extend([value])` without the array conversion)."""
        if self.size == len(self._data):
            grown = np.zeros(2 * len(self._data))
            grown[:self.size] = self._data
            self._data = grown
        self._data[self.size] = value
        self.size += 1

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

    def append(self, loss):
        self._losses.append(loss)

    @property
    def n_steps(self):
        return self._losses.size

    @property
    def values(self):
        """Loss of each step so far (NaN where none or non-finite)."""
        return self._losses.values
