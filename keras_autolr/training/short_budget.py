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
Short is counted in steps and in the losses the host sees by the warmup
cap, one per execution under `steps_per_execution` (`too_short`).
"""

import warnings

from keras_autolr import _keras
from keras_autolr.decision.detector import MIN_FINITE_LOSSES

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


# With `steps_per_execution=k` the host sees one loss per execution: the
# sweep needs MIN_FINITE_LOSSES of them by the warmup cap, where the last
# test runs. Fewer, and no test could run: the cap decayed from 0.4x the LR
# it reached, blind (digits MLP, Adam, batch 4, 700 steps, k=50, 7 losses:
# 9.8 % against 80.9 % without AutoLR; with k=30, 12 losses: 88.2 %).


def losses_seen(steps, steps_per_epoch=None, steps_per_execution=1):
    """The losses the host sees over the first `steps` steps: one per execution.

    `fit` cuts an execution at each epoch's end; an execution that reaches
    past `steps` counts (the warmup cap's test runs at its end).

    Example:

    ```python
    losses_seen(350, steps_per_epoch=350, steps_per_execution=50)  # 7
    ```
    """
    k = max(1, int(steps_per_execution))
    epoch = int(steps_per_epoch or steps or 1)
    full, rest = divmod(int(steps), epoch)
    return full * -(-epoch // k) + -(-rest // k)


def too_short(total_steps, warmup_steps, steps_per_epoch=None,
              steps_per_execution=1):
    """True when the budget is too short to sweep: under `MIN_SWEEP_STEPS`
    steps, or fewer than `MIN_FINITE_LOSSES` losses seen by the cap."""
    seen = losses_seen(warmup_steps, steps_per_epoch, steps_per_execution)
    return total_steps < MIN_SWEEP_STEPS or seen < MIN_FINITE_LOSSES


def largest_steps_per_execution(warmup_steps, steps_per_epoch, below):
    """The largest `steps_per_execution` under `below` with which the cap
    sees `MIN_FINITE_LOSSES` losses (None: not even 1)."""
    for k in range(int(below) - 1, 0, -1):
        if losses_seen(warmup_steps, steps_per_epoch, k) >= MIN_FINITE_LOSSES:
            return k
    return None


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
    LR, the sweep starts at that LR, and a budget too short to sweep
    (`too_short`: under `MIN_SWEEP_STEPS` steps, or too few executions under
    `steps_per_execution`) sets the schedule to the own LR, constant. Warns
    in every case where the budget is too short to sweep.
    """
    schedule = callback.schedule
    if schedule.switch_step is not None:
        return True  # an already decided schedule: nothing to choose
    own_lr = callback._own_lr
    steps_per_epoch = (callback.params or {}).get("steps")
    k = _keras.steps_per_execution(callback.model)
    if not too_short(total_steps, schedule.warmup_steps, steps_per_epoch, k):
        if (own_lr is not None and own_lr > 0 and start_sweep_at_own_lr(
                schedule, total_steps, own_lr, callback.options.sweep_start)
                and callback.verbose >= 2):
            _keras.print_msg(
                f"AutoLR: the sweep starts at the optimizer's own LR {own_lr:g}.")
        return True
    why, remedy = _why_too_short(
        total_steps, schedule.warmup_steps, steps_per_epoch, k)
    if callback.options.sweep_start == "own_lr" and own_lr is not None and own_lr > 0:
        schedule.use_own_lr(own_lr)
        warnings.warn(
            f"AutoLR: {why}; training at the optimizer's own LR {own_lr:g}, "
            f"constant, as without AutoLR. {remedy} to let AutoLR choose, or "
            "pass options=keras_autolr.Options(sweep_start='min_lr').",
            UserWarning, stacklevel=3)
        if callback.verbose >= 2:
            _keras.print_msg(
                f"AutoLR: short budget ({total_steps} steps): the own LR "
                f"{own_lr:g}, constant.")
        return False
    if callback.options.sweep_start == "own_lr":
        warnings.warn(
            f"AutoLR: {why}, and there is no constant optimizer LR to fall "
            "back to (pair form or a schedule). Sweeping anyway.",
            UserWarning, stacklevel=3)
    return True


def _why_too_short(total_steps, warmup_steps, steps_per_epoch, k):
    """The warning's reason and remedy: the budget's steps, or the losses seen."""
    if total_steps < MIN_SWEEP_STEPS:
        return (f"a budget of {total_steps} steps is too short for the "
                f"learning-rate sweep (it needs about {MIN_SWEEP_STEPS})",
                "Train for more steps (more epochs or a smaller batch)")
    seen = losses_seen(warmup_steps, steps_per_epoch, k)
    largest = largest_steps_per_execution(warmup_steps, steps_per_epoch, k)
    lower = (f"Compile with steps_per_execution={largest} or less, or train "
             if largest is not None else "Train ")
    return (f"with steps_per_execution={k}, the sweep's first {warmup_steps} "
            f"steps (the warmup cap, of a budget of {total_steps}) give the "
            f"host {seen} losses (one per execution), too few for a test "
            f"(it needs {MIN_FINITE_LOSSES})",
            lower + "for more steps")
