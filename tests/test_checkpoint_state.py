"""The schedule's decision travels in the optimizer's checkpoint.

A model saved after AutoLR's switch, restored into a fresh model and
optimizer, keeps the switch step and peak LR, and the next `fit` with a
default `AutoLR()` decays from them: `ModelCheckpoint` weights, `.keras`
files, `BackupAndRestore` (without AutoLR's own state file) and
`tf.train.Checkpoint`. Files written without AutoLR load into a model with
it, and the other way round, with the optimizer's slots restored.

The model is one `Dense(1)` unit trained by plain SGD on the mean of its
predictions: the gradient of the bias is exactly 1, so each step moves the
bias by minus the LR the optimizer applied.
"""

import gc
import logging
import os
import warnings

import numpy as np
import pytest
import tensorflow as tf

import keras_autolr
from keras_autolr import schedule_state
from keras_autolr.training import state as state_lib
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras

TOTAL, SWITCH, PEAK = 200, 3, 0.02
BATCH = 8  # 4 steps per epoch of 32 samples
X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
Y = np.zeros((32, 1), "float32")


def _mean_prediction(y_true, y_pred):
    return y_pred[:, 0] + 0.0 * y_true[:, 0]


def _model(optimizer=None):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.01),
                  loss=_mean_prediction)
    return model


def _decay_lr(step):
    """The cosine decay from PEAK at SWITCH to 0 at TOTAL."""
    f = (step - SWITCH) / (TOTAL - SWITCH)
    return np.float32(PEAK * 0.5 * (1.0 + np.cos(np.pi * f)))


def _weights_path(tmp_path):
    # Keras 2 saves the optimizer only in the TensorFlow format (no suffix).
    return str(tmp_path / ("w.weights.h5" if IS_KERAS_3 else "w"))


class _Switch(keras.callbacks.Callback):
    """Ends warmup at SWITCH with PEAK at the first epoch end, as AutoLR would."""

    def __init__(self, autolr):
        super().__init__()
        self.autolr = autolr

    def on_epoch_end(self, epoch, logs=None):
        self.autolr.schedule.switch(SWITCH, PEAK)


class _AppliedLR(keras.callbacks.Callback):
    """The LR each step applied: minus the bias' change (its gradient is 1)."""

    def __init__(self):
        super().__init__()
        self.steps, self.lrs = [], []

    def _bias(self):
        return np.asarray(self.model.layers[-1].bias.numpy(), np.float32)[0]

    def on_train_batch_begin(self, batch, logs=None):
        self._step = int(self.model.optimizer.iterations.numpy())
        self._before = self._bias()

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._step)
        self.lrs.append(self._before - self._bias())


# Keras 3's public `learning_rate` setter, which a default `AutoLR()` uses,
# untracks the optimizer's learning-rate variable: its variable count then
# differs from an optimizer without AutoLR (Keras 3 skips the slots of a file
# with another count), and `tf.train.Checkpoint` refuses to save the mutated
# variable list. So on Keras 3 these tests give the schedule to the optimizer
# (the pair form), which has no learning-rate variable from the start.
PAIR = IS_KERAS_3


def _sgd(momentum=0.0, autolr_form=PAIR):
    lr = keras_autolr.AutoLRSchedule(total_steps=TOTAL) if autolr_form else 0.01
    return keras.optimizers.SGD(lr, momentum=momentum)


def _switched_model(callbacks=(), epochs=1, momentum=0.0):
    """An AutoLR fit whose schedule switched at SWITCH with PEAK."""
    model = _model(_sgd(momentum))
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[autolr, _Switch(autolr), *callbacks])
    assert autolr.schedule.switch_step == SWITCH
    return model


def _fresh(momentum=0.0, autolr_form=PAIR):
    return _model(_sgd(momentum, autolr_form))


def _assert_decays_from_the_saved_switch(model, initial_epoch=0, callbacks=()):
    """A following `fit` with `AutoLR()` decays from SWITCH and PEAK."""
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    applied = _AppliedLR()
    model.fit(X, Y, batch_size=BATCH, epochs=initial_epoch + 1, verbose=0,
              shuffle=False, initial_epoch=initial_epoch,
              callbacks=[autolr, applied, *callbacks])
    assert autolr.schedule.switch_step == SWITCH
    assert autolr.schedule.peak_lr == pytest.approx(PEAK)
    assert autolr.switch_step == SWITCH  # the callback's decision too
    assert applied.steps == [4, 5, 6, 7]  # the restored step counter
    np.testing.assert_allclose(
        applied.lrs, [_decay_lr(t) for t in applied.steps], rtol=1e-3)


def _attached(model):
    """A default AutoLR set on `model`, as `fit` does before anything else."""
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    autolr.set_model(model)
    return autolr


# ------------------------------------------------ restoring the decision
def test_model_checkpoint_weights_restore_the_switch(tmp_path):
    path = _weights_path(tmp_path)
    _switched_model([keras.callbacks.ModelCheckpoint(path, save_weights_only=True)])
    model = _fresh()
    model.optimizer.build(model.trainable_variables)  # Keras 3 loads built ones
    _attached(model)
    model.load_weights(path)
    _assert_decays_from_the_saved_switch(model)


@pytest.mark.skipif(IS_KERAS_3, reason="Keras 3 reads weights files into "
                    "existing objects only: AutoLR must be set on the model first")
