"""`replay`: the detector run offline on a recorded loss curve."""

import numpy as np

from keras_autolr import _validation
from keras_autolr.decision import options as options_lib
from keras_autolr.training import short_budget
from keras_autolr.decision.controller import WarmupController
from keras_autolr.schedule import AutoLRSchedule


def execution_ends(n_steps, steps_per_epoch=None, steps_per_execution=1):
    """Steps after which the host sees the loss, as `fit` runs them.

    Returns:
        An int64 array: each epoch's executions of `steps_per_execution`
        steps, the last one cut at the epoch's end.
    """
    if n_steps <= 0:
        return np.zeros(0, np.int64)
    epoch = steps_per_epoch or n_steps
    starts = np.arange(0, n_steps, epoch, dtype=np.int64)
    stops = np.minimum(starts + epoch, n_steps)
    per_epoch = -(-(stops - starts) // steps_per_execution)
    first = np.repeat(starts, per_epoch)
    index = np.arange(len(first)) - np.repeat(np.cumsum(per_epoch) - per_epoch,
                                              per_epoch)
    return np.minimum(first + (index + 1) * steps_per_execution,
                      np.repeat(stops, per_epoch))


def replay(losses, total_steps, steps_per_epoch=None, steps_per_execution=1,
           schedule=None, options=None, own_lr=None):
    """Runs AutoLR's decision offline on a per-step loss record.

    Gives exactly the decision the `AutoLR` callback takes live on the same
    losses, with the same schedule shape, options and seed: both drive one
    `WarmupController`, and tests happen at the same execution ends.

    Example:

    ```python
    decision = keras_autolr.replay(autolr.record.loss, total_steps=1000)
    decision.switch_step, decision.peak_lr, decision.probabilities
    # The paper's rule on the same record (it tests at epoch ends):
    keras_autolr.replay(autolr.record.loss, total_steps=1000,
                        steps_per_epoch=100, options=keras_autolr.PAPER)
    ```

    Args:
        losses: 1-D array of the loss of each step from step 0 (NaN allowed).
        total_steps: int. The budget of the run.
        steps_per_epoch: int or None. Epoch length (needed by
            `Options(check_every="epoch")`; places execution ends).
        steps_per_execution: int. Steps per execution of the live run.
        schedule: `AutoLRSchedule` or None. The schedule's shape (`min_lr`,
            `max_lr`, ...); its `total_steps` and decision are not used.
            None (default): `AutoLRSchedule()`.
        options: `keras_autolr.Options` or None (the defaults), as given to
            `AutoLR`; `keras_autolr.PAPER` is the paper's rule.
        own_lr: float or None. The optimizer's own constant LR that
            `AutoLR` replaced: the options' `sweep_start` starts the sweep there
            under a short budget and `own_lr_floor` keeps the peak above it.
            None (default): as in the pair form, no own LR.

    Returns:
        A `Decision`: `switch_step` (None when warmup would go on past the
        record), `peak_lr`, `reason`, the per-test results, the step the
        rewind restored (`restored_step`) and the faults.
    """
    losses = np.asarray(losses, np.float64).reshape(-1)
    total_steps = _validation.positive_int("total_steps", total_steps)
    steps_per_epoch = _validation.positive_int(
        "steps_per_epoch", steps_per_epoch, allow_none=True)
    steps_per_execution = _validation.positive_int(
        "steps_per_execution", steps_per_execution)
    options = options_lib.resolve(options)
    schedule = _fresh_schedule(schedule, total_steps)
    if own_lr is not None:
        own_lr = _validation.positive_float("own_lr", own_lr)
    sweep = not (options.sweep_start == "own_lr" and own_lr is not None
                 and short_budget.too_short(
                     total_steps, schedule.warmup_steps, steps_per_epoch,
                     steps_per_execution))
    if not sweep:
        schedule.use_own_lr(own_lr)
    elif own_lr is not None:
        short_budget.start_sweep_at_own_lr(
            schedule, total_steps, own_lr, options.sweep_start)
    controller = WarmupController(
        schedule, options, steps_per_epoch=steps_per_epoch, sweep=sweep,
        min_peak=own_lr if options.own_lr_floor else None)
    controller.plan_snapshot()  # the one a live run takes before step 0
    ends = execution_ends(min(len(losses), total_steps), steps_per_epoch,
                          steps_per_execution)
    if len(ends):  # executions between tests go in as whole arrays
        controller.observe_executions(losses[:ends[-1]], ends, stop_at_switch=True)
    return controller.decision


def _fresh_schedule(schedule, total_steps):
    """An undecided `AutoLRSchedule` of `schedule`'s shape and this budget."""
    if schedule is None:
        return AutoLRSchedule(total_steps=total_steps)
    if not isinstance(schedule, AutoLRSchedule):
        raise TypeError(
            "`schedule` must be an `AutoLRSchedule` or None. "
            f"Received schedule={schedule!r}")
    config = schedule.get_config()
    for key in ("switch_step", "peak_lr", "name"):
        config.pop(key, None)
    config["total_steps"] = total_steps
    return AutoLRSchedule(**config)
