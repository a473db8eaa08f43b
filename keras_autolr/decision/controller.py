"""`WarmupController`: the loop that turns a loss record into one decision.

The `AutoLR` callback (live) and `replay` (offline) both drive this one
class, execution by execution, so they take the same decision on the same
losses by construction.
"""

import bisect
import dataclasses
import math
from typing import List, Optional

import numpy as np

from keras_autolr.decision import detector as detector_lib
from keras_autolr.decision.cadence import GROWTH
from keras_autolr.decision.cadence import TestCadence
from keras_autolr.decision.detector import TestResult
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr.decision.loss_record import GrowingArray
from keras_autolr.decision.loss_record import LossRecord
from keras_autolr.decision.options import DEFAULT_PEAK_FACTOR  # noqa: F401 (re-exported)
from keras_autolr.decision.options import Options

DETECTED = "detected"  # the GP test found the minimum in the past
CAP = "cap"  # the warmup reached `max_warmup_fraction` of the budget
DIVERGED = "diverged"  # non-finite losses the LR caused, during warmup
RESTORED = "restored"  # a schedule that had already switched (resume)
SHORT_BUDGET = "short_budget"  # too few steps for a sweep: the optimizer's own LR

# Snapshots (host copies of weights + optimizer state) for the rewind and for
# faults. One per doubling of the warmup LR, never closer than
# 1/SNAPSHOT_SPACING_DIVISOR of the budget, and DECAY_SNAPSHOTS spread over
# the decay; at most SNAPSHOT_SLOTS held at once (host memory: 2 copies).
SNAPSHOT_GROWTH = 2.0
SNAPSHOT_SLOTS = 2
SNAPSHOT_SPACING_DIVISOR = 64
DECAY_SNAPSHOTS = 8
# A copy is damaged when the median of the DAMAGE_WINDOW losses before it lies
# above every loss of the record's start: a blow-up had made the weights worse
# than where training began. The copies kept and the rewind pass over it.
DAMAGE_WINDOW = 5
# A non-finite loss during warmup ends it as diverged only when the LR is the
# likely cause: another one came while the LR grew less than FAULT_RECUR_GROWTH,
# or the LR is FAULT_PAST_BEST times past the detector's current best LR.
# Otherwise (a bad batch) the newest snapshot is restored and warmup goes on.
FAULT_RECUR_GROWTH = 4.0
FAULT_PAST_BEST = 4.0
# A huge loss lies more than HUGE_LOSS_DEPTHS times the descent's depth (the
# highest loss of the record's start minus the record's lowest loss) above
# the start's highest loss. A best LR past the sweep's LR at the first one
# was read from losses recorded after it, by weights it may have broken; at
# a detection or the cap it gives way to one at or below that LR
# (`_below_huge_loss`). At the detections of the optimizers benchmark the
# highest loss mostly lies under 1 depth above the start's (a few at 2 to 13,
# mean-squared-error blow-ups at thousands); a broken network's blow-up, 146.
HUGE_LOSS_DEPTHS = 10.0
# In the decay, an execution's loss more than DECAY_BLOWUP_DEPTHS descent
# depths (as at the switch) above the start's highest loss, the height of a
# huge loss, when most of the newest DAMAGE_WINDOW executions since the
# switch lie above that height too, is a blow-up the decay's LR caused: the
# newest sound snapshot is put back and the decay's peak LR is multiplied by
# DECAY_BACKOFF, at most the optimizer's own LR (`_back_off`).
DECAY_BLOWUP_DEPTHS = HUGE_LOSS_DEPTHS
DECAY_BACKOFF = 0.25


def lowered_peak(action):
    """`(old, new)` decay peaks of a `Decision.faults` action that a blow-up
    in the decay recorded (`"... peak <a> -> <b>"`, `_back_off`), else None."""
    if "peak " not in action:
        return None
    old, new = action.split("peak ")[1].split(" -> ")
    return float(old), float(new)


def restored_copy(action):
    """The step of the copy a `Decision.faults` action put back
    (`"restored <step>"`, `"restored <step>, peak ..."`), else None."""
    if not action.startswith("restored "):
        return None
    return int(action.split()[1].rstrip(","))


