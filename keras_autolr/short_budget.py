"""Budgets too short for the exponential sweep.

The sweep grows the LR from `min_lr` to `max_lr` (5 decades by default)
over at most half the budget, and the detector needs `MIN_FINITE_LOSSES`
points before its first test and `patience` positive tests after the
minimum. Under a short budget the LR grows so fast between steps that the
loss lags behind it, the switch comes late and the sweep wastes most of
the budget at tiny learning rates (README, "Quality benchmark": below
`MIN_SWEEP_STEPS` steps AutoLR lost to the optimizer's own LR with a cosine
decay). There, the user is best served by what they had: the optimizer's
own LR, with a 5 % linear warmup and a cosine decay to zero, and a warning
that says why (`short_budget="own_lr"`, the default).
"""

import warnings

from keras_autolr import _keras

# Below this many optimizer steps in the budget, the sweep is not used
# (measured: benchmarks/quality.py, 1-epoch cells; README).
MIN_SWEEP_STEPS = 26
OWN_LR_WARMUP_FRACTION = 0.05


def choose(callback, total_steps):
    """Sweeps (True) or keeps the optimizer's own LR (False) for this budget.

    With `short_budget="own_lr"` and a zero-config `AutoLR` whose optimizer
    had a constant LR, a budget under `MIN_SWEEP_STEPS` sets the schedule to
    the own-LR warmup + cosine. Warns in every case where the budget is
    short.
    """
    if total_steps >= MIN_SWEEP_STEPS:
        return True
    schedule = callback.schedule
    if schedule.switch_step is not None:
        return True  # an already decided schedule: nothing to choose
    own_lr = callback._own_lr
    if callback.short_budget == "own_lr" and own_lr is not None and own_lr > 0:
        schedule.use_own_lr(own_lr, OWN_LR_WARMUP_FRACTION)
        warnings.warn(
            f"AutoLR: a budget of {total_steps} steps is too short for the "
            f"learning-rate sweep (it needs about {MIN_SWEEP_STEPS}); "
            f"training at the optimizer's own LR {own_lr:g} with a "
            f"{OWN_LR_WARMUP_FRACTION:.0%} warmup and {schedule.decay} decay "
            "instead. Train for more steps (more epochs or a smaller batch) "
            "to let AutoLR choose, or pass short_budget='sweep'.",
            UserWarning, stacklevel=3)
        if callback.verbose >= 2:
            _keras.print_msg(
                f"AutoLR: short budget ({total_steps} steps): own LR "
                f"{own_lr:g}, {OWN_LR_WARMUP_FRACTION:.0%} warmup, "
                f"{schedule.decay} decay.")
        return False
    if callback.short_budget == "own_lr":
        warnings.warn(
            f"AutoLR: a budget of {total_steps} steps is too short for a "
            f"reliable learning-rate sweep (it needs about {MIN_SWEEP_STEPS}) "
            "and there is no constant optimizer LR to fall back to (pair "
            "form or a schedule). Sweeping anyway.",
            UserWarning, stacklevel=3)
    return True
