"""`WarmupController`: the loop that turns a loss record into one decision.

The `AutoLR` callback (live) and `replay` (offline) both drive this one
class, execution by execution, so they take the same decision on the same
losses by construction.
"""

import dataclasses
import math
from typing import List, Optional

from keras_autolr.cadence import TestCadence
from keras_autolr.detector import TestResult
from keras_autolr.detector import WarmupDetector
from keras_autolr.loss_record import LossRecord

DETECTED = "detected"  # the GP test found the minimum in the past
CAP = "cap"  # the warmup reached `max_warmup_fraction` of the budget


@dataclasses.dataclass
class Decision:
    """What AutoLR decided (or would decide) for one run.

    Attributes:
        switch_step: int or None. Step at which decay starts; None while
            warming up.
        peak_lr: float or None. LR at which decay starts.
        reason: `"detected"`, `"cap"`, or None while warming up.
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
    """

    def __init__(self, schedule, detector, check_every, steps_per_epoch=None):
        self.schedule = schedule
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

    @property
    def warming_up(self):
        return self.switch_step is None

    def observe(self, losses):
        """Adds the losses of one execution's steps; tests if a test is due.

        Returns:
            The `TestResult` of a test run now, else None.
        """
        self.record.extend(losses)
        step = self.record.n_steps
        if not self.warming_up:
            return None
        cap = self.schedule.warmup_steps
        if step >= cap:
            self._end_warmup(cap, float(self.schedule.warmup_lr(cap)), CAP)
            return None
        if step < self.next_test:
            return None
        self.next_test = self.cadence.next_due(step)
        result = self.detector.test(
            self.record.finite_steps, self.record.finite_losses, step,
            self.schedule.warmup_lr,
        )
        if result is not None and self.detector.should_switch:
            lr_now = float(self.schedule.warmup_lr(step))
            self._end_warmup(step, min(result.peak_lr, lr_now), DETECTED)
        return result

    def _end_warmup(self, step, peak_lr, reason):
        if not math.isfinite(peak_lr) or peak_lr <= 0:
            peak_lr = float(self.schedule.warmup_lr(step))
        self.switch_step, self.peak_lr, self.reason = int(step), peak_lr, reason

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
