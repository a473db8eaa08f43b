"""`BatchCounter`: steps and losses counted on the host between exact reads.

After every execution `fit` hands each callback the batch index and the
logged loss, the running mean of the epoch, already converted to a Python
float (Keras 3; a tensor on Keras 2). Reading the optimizer's step counter
and the loss tracker's sum and count instead costs three TensorFlow reads,
about 17 us each: most of AutoLR's cost per step. Between two moments at
which something can happen (a test or the cap due, a snapshot due: the
controller's `quiet_until`), AutoLR needs only to record the losses, so it
counts the steps from the batch index and takes each execution's mean loss
from the running mean, under equal batch weights.

Nothing is decided on host counts alone. The counts are held aside and
checked against the exact reads at the next execution that reads (the
first of each epoch and of each `fit`, the last of each epoch, one at which
something is due, one with a non-finite or missing loss): the step counter
must be where the batch index says, and the loss tracker's count must have
grown by the same count per step. When both hold, the held executions are
handed over as counted; else they are handed over as one execution with
the exact mean of their steps, and the rest of the `fit` reads exactly (an
optimizer that skips steps, batches of unequal sizes, a custom loop calling
the callback with its own batch numbers).
"""

import math


class BatchCounter:
    """Counts one `fit`'s executions on the host between exact reads.

    Example:

    ```python
    counter = BatchCounter(steps_per_epoch=100)
    counter.start_epoch()
    # The first execution is read exactly: step 1, tracker sum 2.3 x 32.
    counter.settle(batch=0, step=1, total=73.6, count=32.0,
                   exact_loss=2.3, exact_steps=1, logged=2.3)
    counter.take(batch=1, logged=2.25, horizon=50)  # True: held on the host
    counter.settle(batch=2, step=3, total=220.8, count=96.0,
                   exact_loss=2.3, exact_steps=2, logged=2.3)
    # [(2.2, 1), (2.4, 1)]: the held execution, then this one, exact
    ```

    Args:
        steps_per_epoch: int. The steps of one epoch of the `fit`
            (`params["steps"]`); the last execution of an epoch, which may
            hold a partial batch, is always read exactly.
    """

    def __init__(self, steps_per_epoch):
        self.steps_per_epoch = int(steps_per_epoch)
        self.enabled = True  # False for the rest of the fit after a mismatch
        self._ready = False
        self._pending = []
        self._weight = None  # the loss tracker's count per step
        self._epoch_base = 0  # the step counter when the epoch began
        # The step, tracker sum and count after the last execution handed
        # over or held (counted, or read).
        self._step, self._total, self._count = 0, 0.0, 0.0

    @property
    def pending(self):
        """Executions held on the host, not handed over yet: `(loss, steps)`."""
        return list(self._pending)

    def start_epoch(self):
        """Keras reset the loss tracker: the next execution reads exactly."""
        self.invalidate()

    def invalidate(self, total=0.0, count=0.0):
        """A restore: the next execution reads exactly.

        Args:
            total, count: the loss tracker's sum and count now (0 when the
                restore cleared it of a non-finite loss).
        """
        self._ready = False
        self._total, self._count = float(total), float(count)

    def discard(self):
        """The step counter did not move as counted: drop the held executions.

        The steps held were never taken; the rest of the `fit` reads exactly.
        """
        self._pending = []
        self.enabled = False
        self._ready = False

    def take(self, batch, logged, horizon, ceiling=math.inf):
        """Holds one execution on the host when nothing can happen at its end.

        Args:
            batch: the batch index `fit` reports (the last step of the
                execution, counted from 0 in the epoch).
            logged: the logged loss, the running mean of the epoch, or None.
            horizon: int. The first step at which an execution may end with
                more than a record (`WarmupController.quiet_until`).
            ceiling: float. A loss above it is read exactly
                (`WarmupController.decay_ceiling`: a blow-up in the decay).

        Returns:
            True when the execution is held; False when it must be read
            exactly.
        """
        if not self._ready or logged is None:
            return False
        in_epoch = min(batch + 1, self.steps_per_epoch)
        step = self._epoch_base + in_epoch
        steps = step - self._step
        if in_epoch >= self.steps_per_epoch or steps <= 0 or step >= horizon:
            return False
        count = self._count + self._weight * steps
        total = float(logged) * count
        loss = (total - self._total) / (count - self._count)
        if not math.isfinite(loss) or loss > ceiling:
            return False
        self._pending.append((loss, steps))
        self._step, self._total, self._count = step, total, count
        return True

    def settle(self, batch, step, total, count, exact_loss, exact_steps,
               logged=None):
        """Checks the held executions against an exact read; the ones to hand over.

        While counting is on, every execution's loss, read or counted, is
        taken from the logged running mean and the (checked) counts, so the
        record does not depend on which executions were read: a resumed run
        records what the run never interrupted recorded.

        Args:
            batch: the batch index of this execution, or None when no new
                execution ended (an epoch or `fit` that stopped early).
            step: int. The optimizer's step counter, read.
            total, count: floats. The loss tracker's sum and count, read.
            exact_loss, exact_steps: the exact mean loss of the steps since
                the last execution handed over, and their number.
            logged: the logged loss of this execution, or None.

        Returns:
            A list of `(loss, steps)` executions, in order.
        """
        pending, self._pending = self._pending, []
        held = sum(steps for _, steps in pending)
        current = exact_steps - held
        last = batch is not None and batch + 1 >= self.steps_per_epoch
        if batch is not None:
            # The logged loss must be the tracker's mean, else counting from
            # it would record something other than the exact reads do.
            if logged is None or not _same_mean(float(logged), total, count):
                self.enabled = False
        if pending and not self._agrees(batch, step, count, current, last):
            self.enabled = False
        grown = count - self._count
        if current > 0 and grown <= 0:
            self.enabled = False  # the tracker did not count these steps
        if not self.enabled:
            chunks = [(exact_loss, exact_steps)]
            logged_total = total
        elif current == 0:
            chunks, logged_total = pending, self._total
        else:
            if not pending and not last:
                self._weight = grown / current
            logged_total = float(logged) * count
            chunks = pending + [((logged_total - self._total) / grown, current)]
        if batch is not None:
            self._epoch_base = step - min(batch + 1, self.steps_per_epoch)
        self._step, self._total, self._count = step, logged_total, count
        self._ready = (self.enabled and batch is not None and not last
                       and self._weight is not None and self._weight > 0)
        return chunks

    def _agrees(self, batch, step, count, current, last):
        """Whether the exact read confirms the held executions' counts."""
        if batch is None:
            return current == 0 and step == self._step and _close(count, self._count)
        in_epoch = min(batch + 1, self.steps_per_epoch)
        if current <= 0 or self._epoch_base + in_epoch != step or step != self._step + current:
            return False
        grown = count - self._count
        expected = self._weight * current
        if last:  # may hold a partial batch
            return 0 < grown <= expected * (1 + 1e-6)
        return _close(grown, expected)


def _same_mean(logged, total, count):
    """Whether `logged` is the tracker's mean `total / count` (both non-finite counts)."""
    mean = total / count if count > 0 else math.nan
    if not (math.isfinite(logged) and math.isfinite(mean)):
        return not math.isfinite(logged) and count > 0 and not math.isfinite(total)
    return abs(logged - mean) <= 1e-6 * max(1.0, abs(mean))


def _close(a, b):
    """Equal counts, up to float32's rounding of a large sum."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))
