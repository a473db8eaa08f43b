"""Keras' `EarlyStopping` beside AutoLR: it watches from the epoch in which warmup ends.

The sweep raises the loss on purpose at its end; an `EarlyStopping` counted
those epochs and stopped the run before the switch, with no decay.
"""

import types

import numpy as np

import keras_autolr
from keras_autolr._keras import keras
from keras_autolr.training.early_stopping import EarlyStoppingAfterWarmup
from tests import _training

EPOCHS, BATCH = 24, 64  # 1,120 digits after the split: 18 steps per epoch


class _EpochEnds(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = []

    def on_epoch_end(self, epoch, logs=None):
        self.steps.append(int(np.asarray(self.model.optimizer.iterations)))


def _fit(callbacks):
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, validation_split=0.2,
              verbose=0, callbacks=callbacks)
    return model


def test_early_stopping_waits_for_the_switch_and_watches_from_its_epoch():
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True)
    autolr, ends = keras_autolr.AutoLR(verbose=0), _EpochEnds()
    _fit([stopping, autolr, ends])
    switch = autolr.decision.switch_step
    assert switch is not None  # the sweep was not cut short
    switch_epoch = next(e for e, step in enumerate(ends.steps) if step >= switch)
    # Stopped, if at all, only after the epoch of the switch was watched.
    assert stopping.stopped_epoch == 0 or stopping.stopped_epoch > switch_epoch
    assert stopping.start_from_epoch == 0  # the user's own, put back


def test_the_users_later_start_from_epoch_is_kept():
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", start_from_epoch=20)
    held = EarlyStoppingAfterWarmup([stopping, types.SimpleNamespace()])
    held.epoch_begins(3, sweeping=True)
    assert stopping.start_from_epoch == 20
    held.release()
    assert stopping.start_from_epoch == 20


def test_each_epoch_of_the_sweep_is_skipped_and_the_switch_epoch_is_watched():
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss")
    held = EarlyStoppingAfterWarmup([stopping])
    held.epoch_begins(0, sweeping=True)
    assert stopping.start_from_epoch == 1
    held.epoch_begins(5, sweeping=True)
    assert stopping.start_from_epoch == 6
    held.switched(5)
    assert stopping.start_from_epoch == 5
    held.epoch_begins(6, sweeping=False)
    assert stopping.start_from_epoch == 5
    held.release()
    assert stopping.start_from_epoch == 0 and held.held == []
