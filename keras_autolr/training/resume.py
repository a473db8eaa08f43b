"""Resuming a run: what its state file must match, and the replay that restores it.

The file itself (format, atomic write, checks) is state.py. Here: the
fingerprint of the options that shape the decision, saving a
`WarmupController`'s record, and bringing a fresh controller back to the
step the restored weights are at, with the schedule holding its decision.

Example, what `AutoLR` does at the start of a `fit` whose optimizer is at
step `start`:

```python
state_dir = resume.state_dir(backup_dir, fit_callbacks)
files = SnapshotFiles(state_dir)
path = resume.state_to_restore(state_dir, controller, start)
if path is not None:
    controller = resume.restore(path, options, new_controller, start,
                                ring, files)
...  # training; at each epoch end:
resume.save(state_dir, controller, options, ring, files)
```

The snapshots the rewind may still use are saved too (snapshot_files.py)
and put back into the ring, with the rewind already made
(`restored_step`): a resumed run rewinds to the same copy, and reports the
same decision, as an uninterrupted one.
"""

import contextlib
import os
import warnings

from keras_autolr import _keras
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


def restore(path, options, new_controller, start, ring=None, files=None):
    """A controller brought back to step `start` from the state file at `path`.

    With `ring` and `files`, the snapshots saved with the state go back
    into `ring`, and the controller holds them as the uninterrupted run
    did; otherwise, or when they cannot be read (a warning says so), the
    ring is empty and the controller plans from none (the rewind then goes
    to a snapshot taken after the resume).

    Args:
        path: the state file (`state_to_restore`).
        options: this run's `fingerprint`; the file must match it.
        new_controller: callable returning a fresh `WarmupController`,
            called once the file is read and checked.
        start: int. The step the restored weights are at.
        ring: `SnapshotRing` or None.
        files: `SnapshotFiles` or None.

    Raises:
        StateFileError: the file is unreadable or from other `options`
            (before `new_controller` is called).
    """
    saved = state_lib.load_state(path, options)
    return restore_saved(saved, path, new_controller, start, ring, files)


def restore_saved(saved, path, new_controller, start, ring=None, files=None):
    """`restore` from a `SavedState` already read (and checked) from `path`."""
    controller = new_controller()
    replay(saved[:3], controller, start)
    _restore_rewind(saved.decision, controller)
    if ring is not None:
        ring.clear()
    if ring is None or files is None or not _restore_snapshots(
            path, saved, controller, ring, files, start):
        controller.forget_snapshots()
    return controller


def build_slots(optimizer, model, strategy=None):
    """Keras 2: builds `optimizer`'s slots now, as its first step would.

    The snapshots saved with the state hold the slots, and Keras 2 makes
    them at the first step, after the resume: without them the saved
    copies would not fit. TensorFlow's restore-on-create gives them the
    values the checkpoint restored. Keras 3 builds them with the model.
    """
    if _keras.IS_KERAS_3:
        return
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        _keras.build_optimizer(optimizer, model.trainable_variables)


def _restore_rewind(decision, controller):
    """The rewind the saved run made, when the replay reaches its switch.

    The replay plans its own rewind, from the snapshots it would have held
    had the run never stopped; the run's own may have been others (each
    `fit`, each resume, takes one at its start).
    """
    if ("restored_step" in decision and not controller.warming_up
            and decision.get("switch_step") == controller.switch_step):
        step = decision["restored_step"]
        controller.restored_step = None if step is None else int(step)


def _restore_snapshots(path, saved, controller, ring, files, start):
    """Puts the saved snapshots into `ring`; False when there are none to use."""
    steps = saved.snapshot_steps
    if not steps or not controller.warming_up:
        return False  # an older file, none held, or the rewind is made
    if len(saved.losses) != start:
        warnings.warn(
            f"AutoLR: the snapshots saved with {path} are of step "
            f"{len(saved.losses)}, the weights restored of step {start}; "
            f"the rewind uses snapshots taken from step {start} on.",
            UserWarning, stacklevel=2)
        return False
    try:
        files.load(ring, steps)
    except state_lib.StateFileError as error:
        warnings.warn(
            f"AutoLR: the snapshots saved with {path} could not be restored "
            f"({error}); the rewind uses snapshots taken from step {start} on, "
            "so it may go to another step than in an uninterrupted run.",
            UserWarning, stacklevel=2)
        return False
    controller.forget_snapshots()  # the replay's plan, and its actions
    controller.snapshot_steps = list(steps)
    return True


def fit_end(start, epoch, params=None):
    """The step this `fit` ends at, or None when its params do not tell.

    It starts at `epoch` (its `initial_epoch`), with the optimizer at step
    `start`, and runs the params' steps per epoch to their `epochs`.
    """
    steps = (params or {}).get("steps")
    epochs = (params or {}).get("epochs")
    if not steps or not epochs:
        return None
    return start + int(steps) * (int(epochs) - int(epoch))


def past_budget_message(start, total, epoch, params=None):
    """The warning when this `fit` runs past the budget, else None.

    The learning rate is 0 from step `total` on: the steps past it do not
    train. It happens when an interrupted `fit` is run again as it was
    (a notebook cell stopped and run again), with chunks whose whole budget
    was not given, or with `total_steps` below the `fit`'s length.

    Args:
        start: int. The optimizer's step counter at the start of the `fit`.
        total: int. The budget, `total_steps`.
        epoch: int. The `fit`'s first epoch (its `initial_epoch`).
        params: the `fit`'s params or None (no warning without its steps
            per epoch and epochs).
    """
    end = fit_end(start, epoch, params)
    if end is None or end <= total:
        return None
    return (
        f"AutoLR: this `fit` runs to step {end}, past the budget of {total} "
        f"steps: the learning rate is 0 from step {total} on, so its last "
        f"{end - total} steps do not train (the optimizer starts at step "
        f"{start}). Give it fewer epochs to end at the budget; to train in "
        "chunks, give the whole budget to the first `fit`'s AutoLR "
        "(`AutoLR(total_steps=...)`); to train further with a new warmup, "
        "compile with a new optimizer.")


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
    needed = fit_end(start, epoch, params)  # `start` steps and this fit
    if needed is not None:
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


def save(state_dir, controller, options, ring=None, files=None):
    """Writes the controller's record and decision to `state_dir` (atomically).

    With `ring` and `files`, while warming up, the snapshots the controller
    holds are written first (each once), and the state file lists them;
    after the switch none is needed: the rewind is made. A snapshot that
    cannot be written (a full disk) is a warning, not an error: the state
    is saved without snapshots, and a resume takes new ones.
    """
    steps = None
    if ring is not None and files is not None:
        steps = ([s for s in controller.snapshot_steps if s in ring.steps]
                 if controller.warming_up else [])
        try:
            files.save(ring, steps)
        except OSError as error:
            warnings.warn(
                f"AutoLR: the snapshots for the rewind could not be saved in "
                f"{state_dir} ({error}); a resumed run takes new ones.",
                RuntimeWarning, stacklevel=2)
            steps = None
    state_lib.save(
        state_lib.state_path(state_dir), controller.record.values,
        controller.ends, controller.observed, options,
        {"switch_step": controller.switch_step, "peak_lr": controller.peak_lr,
         "reason": controller.reason, "restored_step": controller.restored_step},
        snapshot_steps=steps,
    )
    if files is not None:  # the files the state no longer lists
        files.prune(steps or [])


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
