"""Resuming a run: what its state file must match, and the replay that restores it.

The file itself (format, atomic write, checks) is state.py. Here: the
fingerprint of the options that shape the decision, saving a
`WarmupController`'s record, and bringing a fresh controller back to the
step the restored weights are at, with the schedule holding its decision.
"""

from keras_autolr import engine
from keras_autolr import state as state_lib


def fingerprint(schedule, detector_options, check_every, steps_per_epoch,
                monitor="loss", **controller_options):
    """The options that shape the decision and the LR, a JSON-friendly dict.

    Args:
        schedule: `AutoLRSchedule`; its warmup/decay options count, its
            decision and name do not.
        detector_options: `DetectorOptions`.
        check_every: `"auto"`, `"epoch"` or an int.
        steps_per_epoch: int or None.
        monitor: str. Listed only when not `"loss"` (files written before
            `monitor` existed still load).
        **controller_options: the callback's other options that shape the
            decision (`rewind`, `sweep`, ...), in a fixed order.
    """
    config = schedule.get_config()
    for key in ("switch_step", "peak_lr", "name"):
        config.pop(key, None)
    detector = detector_options.get_config()
    peak_factor = detector.pop("peak_factor")
    return {**config, **detector, "check_every": check_every,
            "peak_factor": peak_factor, **controller_options,
            "steps_per_epoch": steps_per_epoch,
            **({} if monitor == "loss" else {"monitor": monitor})}


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
