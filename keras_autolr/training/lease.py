"""The sweep's lease: how far the schedule may sweep before `AutoLR` looks again.

Only the callback ends the warmup sweep. A `fit` stopped during it (a
notebook's interrupt, another callback's exception: Keras then calls no
`on_train_end`) left the schedule on the optimizer, sweeping, and a `fit`
without `AutoLR` after it swept on to `max_lr` (the digits MLP, stopped at
step 60 of 220 and fit 3 more epochs: 47.4 %; 89.7 % with the lease). So
`AutoLR` authorises the sweep only up to a step a little past its next
look at the loss (`AutoLRSchedule.lease`), renews it at each look, and ends
it when its `fit` ends during warmup. Past the lease the LR is the sweep's
start, the optimizer's own LR in the zero-config form.

The next look is the next execution the host reads: one execution away, or
the horizon of the executions the host counts without reading
(batch_counter.py). The lease reaches `lease_steps` past it: 4 executions
(Keras 2's `steps_per_execution="auto"` may grow an execution 1.5x between
two looks, and is bounded by the epoch), and otherwise no more than the
steps in which the sweep doubles the LR, at most 64. A run stopped
between two looks sweeps at most that much further.

A custom loop's `WarmupDriver` gives no lease (the loop that steps the
optimizer is the user's): its schedule sweeps to the cap, as before.
"""

import math

from keras_autolr import _keras

# The longest lease a doubling of the LR allows, in steps past the next look.
MAX_DOUBLING_STEPS = 64


def lease_steps(model, schedule, steps_per_epoch=None):
    """Steps a lease reaches past the next look (see the module).

    Example:

    ```python
    lease_steps(model, schedule)  # 11: a 220-step budget, own LR 0.001
    ```

    Args:
        model: the model `fit` trains (its `steps_per_execution`).
        schedule: the `AutoLRSchedule`, budget set (its sweep's growth).
        steps_per_epoch: int or None. Under Keras 2's
            `steps_per_execution="auto"`, the longest execution.
    """
    execution = _keras.steps_per_execution(model)
    if getattr(model, "_autotune_steps_per_execution", False) and steps_per_epoch:
        execution = max(execution, int(steps_per_epoch))
    growth = math.log(schedule.max_lr / schedule.min_lr)
    doubling = schedule.warmup_steps * math.log(2.0) / max(growth, 1e-12)
    return max(4 * execution, min(MAX_DOUBLING_STEPS, max(2, int(doubling))))


def renew(schedule, next_look, length):
    """Extends the lease to `next_look + length` when less than half of it is left.

    Writes the schedule's state only then (on JAX after the state was
    synced, as every host write during `fit`).

    Args:
        schedule: the `AutoLRSchedule`, warming up.
        next_look: int. The step at or before which the host looks again.
        length: int. `lease_steps`.
    """
    current = schedule.lease_end
    if current is None or current < next_look + length // 2:
        schedule.lease(next_look + length)


def end(schedule, step):
    """Ends the lease at `step`: from there, without `AutoLR`, the own LR."""
    if schedule.lease_end is not None:
        schedule.lease(max(int(step), 1))