@dataclasses.dataclass
class Decision:
    """What AutoLR decided (or would decide) for one run.

    Attributes:
        switch_step: int or None. Step at which decay starts; None while
            warming up.
        peak_lr: float or None. LR at which decay starts.
        reason: `"detected"`, `"cap"`, `"diverged"`, `"short_budget"`,
            `"restored"`, or None while warming up.
        tests: list of `TestResult`, in order.
        total_steps: int. The budget.
        warmup_steps: int. The longest warmup allowed (`W`).
        restored_step: int or None. The rewind: the step whose weights and
            optimizer state were put back at the switch (None: no rewind).
        faults: list of `(step, action)`: each non-finite loss and what was
            done, `"restored <step>"` (a snapshot put back, training goes on),
            `"diverged"` (warmup ended) or `"none"` (no snapshot to restore);
            and each blow-up in the decay, `"restored <step>, peak <a> ->
            <b>"` (the decay's peak LR lowered; without a snapshot to put
            back, `"peak <a> -> <b>"`).
    """

    switch_step: Optional[int]
    peak_lr: Optional[float]
    reason: Optional[str]
    tests: List[TestResult]
    total_steps: int
    warmup_steps: int
    restored_step: Optional[int] = None
    faults: List[tuple] = dataclasses.field(default_factory=list)

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
        detector: `WarmupDetector`, or `Options` to build one from.
        check_every: `"auto"`, `"epoch"`, a positive int, or None
            (default): the options' `check_every`.
        steps_per_epoch: int or None.
        peak_factor: float in (0, 1], or None (default): the options'
            `peak_factor` (see `Options`).
        rewind: bool or None (default: the options' `rewind`). At the
            switch, put back the snapshot taken before the LR of the
            smoothed minimum.
        restore_on_fault: bool or None (default: the options'
            `restore_on_fault`). After a non-finite loss, put back the
            newest snapshot and go on.
        sweep: bool. False: no tests (a short budget trained at the
            optimizer's own LR, the schedule set up for it); warmup ends at
            its cap with reason `"short_budget"`. Defaults to True.
        cap_peak: `"gp"`, `"reached"` or None (default: the options'
            `cap_peak`). At the warmup cap, decay from a last test's best
            LR, or from the LR reached (the reference's; no test).
        min_peak: float or None. The peak LR is never below this (the
            optimizer's own LR: AutoLR never decays from less than what the
            user had). Defaults to None.

    After each `observe`, `pop_actions()` gives what the face must do to the
    model: `("snapshot", step, keep)` and `("restore", step)`. `replay` only
    records them; they depend on steps and losses alone, so every worker
    and every replay plans the same ones.
    """

    def __init__(self, schedule, detector, check_every=None, steps_per_epoch=None,
                 peak_factor=None, rewind=None, restore_on_fault=None,
                 sweep=True, min_peak=None, cap_peak=None):
        if isinstance(detector, Options):
            detector = WarmupDetector(detector)
        # Arguments given here override the options (validated with them).
        overrides = dict(check_every=check_every, peak_factor=peak_factor,
                         rewind=rewind, restore_on_fault=restore_on_fault,
                         cap_peak=cap_peak)
        options = detector.options.replace(
            **{k: v for k, v in overrides.items() if v is not None})
        self.options = options
        self.schedule = schedule
        self.peak_factor = options.peak_factor
        self.rewind = options.rewind
        self.restore_on_fault = options.restore_on_fault
        self.sweep = sweep
        self.min_peak = min_peak
        self.cap_peak = options.cap_peak
        check_every = options.check_every
        self.detector = detector
        self.cadence = TestCadence(
            check_every, min_lr=schedule.min_lr, max_lr=schedule.max_lr,
            warmup_steps=schedule.warmup_steps, warmup=schedule.warmup,
            steps_per_epoch=steps_per_epoch,
        )
        self.record = LossRecord(schedule.total_steps)
        self.switch_step = None
        self.peak_lr = None
        # The LR the schedule's decay starts from: `peak_lr`, until a
        # blow-up in the decay lowers it (`_back_off`).
        self.decay_peak_lr = None
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
        self.restored_step = None
        # The newest chosen LR (before `peak_factor`) of a test that located
        # a minimum (`_located_nothing`): where the rewind would go now. Agreed
        # across workers with the decision.
        self.best_lr = None
        self.faults = []  # (step, action)
        self.snapshot_steps = []  # steps of the snapshots held (planned)
        self._actions = []
        # In the decay, a loss above this is a blow-up (`_back_off`); set at
        # the switch, infinite before it and where the guard is off.
        self.decay_ceiling = math.inf
        self._guard_start = 0
        total = schedule.total_steps
        self._min_spacing = max(1, total // SNAPSHOT_SPACING_DIVISOR)

    @property
    def uses_snapshots(self):
        return self.rewind or self.restore_on_fault

    def pop_actions(self):
        """What to do to the model now: `("snapshot", step, keep)`, `("restore", step)`."""
        actions, self._actions = self._actions, []
        return actions

    def drop_snapshot(self, step):
        """The snapshot planned at `step` could not be kept (non-finite weights)."""
        self.snapshot_steps = [s for s in self.snapshot_steps if s != step]

    def forget_snapshots(self):
        """The snapshots were lost (a new process): plan from none."""
        self.snapshot_steps = []
        self._actions = []

    def plan_snapshot(self):
        """Plans a snapshot at the current step if one is due."""
        if not self.uses_snapshots:
            return
        step = self.record.n_steps
        held = self.snapshot_steps
        due = self._snapshot_due(step)
        if due:
            keep = self._copies_on_path()[-(SNAPSHOT_SLOTS - 1):]
            if self.warming_up and self.best_lr is not None and held:
                # Keep the copy the rewind would put back at the detector's
                # current best LR (`_copy_for`), else the oldest: once the
                # loss turns up, the copy from before the minimum stays while
                # newer ones come and go.
                kept = self._copy_for(self.best_lr)
                keep = [held[0] if kept is None else kept][-(SNAPSHOT_SLOTS - 1):]
            self.snapshot_steps = keep + [step]
            self._actions.append(("snapshot", step, tuple(keep)))

    def skip(self, n_steps):
        """Records `n_steps` steps whose losses were never seen (no test uses them)."""
        if n_steps > 0:
            self.record.extend(np.full(n_steps, np.nan))
            self.ends.append(self.record.n_steps)
            self.observed.append(False)

    def replay_until(self, losses, ends, observed, step):
        """Feeds a saved record, execution by execution, up to `step`."""
        start = self.record.n_steps
        run = []  # ends of consecutive seen executions, fed as one batch
        for end, seen in zip(ends, observed):
            end = min(int(end), step)
            if end <= start:
                continue
            if seen:
                run.append(end)
            else:
                self._observe_run(losses, run)
                run = []
                self.skip(end - start)
            start = end
            if start >= step:
                break
        self._observe_run(losses, run)

    def _observe_run(self, losses, ends):
        if ends:
            first = self.record.n_steps
            self.observe_executions(losses[first:ends[-1]], ends)

    def observe_executions(self, losses, ends, stop_at_switch=False):
        """Adds several executions' losses at once: `observe` on each in turn.

        Gives the same state, bit for bit, as calling `observe` once per
        execution, but only the executions where something can happen (a
        test or the cap is due, a non-finite loss, a snapshot is due) go
        through `observe`; the ones in between are appended as whole arrays
        (replay of 1e6 steps: about 50 us of Python per step saved).

        Args:
            losses: 1-D array, the loss of each step from the current step
                (`record.n_steps`) to `ends[-1]`.
            ends: increasing ints, the step after which each execution ends.
            stop_at_switch: bool. Stop after the execution that ends warmup.

        Returns:
            The `TestResult`s of the tests run, in order.
        """
        losses = np.asarray(losses, np.float64).reshape(-1)
        ends = np.asarray(ends, np.int64).reshape(-1)
        base = self.record.n_steps
        starts = np.concatenate([[base], ends[:-1]])
        # Executions with a non-finite loss, or no step, are events.
        bad = np.concatenate([[0], np.cumsum(~np.isfinite(losses))])
        event = (bad[ends - base] > bad[starts - base]) | (ends <= starts)
        events = np.flatnonzero(event)
        results = []
        i, n = 0, len(ends)
        while i < n:
            if stop_at_switch and not self.warming_up:
                break
            j = self._quiet_until(ends, i, events, losses, base, starts)
            if j > i:
                self._append_quiet(losses[starts[i] - base:ends[j - 1] - base],
                                   starts[i:j], ends[i:j])
                i = j
            if i < n:
                result = self.observe(losses[starts[i] - base:ends[i] - base])
                if result is not None:
                    results.append(result)
                i += 1
        return results

    def _quiet_until(self, ends, i, events, losses, base, starts):
        """The first execution from `i` on where `observe` may act, else len(ends)."""
        k = int(events[np.searchsorted(events, i)]) if (
            len(events) and events[-1] >= i) else len(ends)
        if self.warming_up:
            k = min(k, i + int(np.searchsorted(ends[i:], self._decision_due())))
        elif k > i and self.decay_ceiling < math.inf:
            k = self._first_above_ceiling(losses, base, starts, ends, i, k)
        if self.uses_snapshots and k > i:
            k = min(k, self._first_snapshot_due(ends, i, k))
        return k

    def _first_above_ceiling(self, losses, base, starts, ends, i, k):
        """The first of executions `i..k-1` whose mean loss may lie above
        `decay_ceiling` (`observe` then decides exactly), else k."""
        segment = losses[starts[i] - base:ends[k - 1] - base]
        sums = np.concatenate([[0.0], np.cumsum(segment)])
        begin, end = starts[i:k] - starts[i], ends[i:k] - starts[i]
        means = (sums[end] - sums[begin]) / np.maximum(end - begin, 1)
        # A margin: a mean summed otherwise than `np.mean` is never missed.
        above = np.flatnonzero(means > self.decay_ceiling - 1e-9 * abs(self.decay_ceiling))
        return i + int(above[0]) if len(above) else k

    def quiet_until(self):
        """The first step at which an execution may end with more than a record.

        An execution with finite losses that ends before it only grows the
        record (`observe_mean`'s fast path): no test, cap or snapshot is
        due. The callback counts such executions on the host and reads the
        optimizer and the loss tracker only from here on (batch_counter.py).
        Whether a snapshot is due grows with the step, so the first one is
        found by bisection, with the very test `observe_mean` makes.
        """
        first = self.record.n_steps + 1
        end = self.schedule.total_steps
        if self.warming_up:
            end = min(end, self._decision_due())
        if self.uses_snapshots and end > first:
            lo, hi = first, end
            while lo < hi:
                mid = (lo + hi) // 2
                if self._snapshot_due(mid):
                    hi = mid
                else:
                    lo = mid + 1
            end = lo
        return max(end, first)

    def _decision_due(self):
        """In warmup: the first step at which `_decide` may act (a test, the cap)."""
        due = self.schedule.warmup_steps
        return min(due, self.next_test) if self.sweep else due

    def _first_snapshot_due(self, ends, i, k):
        """The first of `ends[i:k]` at which `plan_snapshot` takes one, else k.

        Whether one is due grows with the step (the LR only grows in
        warmup; in decay, the steps since the last copy), so it is found by
        bisection, with the very test `plan_snapshot` makes.
        """
        lo, hi = i, k
        while lo < hi:
            mid = (lo + hi) // 2
            if self._snapshot_due(int(ends[mid]), within_budget=False):
                hi = mid
            else:
                lo = mid + 1
        if lo < k and ends[lo] >= self.schedule.total_steps:
            return k  # none is taken at or past the end of the budget
        return lo

    def _snapshot_due(self, step, within_budget=True):
        """Whether `plan_snapshot` takes a copy at `step` (the held ones as now)."""
        if within_budget and step >= self.schedule.total_steps:
            return False
        held = self.snapshot_steps
        if not held:
            return True
        if step - held[-1] < self._min_spacing:
            return False
        if self.warming_up:
            lr = self.schedule.warmup_lr
            return float(lr(step)) >= SNAPSHOT_GROWTH * float(lr(held[-1]))
        decay = max(1, self.schedule.total_steps - self.switch_step)
        spacing = max(self._min_spacing, -(-decay // DECAY_SNAPSHOTS))
        return step - max(held[-1], self.switch_step) >= spacing

    def _append_quiet(self, losses, starts, ends):
        """Executions where nothing happens: record, GP points, ends."""
        self.record.extend(losses)
        lengths = ends - starts
        x = starts + (lengths - 1) / 2.0
        if np.all(lengths == 1):
            y = (losses + 0.0) / 1.0  # np.mean of one value (-0.0 gives 0.0)
        else:
            offsets = starts - starts[0]
            y = np.array([float(np.mean(losses[o:o + m]))
                          for o, m in zip(offsets, lengths)])
        self.points.extend(x, y)
        self.ends.extend(ends.tolist())
        self.observed.extend([True] * len(ends))

    @property
    def warming_up(self):
        return self.switch_step is None

    def observe_mean(self, loss, steps=1):
        """`observe(np.full(steps, loss))`: one execution's mean loss, fast.

        What the callback and `WarmupDriver` know of an execution is the
        mean loss of its steps. When nothing can happen at its end (no test
        or cap due, a finite loss, no snapshot due) the record grows without
        NumPy calls (about 3 us instead of 15 us per execution); otherwise
        this is `observe`. The state is the same, bit for bit.

        Returns:
            The `TestResult` of a test run now, else None.
        """
        loss = float(loss)
        first = self.record.n_steps
        step = first + steps
        if (steps < 1 or not math.isfinite(loss) or loss > self.decay_ceiling
                or (self.warming_up and step >= self._decision_due())
                or (self.uses_snapshots and self._snapshot_due(step))):
            return self.observe(np.full(steps, loss))
        if steps == 1:
            self.record.append(loss)
            mean = loss + 0.0  # np.mean of one value (-0.0 gives 0.0)
        else:
            losses = np.full(steps, loss)
            self.record.extend(losses)
            mean = float(np.mean(losses))
        self.points.add(first + (steps - 1) / 2.0, mean)
        self.ends.append(step)
        self.observed.append(True)
        return None

    def observe(self, losses):
        """Adds the losses of one execution's steps; tests if a test is due.

        Warmup ends when `patience` tests in a row are positive (`"detected"`),
        when the warmup cap `W` is reached (`"cap"`), or when non-finite
        losses show that the LR is too large (`"diverged"`, see
        `FAULT_RECUR_GROWTH` and `FAULT_PAST_BEST`); any other non-finite
        loss restores the newest snapshot and training goes on. At the cap,
        a last test on the finite record picks the peak LR (the GP's best
        LR), unless it located no minimum past a blow-up, when the newest
        test that did decides; on divergence, the last regular test's choice
        is kept when one exists. Without either, the LR of the last finite
        step is used. At the switch, the rewind restores the snapshot taken
        before the chosen LR.

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
        result = self._decide(losses, first, step)
        self.plan_snapshot()
        return result

    def _decide(self, losses, first, step):
        bad = np.flatnonzero(~np.isfinite(losses))
        if not self.warming_up:
            if len(bad):
                self._decay_fault(first + int(bad[0]))
            elif (len(losses) and float(np.mean(losses)) > self.decay_ceiling
                  and self._blown_up()):
                self._back_off(first)
            return None
        if len(bad):
            fault = first + int(bad[0])
            if self.sweep and self._diverging(fault):
                self.faults.append((fault, DIVERGED))
                return self._final_test(fault, step, DIVERGED)
            self._fault(fault)
            if step < self.schedule.warmup_steps:
                return None
        cap = self.schedule.warmup_steps
        if step >= cap:
            if not self.sweep:
                self._end_warmup(step, self.schedule.max_lr, SHORT_BUDGET)
                return None
            # At the host's step (the cap, or the end of the execution that
            # crossed it): the steps before it ran at the LR of the cap.
            if self.cap_peak == "reached":
                self._end_warmup(step, float(self.schedule.warmup_lr(cap - 1)), CAP)
                return None
            return self._final_test(step, step, CAP)
        if not self.sweep or step < self.next_test:
            return None
        self.next_test = self.cadence.next_due(step)
        result = self._test(step)
        if not self._located_nothing(result):
            self.best_lr = float(result.peak_lr)
        if result is not None and self.detector.should_switch:
            self._end_warmup(step, self._below_huge_loss(result.peak_lr), DETECTED)
        return result

    def _below_huge_loss(self, chosen):
        """`chosen`, or, when it lies past the sweep's LR at the first huge
        loss (`HUGE_LOSS_DEPTHS`), the newest test's best LR at or below that
        LR (with none, the best LR of the newest test taken before the huge
        loss; with none either, `chosen`).

        A blow-up can break the weights (a network left predicting the
        mean) and leave the losses after it flat and noisy; a test then reads
        a minimum anywhere past it. Boston housing with Adam (520 steps, seed
        1): a blow-up 146 depths high at step 211, then the cap's test read a
        minimum at 0.81; the decay from 0.32 ended at R^2 -0.6 against 86.6
        without AutoLR. A best LR below the huge loss's LR was recorded
        before it, so a later test may still read it. With
        `gp="reference"` (`PAPER`) the choice is kept.
        """
        if chosen is None or self.options.gp == "reference":  # the authors' rule
            return chosen
        onset = self._blowup_onset(HUGE_LOSS_DEPTHS)
        if onset is None:
            return chosen
        ceiling = float(self.schedule.warmup_lr(onset))
        if chosen <= ceiling:
            return chosen
        tests = [r for r in self.detector.results if r.peak_lr is not None]
        below = [r.peak_lr for r in tests if r.peak_lr <= ceiling]
        before = [r.peak_lr for r in tests if r.step <= onset]
        return (below or before or [chosen])[-1]

    def _before_blowup(self, chosen):
        """On divergence: `chosen`, or the best LR of the newest regular test
        taken before the blow-up's onset (`_blowup_onset`), when the record
        has one.

        A test that saw a loss above every loss of the record's start reads
        a curve that loss flattened (see `_final_test`). With
        `gp="reference"` (`PAPER`) the last test's choice is kept, as
        before this rule.

        Not applied to a detection: a loss above the start's is often one
        noisy step there: on the optimizers benchmark the rule changed the
        peak of 9 of the first 59 runs (0.29x to 2.8x), a policy change to
        study, not a guard. A detection after one loss of 428 among losses
        of 0.2-0.5 (a log-link Poisson loss, its log rate tripled, Adam,
        digits, seed 0) decays from 0.061, 5x past the minimum's LR, blows
        up, and ends at 10.8 % against 96.0 % without AutoLR
        (docs/reliability.md).
        """
        if self.options.gp == "reference":  # the authors' rule
            return chosen
        onset = self._blowup_onset()
        if onset is None:
            return chosen
        before = [r for r in self.detector.results
                  if r.peak_lr is not None and r.step <= onset]
        return before[-1].peak_lr if before else chosen

    def _diverging(self, fault):
        """True when a non-finite loss at step `fault` is the LR's doing."""
        lr = float(self.schedule.warmup_lr(fault))
        for earlier, _ in self.faults:
            if FAULT_RECUR_GROWTH * float(self.schedule.warmup_lr(earlier)) >= lr:
                return True
        return self.best_lr is not None and lr >= FAULT_PAST_BEST * self.best_lr

    def _copies_on_path(self):
        """The held snapshots of the weights this run went on training.

        The rewind put back the copy of `restored_step` at the switch: the
        copies taken after it and before the switch hold the overshoot it
        undid, and are never put back or kept in the decay.
        """
        held = self.snapshot_steps
        rewound, switch = self.restored_step, self.switch_step
        if rewound is None or switch is None:
            return list(held)
        return [s for s in held if not rewound < s < switch]

    def _fault(self, fault):
        """A non-finite loss that does not end warmup: restore the newest
        snapshot of the weights trained on (`_copies_on_path`).

        Returns:
            True when a snapshot is to be put back.
        """
        path = self._copies_on_path()
        if self.restore_on_fault and path:
            target = path[-1]
            self._actions.append(("restore", target))
            self.faults.append((fault, f"restored {target}"))
            return True
        self.faults.append((fault, "none"))
        return False

    def _decay_fault(self, fault):
        """A non-finite loss at step `fault`, after the switch.

        When the newest finite execution the guard counts lay above
        `decay_ceiling`, it ends a blow-up the decay's LR caused
        (`_back_off`): a copy from before the blow-up goes back and the
        peak is lowered, where `_fault` would put back the newest copy,
        which the climb may have reached. Otherwise it is `_fault`, and the
        guard counts anew from the copy it put back.
        """
        newest = self.points.y[self._guard_start:]
        if len(newest) and newest[-1] > self.decay_ceiling:
            self._back_off(fault)
            return
        if self._fault(fault):
            self._guard_start = len(self.points.y)

    def _blown_up(self):
        """Whether most of the newest `DAMAGE_WINDOW` executions since the
        switch (or the last copy put back) lie above `decay_ceiling`: weights
        a blow-up damaged, not one noisy batch (autompg, RMSprop, batch 8:
        one loss 10.1 depths high two steps after the switch, the others
        normal; putting back the rewind's copy cost 0.7 points,
        benchmarks/optimizers.py). Losses of the sweep, or from before the
        last copy was put back, do not count."""
        newest = self.points.y[self._guard_start:][-DAMAGE_WINDOW:]
        return int(np.sum(newest > self.decay_ceiling)) > DAMAGE_WINDOW // 2

    def _back_off(self, at):
        """A blow-up in the decay (`_blown_up`), at step `at`: the decay's
        LR caused it.

        The newest snapshot of the weights trained on that a blow-up had
        not damaged, taken before the blow-up's first execution above the
        ceiling (`_sound_copy`, `_decay_blowup_start`), is put back, and the
        decay's peak LR is multiplied by `DECAY_BACKOFF`, and is at most the
        optimizer's own LR (`min_peak`): the rest of the decay runs from
        what the user had without AutoLR, or lower (`decay_peak_lr`;
        `peak_lr` stays the switch's decision). Without a copy to put
        back, the guard acts once.

        A detection after one loss of 428 among losses of 0.2-0.5 (a
        log-link Poisson loss, its log rate tripled, Adam, digits, seed 0,
        TensorFlow) decayed from 0.061; 13 steps later the loss was 21
        descent depths above the start's highest, then 8e3 and 4e8 (3 of
        the newest 5 above the ceiling), and the network stayed broken:
        10.8 % against 96.0 % without AutoLR (docs/reliability.md); 97.7 %
        with the guard.
        """
        old = self.decay_peak_lr
        lowered = old * DECAY_BACKOFF
        if self.min_peak is not None:
            lowered = min(lowered, self.min_peak)
        self.decay_peak_lr = float(lowered)
        onset = self._decay_blowup_start()
        self._guard_start = len(self.points.y)
        action = f"peak {old:.6g} -> {lowered:.6g}"
        target = self._sound_copy(before=onset) if self.restore_on_fault else None
        if target is not None:
            self._actions.append(("restore", target))
            action = f"restored {target}, {action}"
        else:
            # No copy to put back (`WarmupDriver`, whose loop owns the
            # weights, or none sound): a lower LR does not undo the damage,
            # and backing off again would drive the LR to 0 while the loss
            # stays high (a 2-worker custom loop decayed from weights the
            # sweep broke: 12 back-offs in 36 steps, peak 0.045 -> 3e-9).
            self.decay_ceiling = math.inf
        self.faults.append((at, action))

    def _sound_copy(self, before):
        """The newest held snapshot of the weights trained on
        (`_copies_on_path`), taken before step `before`, that a blow-up had
        not damaged, else None."""
        sound = [s for s in self._copies_on_path()
                 if s < before and not self._damaged(s)]
        return sound[-1] if sound else None

    def _decay_blowup_start(self):
        """The first step of the oldest execution above `decay_ceiling`
        among those `_blown_up` counted.

        That step's loss was computed with the weights of the copy taken at
        it, so that copy, and any later one, may hold weights the blow-up
        had reached: a copy due two steps into a blow-up (2 of the 5 losses
        before it high, so not `_damaged`) was put back
        (tests/test_distributed_multi_worker.py).
        """
        x = self.points.x[self._guard_start:][-DAMAGE_WINDOW:]
        y = self.points.y[self._guard_start:][-DAMAGE_WINDOW:]
        oldest = float(x[np.flatnonzero(y > self.decay_ceiling)[0]])
        index = bisect.bisect_right(self.ends, oldest)  # its execution's end
        return self.ends[index - 1] if index else 0

    def plan_decay_guard(self):
        """At the switch: the height above which a loss in the decay is a
        blow-up (`DECAY_BLOWUP_DEPTHS` descent depths above the start's
        highest loss), `decay_ceiling`; the decay starts from `peak_lr`
        (`decay_peak_lr`). Off under `gp="reference"` (`PAPER`) and with a
        short budget (the optimizer's own LR, untouched). Call it again
        after the decision is replaced by the chief's (distributed.py)."""
        y = self.points.y
        self.decay_peak_lr = self.peak_lr
        self._guard_start = len(y)  # the losses the guard counts start here
        self.decay_ceiling = math.inf
        if (self.options.gp == "reference" or self.reason == SHORT_BUDGET
                or len(y) == 0):
            return
        top = _start_top(y)  # the points are finite
        depth = top - float(np.min(y))
        if depth > 0:
            self.decay_ceiling = top + DECAY_BLOWUP_DEPTHS * depth

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
        exists; a regular test whose record already held the blow-up's
        first losses (`_blowup_onset`) is passed over for the one before it
        (a log-link Poisson loss with Adam on the digits, PyTorch, seed 2:
        the test 12 steps before the NaN saw two losses above the start and
        read 0.156; the decay from 0.4 x 0.156 blew up again and the run
        ended at 10.6 %). At the cap, the same happens without a NaN: when
        the last test located no minimum (`_located_nothing`), the newest
        minimum a test located is kept.
        """
        previous = [r for r in self.detector.results if r.peak_lr is not None]
        located = self.best_lr  # the newest minimum a test located
        result = self._test(self.record.n_steps)
        chosen = result.peak_lr if result is not None else None
        if reason == DIVERGED and previous:
            chosen = self._before_blowup(previous[-1].peak_lr)
        elif reason == CAP and located is not None and self._located_nothing(result):
            chosen = located
        if chosen is None or not math.isfinite(chosen):
            chosen = float(self.schedule.warmup_lr(max(last_good - 1, 0)))
        if reason == CAP:
            chosen = self._below_huge_loss(chosen)
        if reason == DIVERGED:
            chosen = min(chosen, float(self.schedule.warmup_lr(max(last_good - 1, 0))))
        self._end_warmup(switch_at, chosen, reason)
        return result

    def _blowup_onset(self, depths=0.0):
        """The step of the first recorded loss above every loss of the
        record's start (`detector.start_head`), or None; with `depths`,
        more than that many descent depths above it (the start's highest
        loss minus the record's lowest).

        A diverging sweep's losses climb past where training began before
        they turn non-finite; a test that saw them reads a flattened curve.
        """
        x, y = self.points.x, self.points.y
        if len(y) == 0:
            return None
        top = _start_top(y)
        margin = depths * max(top - float(np.min(y)), 1e-12) if depths else 0.0
        above = np.flatnonzero(y - top > margin)
        return int(x[above[0]]) if len(above) else None

    def _located_nothing(self, result):
        """Whether a test located no minimum: no finite best LR, or a best LR
        at the sweep's newest end (within the `GROWTH` between two tests)
        while the newest loss lies above the median of the record's start.

        A blow-up's huge losses flatten the test's curve and move its argmin
        anywhere, up to the end of the sweep; taken as a minimum, it dropped
        the rewind's copy from before the real one and decayed from the LR
        of the blow-up (keras.io's "built-in methods" guide with
        `steps_per_epoch=15`, RMSprop: 10 % against 83 % without AutoLR,
        benchmarks/user_scripts.py). A loss that still falls at the end (a
        plateau's escape, or a sweep that ends below the minimum) is not a
        blow-up: its tests count.

        The argmin can also land inside the blow-up, before its end: a best
        LR at a step whose weights the blow-up had already damaged
        (`_damaged`) locates nothing either. RMSprop with momentum 0.9 on
        the digits: the cap's last test read 0.106, inside the blow-up,
        where the tests before it had read 0.006 to 0.015, and the run ended
        at 36 % against 92 % without AutoLR, and at 84 % with this rule
        (benchmarks/optimizers.py `--set momentum`, `damagedmin`; on the
        three sets, run beside the rule before, it changed no cell's mean by
        more than 0.3 points).
        """
        if result is None or result.peak_lr is None or not math.isfinite(result.peak_lr):
            return True
        newest = float(self.schedule.warmup_lr(max(self.record.n_steps - 1, 0)))
        y = self.points.y
        if (result.peak_lr * GROWTH >= newest and len(y) > 0
                and float(y[-1]) > float(np.median(detector_lib.start_head(y)))):
            return True
        at = self._step_at_lr(result.peak_lr)
        return at is not None and self._damaged(at)

    def _step_at_lr(self, lr_value):
        """The first recorded step whose warmup LR reaches `lr_value`, or None.

        The warmup LR grows with the step, so a bisection over the record's
        steps finds it in O(log n) calls of the schedule.
        """
        x = self.points.x  # ascending
        lr = self.schedule.warmup_lr
        limit = lr_value * (1.0 - 1e-9)
        low, high = 0, len(x)
        while low < high:
            middle = (low + high) // 2
            if float(lr(int(x[middle]))) < limit:
                low = middle + 1
            else:
                high = middle
        return int(x[low]) if low < len(x) else None

    def _end_warmup(self, step, chosen_lr, reason):
        """Switches at `step` from `peak_factor` times the chosen LR.

        The peak never exceeds the LR at the switch: decay starts at or
        below where warmup stopped. With a short budget the peak is the
        optimizer's own LR, whole.
        """
        lr_now = float(self.schedule.warmup_lr(min(step, self.schedule.warmup_steps)))
        peak = chosen_lr
        if peak is None or not math.isfinite(peak) or peak <= 0:
            peak = lr_now
        peak = min(peak, lr_now)
        self.best_lr = peak  # the rewind's target LR (agreed with the decision)
        if reason != SHORT_BUDGET:
            peak = self.peak_factor * peak
            if self.min_peak is not None:
                peak = max(peak, min(self.min_peak, lr_now))
        self.switch_step, self.peak_lr, self.reason = int(step), float(peak), reason
        self.plan_decay_guard()
        self.plan_rewind()

    def plan_rewind(self):
        """At the switch: restore the newest snapshot at or before the chosen LR.

        The chosen LR is the detector's (the peak before `peak_factor`); a
        copy a blow-up had damaged is passed over for an older one
        (`_copy_for`). With no snapshot that early, the oldest one held. The step counter is
        never rewound: the budget counts the steps spent. Call it again
        after the decision is replaced by the chief's (distributed.py).
        """
        self._actions = [a for a in self._actions if a[0] != "restore"]
        self.restored_step = None
        if (not self.rewind or self.reason in (SHORT_BUDGET, RESTORED, None)
                or not self.snapshot_steps):
            if self.reason == DIVERGED and self.restore_on_fault and self.snapshot_steps:
                self.restored_step = self.snapshot_steps[-1]
                self._actions.append(("restore", self.restored_step))
            return
        chosen = self.best_lr
        if chosen is None:
            chosen = self.peak_lr / self.peak_factor
        target = self._copy_for(chosen * (1.0 + 1e-9))
        self.restored_step = int(self.snapshot_steps[0] if target is None else target)
        self._actions.append(("restore", self.restored_step))

    def _copy_for(self, lr_limit):
        """The held copy to put back for a rewind to `lr_limit`, or None.

        The newest copy taken at or before the warmup LR `lr_limit` that is
        not `_damaged`; when every such copy is, the newest of them; None
        when no copy is that early. With two copies, the detector's best LR
        jumping up after a blow-up kept a copy taken in the blow-up over the
        one before it, and the rewind put back the blow-up's weights (an
        LSTM forecasting a noisy sine with RMSprop: test MSE 0.081 against
        0.056 without AutoLR; benchmarks/optimizers.py `anycopy`).
        """
        lr = self.schedule.warmup_lr
        early = [s for s in self.snapshot_steps if float(lr(s)) <= lr_limit]
        if not early:
            return None
        sound = [s for s in early if not self._damaged(s)]
        return (sound or early)[-1]

    def _damaged(self, step):
        """Whether the copy at `step` holds weights a blow-up had damaged:
        the median of the `DAMAGE_WINDOW` losses before it lies above every
        loss of the record's start (`detector.start_head`), where training
        began."""
        x, y = self.points.x, self.points.y  # x ascending
        end = int(np.searchsorted(x, step, side="left"))
        before = y[max(0, end - DAMAGE_WINDOW):end]
        if len(before) == 0:
            return False
        return float(np.median(before)) > _start_top(y)

    def restore_switch(self, step, peak_lr):
        """Marks warmup as over, as a restored schedule already decided."""
        self.switch_step, self.peak_lr, self.reason = int(step), float(peak_lr), RESTORED
        self.decay_peak_lr = self.peak_lr

    @property
    def decision(self):
        return Decision(
            switch_step=self.switch_step,
            peak_lr=self.peak_lr,
            reason=self.reason,
            tests=list(self.detector.results),
            total_steps=self.schedule.total_steps,
            warmup_steps=self.schedule.warmup_steps,
            restored_step=self.restored_step,
            faults=list(self.faults),
        )



def _start_top(y):
    """The highest loss of the record's start (`detector.start_head`)."""
    return float(np.max(detector_lib.start_head(y)))


class _Points:
    """(step, loss) points the GP sees, one per execution."""

    def __init__(self):
        self._x = GrowingArray()
        self._y = GrowingArray()

    def add(self, x, y):
        self._x.append(x)
        self._y.append(y)

    def extend(self, x, y):
        self._x.extend(x)
        self._y.extend(y)

    @property
    def x(self):
        return self._x.values

    @property
    def y(self):
        return self._y.values
