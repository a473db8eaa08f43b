"""The schedule's decision (switch step, peak LR) in the optimizer's checkpoint.

`attach(optimizer, schedule)` puts the `AutoLRSchedule`'s `ScheduleState`
on the optimizer as the attribute `autolr_schedule_state`, so that every
way Keras and TensorFlow checkpoint an optimizer saves and restores the
decision with the optimizer's slots:

- TensorFlow's object graph, on TensorFlow (`tf.train.Checkpoint`, Keras 2's
  `save_weights`/`ModelCheckpoint` in the TF format and `BackupAndRestore`):
  `ScheduleState` is a `tf.Module` that tracks the schedule's two state
  variables; a checkpoint read before they exist (before `AutoLR` builds
  them under the model's strategy) is applied when they are created
  (TensorFlow's restore-on-create).
- Keras 3's `.weights.h5` and `.keras` files (`save_weights`,
  `ModelCheckpoint`, `BackupAndRestore`): `ScheduleState` is a
  `KerasSaveable` (`_keras.SaveableLeaf`), saved under
  `optimizer/autolr_schedule_state`, apart from the optimizer's own
  numbered variables, whose count Keras checks on load. On JAX the two
  variables are also among the optimizer's variables (its compiled step
  reads no other), hidden from its numbered ones
  (`_keras.track_optimizer_state`): the files are the same on every
  backend.

Files written without it (no AutoLR, or an older keras_autolr) have no such
entry: loading leaves the schedule as it is, and the optimizer's slots load
as before. Files written with it load into an optimizer without AutoLR:
Keras 3 ignores the extra entry; TensorFlow's object graph reports the
values it did not use, as it does for any object the program lacks, when
the load status is not marked `expect_partial()`.
"""

import numpy as np

from keras_autolr import _keras

ATTRIBUTE = "autolr_schedule_state"


def attach(optimizer, schedule, wrapper=None):
    """Puts `schedule`'s decision in `optimizer`'s checkpoint (see the module).

    `wrapper`: the optimizer that wraps `optimizer` in the model (Keras 3's
    `LossScaleOptimizer`), or None.
    """
    state = schedule.checkpoint_state
    if getattr(optimizer, ATTRIBUTE, None) is not state:
        setattr(optimizer, ATTRIBUTE, state)
    if _keras.STATE_IN_OPTIMIZER:
        # JAX: the compiled step reads the decision only from the
        # optimizer's variables (`_keras.track_optimizer_state`).
        _keras.track_optimizer_state(
            optimizer, schedule.create_state_variables(), wrapper)


class ScheduleState(_keras.Module, _keras.SaveableLeaf):
    """The two state variables of an `AutoLRSchedule`, as a checkpointable object.

    Args:
        schedule: the `AutoLRSchedule` whose `switch_step` and `peak_lr`
            state this saves and restores.
    """

    def __init__(self, schedule):
        super().__init__(name="autolr_schedule_state")
        # Not a trackable: TensorFlow does not follow it; Keras 3 does not
        # walk into it (not a `KerasSaveable`).
        self._schedule = schedule

    def track(self, variables):
        """Tracks the schedule's variables, once they exist (TF object graph)."""
        self.switch_step = variables["switch_step"]
        self.peak_lr = variables["peak_lr"]

    # Keras 3 saving (`saving_lib`): a `SaveableLeaf`, whose children
    # Keras does not walk into; it calls these two.
    def save_own_variables(self, store):
        switch_step, peak_lr = self._schedule._state_values()
        store["switch_step"] = np.asarray(switch_step, np.int64)
        store["peak_lr"] = np.asarray(peak_lr, np.float32)

    def load_own_variables(self, store):
        # A file saved without this state gives an empty store: nothing to do.
        if "switch_step" not in store.keys():
            return
        self._schedule._load_state_values(
            int(np.asarray(store["switch_step"])),
            float(np.asarray(store["peak_lr"])))
