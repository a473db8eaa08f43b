"""`WarmupController`: the loop that turns a loss record into one decision.

The `AutoLR` callback (live) and `replay` (offline) both drive this one
class, execution by execution, so they take the same decision on the same
losses by construction.
"""

import dataclasses
import math
from typing import List, Optional

import numpy as np

from keras_autolr import _validation
from keras_autolr.cadence import TestCadence
from keras_autolr.detector import TestResult
from keras_autolr.detector import WarmupDetector
from keras_autolr.loss_record import GrowingArray
from keras_autolr.loss_record import LossRecord

DETECTED = "detected"  # the GP test found the minimum in the past
CAP = "cap"  # the warmup reached `max_warmup_fraction` of the budget
# The peak LR is this times the LR the detector chose (the paper: 1.0). At
# 1.0 the LR of the smoothed loss minimum is often too large to train at
# (digits MLP + LAMB: 8 % accuracy, against 98 % at 0.3; README, "Quality
# benchmark").
DEFAULT_PEAK_FACTOR = 0.3
DIVERGED = "diverged"  # a NaN or Inf loss during warmup
RESTORED = "restored"  # a schedule that had already switched (resume)


@dataclasses.dataclass
class Decision:
    """What AutoLR decided (or would decide) for one run.

    Attributes:
        switch_step: int or None. Step at which decay starts; None while
            warming up.
        peak_lr: float or None. LR at which decay starts.
        reason: `"detected"`, `"cap"`, `"diverged"`, `"restored"`, or None
            while warming up.
        tests: list of `TestResult`, in order.
        total_steps: int. The budget.
        warmup_steps: int. The longest warmup allowed (`W`).
    """

    switch_step: Optional[int]
    peak_lr: Optional[float]
    reason: Optional[str]
    tests: List[TestResult]
    total_steps: int
    warmup_steps: int

    @property
    def probabilities(self):
        """Median past-minimum probability of each test."""
        return [t.probability for t in self.tests]


