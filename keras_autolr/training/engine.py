"""`WarmupEngine`: the decision loop that every live face runs its losses through.

observe -> test when due -> agree across workers -> switch -> report. The
`AutoLR` callback and `WarmupDriver` hand it each execution's mean loss; it
drives their `WarmupController`, takes the chief's decision after every test
(distributed.py), and is the one place that writes the decision into the
`AutoLRSchedule` and reads it back from a schedule that already switched.
The faces only say how to act on the model and how to report. `replay`
drives the controller alone: offline there is nothing to agree on, act on,
or write.
"""

from keras_autolr.training import distributed


class WarmupEngine:
    """Runs one face's executions through its `WarmupController`.

    Example:

    ```python
    controller = WarmupController(schedule, Options(), "auto")
    engine = WarmupEngine(controller, strategy,
                          on_switch=lambda: print(switch_message(controller)))
    read_schedule(controller)  # a loaded schedule that already switched
    engine.start()  # every worker from the chief's decision
    for loss in losses:
        engine.observe(loss)
    ```

    Args:
        controller: `WarmupController`; its `schedule` is the one the
            optimizer reads.
        strategy: `tf.distribute.Strategy` or None. Workers agree on the
            decision after each test.
        execute: callable or None. Gets the controller's planned actions
            (`("snapshot", step, keep)`, `("restore", step)`) after each
            execution.
        on_test: callable or None. Gets each `TestResult`.
        on_switch: callable or None. Called once warmup ends, after the
            schedule switched.
        on_fault: callable or None. Called after a new non-finite loss that
            did not end warmup.

    Attributes:
        overridden: int. Agreements that replaced this worker's own decision
            by the chief's (0 on the chief and on a single worker).
    """

    def __init__(self, controller, strategy=None, execute=None,
                 on_test=None, on_switch=None, on_fault=None):
        self.controller = controller
        self.strategy = strategy
        self.execute = execute
        self.on_test = on_test
        self.on_switch = on_switch
        self.on_fault = on_fault
        self.overridden = 0
        self._faults_seen = len(controller.faults)

    def start(self):
        """Every worker takes the chief's decision (a collective: call it on all)."""
        self._faults_seen = len(self.controller.faults)
        if self._agree():
            write_schedule(self.controller)

    def observe(self, loss, steps=1):
        """One execution's mean loss: records it, tests when due, switches, reports.

        Returns:
            The `TestResult` of this worker's test if one ran now, else None.
        """
        controller = self.controller
        was_warming = controller.warming_up
        peak = controller.decay_peak_lr
        next_test = controller.next_test
        result = controller.observe_mean(loss, steps)
        if was_warming and (controller.next_test != next_test
                            or not controller.warming_up):
            # A test was due (same steps on every worker): every worker
            # takes the chief's decision, whatever the outcome.
            self._agree()
        if result is not None and self.on_test is not None:
            self.on_test(result)
        actions = controller.pop_actions()
        if self.execute is not None:
            self.execute(actions)
        faults = len(controller.faults)
        if was_warming and not controller.warming_up:
            write_schedule(controller)
            if self.on_switch is not None:
                self.on_switch()
        else:
            if controller.decay_peak_lr != peak:  # a blow-up in the decay lowered it
                write_schedule(controller)
            if faults > self._faults_seen and self.on_fault is not None:
                self.on_fault()
        self._faults_seen = faults
        return result

    def _agree(self):
        if not distributed.agree_controller(self.strategy, self.controller):
            return False
        self.overridden += 1
        return True


def read_schedule(controller):
    """A schedule that already switched (a loaded model) decided: warmup is over."""
    schedule = controller.schedule
    if schedule.switch_step is not None:
        controller.restore_switch(schedule.switch_step, schedule.peak_lr)


def write_schedule(controller):
    """Puts the controller's decision into its schedule: the one place that does."""
    if controller.warming_up:
        controller.schedule.reset()
    else:
        controller.schedule.switch(controller.switch_step, controller.decay_peak_lr)


def switch_message(controller, epoch=None):
    """The line that says warmup ended: why, where, the peak and the decay."""
    schedule = controller.schedule
    where = "" if epoch is None else f" (epoch {epoch + 1})"
    return (
        f"AutoLR: warmup ended ({controller.reason}) at step "
        f"{controller.switch_step}{where}; peak LR {controller.peak_lr:.4g}, "
        f"then {schedule.decay} decay to 0 at step {schedule.total_steps}."
        f"{rewound_message(controller)}"
    )


def rewound_message(controller):
    """`" Weights rewound to step N."`, or "" when the switch rewound nothing."""
    if controller.restored_step is None:
        return ""
    return f" Weights rewound to step {controller.restored_step}."


def diverged_message(controller):
    """The warning when warmup ended because the LR made the loss non-finite."""
    return (
        f"AutoLR: non-finite losses at step <= {controller.switch_step} "
        "during warmup, caused by the LR; warmup ends now and decays "
        f"from {controller.peak_lr:.4g}.{rewound_message(controller)}")


def test_message(result, detector):
    """The line that reports one test: its vote, its window, the GP's fit."""
    window = detector.results[-detector.patience:]
    votes = sum(p > detector.confidence for p in result.probabilities)
    line = (
        f"AutoLR: test {result.index + 1} at step {result.step}: "
        f"P(minimum passed) {result.probability:.3f}, "
        f"{votes}/{len(result.probabilities)} posteriors above "
        f"{detector.confidence:g}, "
        f"{sum(r.positive for r in window)}/{detector.patience} positive"
    )
    if result.inconclusive:
        line += " (inconclusive: the GP failed numerically)"
    return line + (f"; GP amplitude {result.amplitude:.4g}, noise "
                   f"{result.noise:.4g}, mean {result.mean:.4g}")
