"""`replay`: the detector run offline on a recorded loss curve."""

import numpy as np

from keras_autolr import _validation
from keras_autolr.training import short_budget
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.options import DetectorOptions
from keras_autolr.schedule import AutoLRSchedule

SCHEDULE_OPTIONS = ("min_lr", "max_lr", "max_warmup_fraction", "warmup",
                    "decay", "cooldown_fraction")
DETECTOR_OPTIONS = DetectorOptions.names()
CONTROLLER_OPTIONS = ("rewind", "restore_on_divergence", "short_budget", "own_lr",
                      "own_lr_floor", "cap_peak")


def split_options(options):
    """Splits keyword options into schedule, detector and controller arguments."""
    unknown = (set(options) - set(SCHEDULE_OPTIONS) - set(DETECTOR_OPTIONS)
               - set(CONTROLLER_OPTIONS))
    if unknown:
        name = sorted(unknown)[0]
        raise TypeError(
            f"Unknown option `{name}`. Received {name}={options[name]!r}"
        )
    schedule = {k: v for k, v in options.items() if k in SCHEDULE_OPTIONS}
    detector = {k: v for k, v in options.items() if k in DETECTOR_OPTIONS}
    controller = {k: v for k, v in options.items() if k in CONTROLLER_OPTIONS}
    return schedule, detector, controller


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
           check_every="auto", detector=None, **options):
    """Runs AutoLR's detector offline on a per-step loss record.

    Gives exactly the decision the `AutoLR` callback takes live on the same
    losses, with the same options and seed: both drive one
    `WarmupController`, and tests happen at the same execution ends.

    Example:

    ```python
    decision = keras_autolr.replay(autolr.record.loss, total_steps=1000)
    decision.switch_step, decision.peak_lr, decision.probabilities
    ```

    Args:
        losses: 1-D array of the loss of each step from step 0 (NaN allowed).
        total_steps: int. The budget of the run.
        steps_per_epoch: int or None. Epoch length (needed by
            `check_every="epoch"`; places execution ends).
        steps_per_execution: int. Steps per execution of the live run.
        check_every: `"auto"`, `"epoch"` or a positive int.
        detector: `DetectorOptions` or None. None builds one from the
            detector's options among `**options`.
        **options: any `AutoLRSchedule` warmup/decay option (`min_lr`,
            `max_lr`, `max_warmup_fraction`, `warmup`, ...), any
            `DetectorOptions` field (`confidence`, `patience`, `seed`,
            `peak_factor`, ...) when `detector` is None, and `AutoLR`'s
            `rewind`, `restore_on_divergence`, `short_budget`, `cap_peak`
            and `own_lr_floor`; `own_lr` is the optimizer's own LR, which
            `short_budget="own_lr"` falls back to under a short budget and
            `own_lr_floor` keeps the peak above (without it, as in the pair
            form: the sweep runs, no floor). `keras_autolr.PAPER` gives the paper's rule.

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
    check_every = _validation.check_every(check_every)
    schedule_args, detector_args, controller_args = split_options(options)
    detector = DetectorOptions.resolve(detector, **detector_args)
    schedule = AutoLRSchedule(total_steps=total_steps, **schedule_args)
    short = _validation.choice(
        "short_budget", controller_args.pop("short_budget", "own_lr"),
        ("own_lr", "sweep"))
    own_lr = controller_args.pop("own_lr", None)
    if own_lr is not None:
        own_lr = _validation.positive_float("own_lr", own_lr)
    floor = _validation.boolean(
        "own_lr_floor", controller_args.pop("own_lr_floor", True))
    controller_args["min_peak"] = own_lr if floor else None
    sweep = not (short == "own_lr" and own_lr is not None
                 and total_steps < short_budget.MIN_SWEEP_STEPS)
    if not sweep:
        schedule.use_own_lr(own_lr, short_budget.OWN_LR_WARMUP_FRACTION)
    elif own_lr is not None:
        short_budget.start_sweep_at_own_lr(schedule, total_steps, own_lr, short)
    if "restore_on_divergence" in controller_args:
        controller_args["restore_on_fault"] = _validation.boolean(
            "restore_on_divergence", controller_args.pop("restore_on_divergence"))
    if "rewind" in controller_args:
        _validation.boolean("rewind", controller_args["rewind"])
    controller = WarmupController(
        schedule, detector, check_every, steps_per_epoch,
        sweep=sweep, **controller_args)
    controller.plan_snapshot()  # the one a live run takes before step 0
    ends = execution_ends(min(len(losses), total_steps), steps_per_epoch,
                          steps_per_execution)
    if len(ends):  # executions between tests go in as whole arrays
        controller.observe_executions(losses[:ends[-1]], ends, stop_at_switch=True)
    return controller.decision