class WarmupController:
    """Records losses, runs tests when due, and decides when warmup ends.

    Example:

    ```python
    schedule = AutoLRSchedule(total_steps=1000)
    controller = WarmupController(schedule, WarmupDetector(), "auto")
    for step, loss in enumerate(losses):
        controller.observe([loss])
    controller.decision.switch_step
    ```

    Args:
        schedule: `AutoLRSchedule` with its budget set; its warmup curve maps
            the posterior argmin to a learning rate.
        detector: `WarmupDetector`.
        check_every: `"auto"`, `"epoch"` or a positive int.
        steps_per_epoch: int or None.
        peak_factor: float in (0, 1]. The peak LR is this times the LR the
            detector chose. Defaults to `DEFAULT_PEAK_FACTOR` (0.3); 1.0
            is the paper's.
    """

    def __init__(self, schedule, detector, check_every, steps_per_epoch=None,
                 peak_factor=DEFAULT_PEAK_FACTOR):
        self.schedule = schedule
        self.peak_factor = _validation.fraction("peak_factor", peak_factor)
        self.detector = detector
        self.cadence = TestCadence(
            check_every, min_lr=schedule.min_lr, max_lr=schedule.max_lr,
            warmup_steps=schedule.warmup_steps, warmup=schedule.warmup,
            steps_per_epoch=steps_per_epoch,
        )
        self.record = LossRecord(schedule.total_steps)
        self.switch_step = None
        self.peak_lr = None
        self.reason = None
        self.next_test = self.cadence.next_due(0)
        # What the GP sees: one point per execution at its mean step. With
        # steps_per_execution > 1 the record repeats an execution's mean at
        # each of its steps; fed as separate points they would count one
        # measurement several times and make the GP overconfident (measured:
        # a false switch at step 20 on digits with steps_per_execution=4).
        self.points = _Points()
        self.ends = []  # steps after which losses arrived (for state files)
        self.observed = []  # False where the steps were skipped, unseen

    def skip(self, n_steps):
        """Records `n_steps` steps whose losses were never seen (no test uses them)."""
        if n_steps > 0:
            self.record.extend(np.full(n_steps, np.nan))
            self.ends.append(self.record.n_steps)
            self.observed.append(False)

    def replay_until(self, losses, ends, observed, step):
        """Feeds a saved record, execution by execution, up to `step`.

        Returns:
            The `TestResult`s of the tests run while replaying.
        """
        results, start = [], self.record.n_steps
        for end, seen in zip(ends, observed):
            end = min(int(end), step)
            if end <= start:
                continue
            if seen:
                result = self.observe(losses[start:end])
                if result is not None:
                    results.append(result)
            else:
                self.skip(end - start)
            start = end
            if start >= step:
                break
        return results

    @property
    def warming_up(self):
        return self.switch_step is None

    def observe(self, losses):
        """Adds the losses of one execution's steps; tests if a test is due.

        Warmup ends when `patience` tests in a row are positive (`"detected"`),
        when the warmup cap `W` is reached (`"cap"`), or at once when a loss
        is NaN or Inf (`"diverged"`). At the cap, a last test on the finite
        record picks the peak LR (the GP's best LR); on divergence, the last
        regular test's choice is kept when one exists. Without either, the LR
        of the last finite step is used.

        Returns:
            The `TestResult` of a test run now, else None.
        """
        losses = np.asarray(losses, np.float64).reshape(-1)
        first = self.record.n_steps
        self.record.extend(losses)
        step = self.record.n_steps
        if len(losses) and np.all(np.isfinite(losses)):
            # One point per execution: its steps share one measured mean.
            self.points.add(first + (len(losses) - 1) / 2.0, float(np.mean(losses)))
        self.ends.append(step)
        self.observed.append(True)
        if not self.warming_up:
            return None
        bad = np.flatnonzero(~np.isfinite(losses))
        if len(bad):
            return self._final_test(first + int(bad[0]), step, DIVERGED)
        cap = self.schedule.warmup_steps
        if step >= cap:
            # At the host's step (the cap, or the end of the execution that
            # crossed it): the steps before it ran at the LR of the cap.
            return self._final_test(step, step, CAP)
        if step < self.next_test:
            return None
        self.next_test = self.cadence.next_due(step)
        result = self._test(step)
        if result is not None and self.detector.should_switch:
            self._end_warmup(step, result.peak_lr, DETECTED)
        return result

    def _test(self, step):
        return self.detector.test(
            self.points.x, self.points.y, step,
            self.schedule.warmup_lr,
        )

    def _final_test(self, last_good, switch_at, reason):
        """Ends warmup at `switch_at`, decaying from the GP's best LR so far.

        On divergence, the losses just before the NaN are often huge
        outliers that flatten the standardized curve and move its argmin
        anywhere; the last regular test, taken before them, chose better
        (measured: Adam diverging on digits, 66-84 % with it against 11-68 %
        with a test that includes the blow-up). Its choice is kept when it
        exists.
        """
        previous = [r for r in self.detector.results if r.peak_lr is not None]
        result = self._test(self.record.n_steps)
        chosen = result.peak_lr if result is not None else None
        if reason == DIVERGED and previous:
            chosen = previous[-1].peak_lr
        if chosen is None or not math.isfinite(chosen):
            chosen = float(self.schedule.warmup_lr(max(last_good - 1, 0)))
        self._end_warmup(switch_at, chosen, reason)
        return result

    def _end_warmup(self, step, chosen_lr, reason):
        """Switches at `step` from `peak_factor` times the chosen LR.

        The peak never exceeds the LR at the switch: decay starts at or
        below where warmup stopped.
        """
        lr_now = float(self.schedule.warmup_lr(min(step, self.schedule.warmup_steps)))
        peak = chosen_lr
        if peak is None or not math.isfinite(peak) or peak <= 0:
            peak = lr_now
        peak = self.peak_factor * min(peak, lr_now)
        self.switch_step, self.peak_lr, self.reason = int(step), float(peak), reason

    def restore_switch(self, step, peak_lr):
        """Marks warmup as over, as a restored schedule already decided."""
        self.switch_step, self.peak_lr, self.reason = int(step), float(peak_lr), RESTORED

    @property
    def decision(self):
        return Decision(
            switch_step=self.switch_step,
            peak_lr=self.peak_lr,
            reason=self.reason,
            tests=list(self.detector.results),
            total_steps=self.schedule.total_steps,
            warmup_steps=self.schedule.warmup_steps,
        )



class _Points:
    """(step, loss) points the GP sees, one per execution."""

    def __init__(self):
        self._x = GrowingArray()
        self._y = GrowingArray()

    def add(self, x, y):
        self._x.extend([x])
        self._y.extend([y])

    @property
    def x(self):
        return self._x.values

    @property
    def y(self):
        return self._y.values
