"""Resuming a run: what its state file must match, and the replay that restores it.

The file itself (format, atomic write, checks) is state.py. Here: the
fingerprint of the options that shape the decision, saving a
`WarmupController`'s record, and bringing a fresh controller back to the
step the restored weights are at, with the schedule holding its decision.

Example, what `AutoLR` does at the start of a `fit` whose optimizer is at
step `start`:

```python
state_dir = resume.state_dir(backup_dir, fit_callbacks)
path = resume.state_to_restore(state_dir, controller, start)
if path is not None:
    controller = resume.restore(path, options, new_controller, start)
...  # training; at each epoch end:
resume.save(state_dir, controller, options)
```
"""

import os

from keras_autolr.training import engine
from keras_autolr.training import siblings
from keras_autolr.training import state as state_lib
from keras_autolr._keras import keras


def fingerprint(schedule, options, steps_per_epoch, monitor="loss", **extra):
    """The options that shape the decision and the LR, a JSON-friendly dict.

    Args:
        schedule: `AutoLRSchedule`; its warmup/decay options count, its
            decision and name do not.
        options: `keras_autolr.Options`.
        steps_per_epoch: int or None.
        monitor: str. Listed only when not `"loss"`.
        **extra: what else shapes the decision (`sweep`), in a fixed order.
    """
    config = schedule.get_config()
    for key in ("switch_step", "peak_lr", "name"):
        config.pop(key, None)
    return {**config, **options.get_config(), **extra,
            "steps_per_epoch": steps_per_epoch,
            **({} if monitor == "loss" else {"monitor": monitor})}


def state_dir(backup_dir, fit_callbacks):
    """Where AutoLR's state is kept: `backup_dir`, else beside a checkpoint.

    Args:
        backup_dir: str or None. `AutoLR(backup_dir=...)`.
        fit_callbacks: the callbacks of the `fit`, or None when unknown.
            Without `backup_dir`, the `backup_dir` of a
            `keras.callbacks.BackupAndRestore` among them (resume by default).

    Returns:
        A directory path, or None (no state is saved).
    """
    if backup_dir is not None:
        return backup_dir
    backup = siblings.first(fit_callbacks, keras.callbacks.BackupAndRestore)
    backup_dir = getattr(backup, "backup_dir", None)
    return None if backup_dir is None else os.fspath(backup_dir)


def state_to_restore(state_dir, controller, start):
    """The state file a `fit` starting at optimizer step `start` resumes from.

    Args:
        state_dir: str or None (`state_dir`).
        controller: the `WarmupController` of an earlier `fit` of the same
            callback, or None.
        start: int. The optimizer's step counter at the start of the `fit`.

    Returns:
        The file's path, or None: no directory or no file, step 0 (a new
        run), or `controller` already holds the record up to `start` (the
        same callback fit again).
    """
    path = None if state_dir is None else state_lib.state_path(state_dir)
    if path is not None and os.path.exists(path) and start > 0 and (
            controller is None or controller.record.n_steps != start):
        return path
    return None


def restore(path, options, new_controller, start):
    """A controller brought back to step `start` from the state file at `path`.

    Args:
        path: the state file (`state_to_restore`).
        options: this run's `fingerprint`; the file must match it.
        new_controller: callable returning a fresh `WarmupController`,
            called once the file is read and checked.
        start: int. The step the restored weights are at.

    Raises:
        StateFileError: the file is unreadable or from other `options`
            (before `new_controller` is called).
    """
    saved = load(path, options)
    controller = new_controller()
    replay(saved, controller, start)
    return controller


def budget_spent_message(start, total, epoch, params=None):
    """The error when the optimizer is past the budget, and the budget to give.

    Args:
        start: int. The optimizer's step counter at the start of the `fit`.
        total: int. The budget, `total_steps`.
        epoch: int. The `fit`'s first epoch (its `initial_epoch`).
        params: the `fit`'s params or None. With its steps per epoch and
            epochs, the message says which `total_steps` would have covered
            this `fit` too.
    """
    steps = (params or {}).get("steps")
    epochs = (params or {}).get("epochs")
    message = (
        f"AutoLR's budget of {total} steps is spent: the optimizer is at "
        f"step {start} and the learning rate is 0 from step {total} on, "
        "so this `fit` would not change the weights. ")
    if steps and epochs:
        # This fit starts at `epoch` (its `initial_epoch`) and ends at
        # `epochs`: the whole run is `start` steps plus the rest.
        needed = start + int(steps) * (int(epochs) - int(epoch))
        message += (
            "To train in chunks (e.g. `fit(epochs=2)`, then "
            "`fit(initial_epoch=2, epochs=4)`), give the whole budget "
            f"from the first `fit` on: AutoLR(total_steps={needed}) (the "
            f"{start} steps trained so far + {int(steps)} steps per epoch "
            f"x {int(epochs) - int(epoch)} epochs of this fit), and pass "
            "the same AutoLR to every chunk. ")
    message += (
        "To train further with a new warmup, compile with a new optimizer. "
        f"Received optimizer.iterations={start}, total_steps={total}")
    return message


def save(state_dir, controller, options):
    """Writes the controller's record and decision to `state_dir` (atomically)."""
    state_lib.save(
        state_lib.state_path(state_dir), controller.record.values,
        controller.ends, controller.observed, options,
        {"switch_step": controller.switch_step, "peak_lr": controller.peak_lr,
         "reason": controller.reason},
    )


def load(path, options):
    """The saved `(losses, ends, observed)`, checked against this run's options.

    Raises:
        StateFileError: the file is unreadable or from other `options`.
    """
    return state_lib.load(path, options)[:3]


def replay(saved, controller, start):
    """Feeds the `load`ed record into a fresh `controller` up to step `start`.

    The detector is a pure function of the record, the seed and the
    options, so the decision comes back exactly; the schedule then holds it.
    """
    losses, ends, observed = saved
    controller.replay_until(losses, ends, observed, start)
    engine.write_schedule(controller)


def resumed_message(path, controller, start):
    """The line that says where a resumed run stands."""
    return (f"AutoLR: resumed at step {start} from {path} "
            f"({len(controller.detector.results)} tests replayed; "
            + ("warming up)." if controller.warming_up else
               f"decaying from step {controller.switch_step}, peak LR "
               f"{controller.peak_lr:.4g})."))