def test_weights_loaded_before_fit_restore_the_switch_when_autolr_starts(tmp_path):
    # TensorFlow's object graph keeps what it could not place yet and
    # applies it when AutoLR creates the state (restore-on-create).
    path = _weights_path(tmp_path)
    _switched_model().save_weights(path)
    model = _fresh()
    model.load_weights(path)
    _assert_decays_from_the_saved_switch(model)


def test_keras_file_restores_the_switch(tmp_path):
    path = str(tmp_path / "model.keras")
    _switched_model().save(path)
    model = keras.models.load_model(
        path, custom_objects={"_mean_prediction": _mean_prediction})
    _assert_decays_from_the_saved_switch(model)


def test_backup_and_restore_restores_the_switch_without_autolrs_own_file(tmp_path):
    backup_dir = str(tmp_path / "backup")
    _switched_model([keras.callbacks.BackupAndRestore(
        backup_dir, delete_checkpoint=False)])
    # Only the optimizer's checkpoint carries the decision now.
    os.remove(state_lib.state_path(backup_dir))
    _assert_decays_from_the_saved_switch(
        _fresh(), initial_epoch=1,
        callbacks=[keras.callbacks.BackupAndRestore(backup_dir)])


@pytest.mark.parametrize("restore", ["after_set_model", "before_fit"])
def test_tf_train_checkpoint_restores_the_switch(tmp_path, restore):
    model = _switched_model()
    path = tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(
        str(tmp_path / "ckpt"))
    fresh = _fresh()
    if restore == "after_set_model":
        _attached(fresh)
    tf.train.Checkpoint(model=fresh, optimizer=fresh.optimizer).restore(path)
    _assert_decays_from_the_saved_switch(fresh)


# ------------------------------------------------------- compatibility
class _TFLogWarnings(logging.Handler):
    """TensorFlow's log warnings, e.g. checkpoint values left unused."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def __enter__(self):
        logging.getLogger("tensorflow").addHandler(self)
        return self

    def __exit__(self, *exc):
        gc.collect()  # TF logs unused values when the load status goes
        logging.getLogger("tensorflow").removeHandler(self)


def _momentums(model):
    variables = model.optimizer.variables
    variables = variables() if callable(variables) else variables
    return [v.numpy() for v in variables if v is not model.optimizer.iterations
            and "learning_rate" not in v.name]


def _save(model, tmp_path, how):
    if how == "weights":
        path = _weights_path(tmp_path)
        model.save_weights(path)
        return path
    return tf.train.Checkpoint(model=model, optimizer=model.optimizer).save(
        str(tmp_path / "ckpt"))


def _load(model, path, how):
    """Loads `path`; returns the warnings given (Python's and TensorFlow's log)."""
    # Keras 3 loads an optimizer's slots only once it is built.
    model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught, _TFLogWarnings() as logged:
        warnings.simplefilter("always")
        if how == "weights":
            model.load_weights(path)
        else:
            tf.train.Checkpoint(model=model, optimizer=model.optimizer).restore(path)
    return [str(w.message) for w in caught] + logged.messages


def _assert_same_slots(model, saved):
    restored, original = _momentums(model), _momentums(saved)
    assert len(restored) == len(original) == 2
    for a, b in zip(restored, original):
        np.testing.assert_array_equal(a, b)
    assert int(model.optimizer.iterations.numpy()) == 4


def _without_autolr(model):
    model.fit(X, Y, batch_size=BATCH, verbose=0, shuffle=False)
    return model


def _autolr_without_state(model):
    """As a keras_autolr without this state saved: the schedule, no `ScheduleState`."""
    model.fit(X, Y, batch_size=BATCH, verbose=0, shuffle=False,
              callbacks=[keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)])
    delattr(model.optimizer, schedule_state.ATTRIBUTE)
    return model


@pytest.mark.parametrize("how", ["weights", "tf_checkpoint"])
@pytest.mark.parametrize("saved_by", [
    pytest.param("plain", marks=pytest.mark.skipif(
        IS_KERAS_3, reason="Keras 3: an AutoLR optimizer has no learning-rate "
        "variable, so its count differs from a plain one's (see PAIR)")),
    "autolr_without_state",
])
def test_files_saved_without_the_state_load_into_an_autolr_optimizer(
        tmp_path, how, saved_by):
    if saved_by == "plain":
        saved = _without_autolr(_fresh(momentum=0.9, autolr_form=False))
    else:
        saved = _autolr_without_state(_fresh(momentum=0.9))
    path = _save(saved, tmp_path, how)
    model = _fresh(momentum=0.9)
    autolr = _attached(model)
    messages = _load(model, path, how)
    assert not messages, messages  # no mismatch, nothing left unused
    _assert_same_slots(model, saved)
    assert autolr.schedule.switch_step is None  # nothing to restore: warmup


@pytest.mark.parametrize("how", ["weights", "tf_checkpoint"])
def test_files_saved_with_the_state_load_into_an_optimizer_without_autolr(tmp_path, how):
    saved = _switched_model(momentum=0.9)
    path = _save(saved, tmp_path, how)
    model = _fresh(momentum=0.9)  # Keras 2: a plain SGD; Keras 3: see PAIR
    messages = _load(model, path, how)
    assert not [m for m in messages if "mismatch" in m or "Skipping" in m], messages
    _assert_same_slots(model, saved)
