"""Budgets too short for the exponential sweep.

The sweep grows the LR from `min_lr` to `max_lr` (5 decades by default)
over at most half the budget, and the detector needs `MIN_FINITE_LOSSES`
points before its first test and `patience` positive tests after the
minimum. Under a short budget the LR grows so fast between steps that the
loss lags behind it, the switch comes late and the sweep wastes most of
the budget at tiny learning rates (README, "Quality benchmark": below
`MIN_SWEEP_STEPS` steps AutoLR lost to the optimizer's own LR with a cosine
decay). There, the user is best served by what they had: the optimizer's
own LR, kept constant as without AutoLR, and a warning that says why
(`Options(sweep_start="own_lr")`, the default). A 5 % warmup and a cosine
decay from the own LR, the rule before 0.2, lost 15 points to the constant
own LR on a 13-step cell of benchmarks/optimizers.py (AdamW, batch 16,384).
"""

import warnings

from keras_autolr import _keras

# Below this many optimizer steps in the budget, the sweep is not used
# (measured: benchmarks/quality.py, 1-epoch cells; README).
MIN_SWEEP_STEPS = 26
# From MIN_SWEEP_STEPS on, the sweep starts at the optimizer's own LR
# instead of `min_lr` (`Options(sweep_start="own_lr")`): the floor keeps the
# peak at or above the own LR anyway, and a sweep through the decades below
# it spends a part of the budget at learning rates that train nothing. First
# measured on the quality benchmark's 38- to 70-step cells (+2 to +11 points
# with LAMB, docs/benchmarks/short_lr.md), it was limited to budgets under
# 100 steps until the development set of benchmarks/optimizers.py showed the
# same at every budget: +12 to +16 points on two 100- and 313-step cells
# where the sweep from 1e-5 ended at its cap, +2 on a 784-step cell, no
# cell worse.


def sweep_start(total_steps, min_lr, own_lr, policy="own_lr"):
    """The LR the sweep starts from: the own LR under `"own_lr"`, else `min_lr`.

    The own LR only when there is one above `min_lr` (and below `max_lr`,
    which the caller checks); `total_steps` is kept for the callers' sake.
    """
    if policy == "own_lr" and own_lr is not None and own_lr > min_lr:
        return float(own_lr)
    return min_lr


def start_sweep_at_own_lr(schedule, total_steps, own_lr, policy="own_lr"):
    """Moves `schedule.min_lr` to the own LR when `sweep_start` says so.

    Returns True when it did. Call it before the first training step is
    traced, and only for a schedule that has not switched.
    """
    start = sweep_start(total_steps, schedule.min_lr, own_lr, policy)
    if start == schedule.min_lr or not start < schedule.max_lr:
        return False
    schedule.min_lr = start
    return True


def choose(callback, total_steps):
    """Sweeps (True) or keeps the optimizer's own LR (False) for this budget.

    With `sweep_start="own_lr"` and an optimizer that had its own constant
    LR, the sweep starts at that LR, and a budget under `MIN_SWEEP_STEPS`
    sets the schedule to the own LR, constant. Warns in every case where the
    budget is too short to sweep.
    """
    schedule = callback.schedule
    if schedule.switch_step is not None:
        return True  # an already decided schedule: nothing to choose
    own_lr = callback._own_lr
    if total_steps >= MIN_SWEEP_STEPS:
        if (own_lr is not None and own_lr > 0 and start_sweep_at_own_lr(
                schedule, total_steps, own_lr, callback.options.sweep_start)
                and callback.verbose >= 2):
            _keras.print_msg(
                f"AutoLR: the sweep starts at the optimizer's own LR {own_lr:g}.")
        return True
    if callback.options.sweep_start == "own_lr" and own_lr is not None and own_lr > 0:
        schedule.use_own_lr(own_lr)
        warnings.warn(
            f"AutoLR: a budget of {total_steps} steps is too short for the "
            f"learning-rate sweep (it needs about {MIN_SWEEP_STEPS}); "
            f"training at the optimizer's own LR {own_lr:g}, constant, as "
            "without AutoLR. Train for more steps (more epochs or a smaller "
            "batch) to let AutoLR choose, or pass "
            "options=keras_autolr.Options(sweep_start='min_lr').",
            UserWarning, stacklevel=3)
        if callback.verbose >= 2:
            _keras.print_msg(
                f"AutoLR: short budget ({total_steps} steps): the own LR "
                f"{own_lr:g}, constant.")
        return False
    if callback.options.sweep_start == "own_lr":
        warnings.warn(
            f"AutoLR: a budget of {total_steps} steps is too short for a "
            f"reliable learning-rate sweep (it needs about {MIN_SWEEP_STEPS}) "
            "and there is no constant optimizer LR to fall back to (pair "
            "form or a schedule). Sweeping anyway.",
            UserWarning, stacklevel=3)
    return True
