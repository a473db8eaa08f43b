"""Where the sweep starts: at the optimizer's own LR, whatever the budget."""

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr import Options
from keras_autolr._keras import keras
from tests import _training


def _fit(epochs, **options):
    """Digits MLP with Adam (own LR 1e-3), 22 steps per epoch."""
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    autolr = AutoLR(verbose=0, options=Options(**options))
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=0, callbacks=[autolr])
    return autolr


@pytest.mark.parametrize("epochs", [2, 6])  # 44 and 132 steps
def test_the_sweep_starts_at_the_own_lr_and_replay_agrees(epochs):
    autolr = _fit(epochs=epochs)
    lrs = np.asarray(autolr.record.learning_rate)
    np.testing.assert_allclose(lrs[0], 1e-3, rtol=1e-6)
    switch = autolr.switch_step
    assert np.all(np.diff(lrs[:switch]) > 0)  # still a sweep, upwards
    own_lr = float(np.float32(1e-3))  # as the optimizer holds it
    offline = keras_autolr.replay(autolr.record.loss, total_steps=22 * epochs,
                                  steps_per_epoch=22, own_lr=own_lr)
    assert (offline.switch_step, offline.peak_lr, offline.reason) == (
        autolr.switch_step, autolr.peak_lr, autolr.decision.reason)
    assert offline.restored_step == autolr.decision.restored_step


@pytest.mark.parametrize("epochs", [2, 6])
def test_sweep_start_min_lr_sweeps_from_min_lr_whatever_the_budget(epochs):
    autolr = _fit(epochs=epochs, sweep_start="min_lr")  # the paper's sweep
    np.testing.assert_allclose(autolr.record.learning_rate[0], 1e-5, rtol=1e-6)


def test_the_pair_form_keeps_its_schedule():
    """No own LR to start from: the schedule the user built is left alone."""
    schedule = keras_autolr.AutoLRSchedule()
    (x, y), _ = _training.digits()
    model = _training.compile_digits(
        _training.mlp(), keras.optimizers.Adam(learning_rate=schedule))
    autolr = AutoLR(schedule=schedule, verbose=0)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[autolr])
    np.testing.assert_allclose(autolr.record.learning_rate[0], 1e-5, rtol=1e-6)
