"""Keras' `OrbaxCheckpoint` beside AutoLR (Keras 3.15+, JAX, `orbax-checkpoint`).

CI's jax lane installs orbax-checkpoint (.ci/requirements-jax.txt); elsewhere
this module is skipped. The models are functional: Keras itself does not
restore a `Sequential` model's weights from an Orbax checkpoint
(keras-team/keras#23251, the same without AutoLR).
"""

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from tests import _training

pytest.importorskip("orbax.checkpoint")
if not _keras.IS_KERAS_3 or keras.backend.backend() != "jax":
    pytest.skip("OrbaxCheckpoint is tested on JAX", allow_module_level=True)
if not hasattr(keras.callbacks, "OrbaxCheckpoint"):
    pytest.skip("Keras has no OrbaxCheckpoint before 3.15", allow_module_level=True)

OWN_LR = 1e-3


def _functional_digits_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(64, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    return _training.compile_digits(model, keras.optimizers.Adam(learning_rate=OWN_LR))


def _checkpoint(directory, save_freq):
    return keras.callbacks.OrbaxCheckpoint(
        str(directory), save_freq=save_freq, save_on_background=False)


def _schedule_of(model):
    schedule = _keras.raw_learning_rate(model.optimizer)
    assert isinstance(schedule, AutoLRSchedule)
    return schedule


def test_a_checkpoint_of_a_finished_run_restores_the_weights_and_the_decision(tmp_path):
    (x, y), (x_test, y_test) = _training.digits()
    model = _functional_digits_model()
    autolr = AutoLR(verbose=0)
    model.fit(x, y, batch_size=64, epochs=10, verbose=0,
              callbacks=[autolr, _checkpoint(tmp_path / "ckpt", "epoch")])
    assert autolr.switch_step is not None
    loaded = keras.saving.load_model(str(tmp_path / "ckpt"))
    for saved, restored in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(_keras.to_numpy(saved), _keras.to_numpy(restored))
    schedule = _schedule_of(loaded)
    assert schedule.switch_step == autolr.switch_step
    assert schedule.peak_lr == pytest.approx(autolr.peak_lr, rel=1e-6)
    for step in (0, autolr.switch_step, 200):  # the same LRs, the decay's too
        assert float(schedule(step)) == pytest.approx(
            float(autolr.schedule(step)), rel=1e-6)
    assert (loaded.evaluate(x_test, y_test, verbose=0)[1]
            == model.evaluate(x_test, y_test, verbose=0)[1])


def test_a_checkpoint_taken_during_the_sweep_keeps_its_lease(tmp_path):
    (x, y), (x_test, y_test) = _training.digits()
    model = _functional_digits_model()
    with pytest.raises(KeyboardInterrupt):  # 22 steps an epoch, 220 in all
        model.fit(x, y, batch_size=64, epochs=10, verbose=0,
                  callbacks=[AutoLR(verbose=0), _checkpoint(tmp_path / "ckpt", 15),
                             _training.Interrupt(32)])
    loaded = keras.saving.load_model(str(tmp_path / "ckpt"))
    step = int(_keras.to_numpy(loaded.optimizer.iterations))
    assert step == 30  # the newest checkpoint: every 15 steps
    schedule = _schedule_of(loaded)
    assert schedule.switch_step is None and schedule.lease_end is not None
    assert step < schedule.lease_end < 64
    # Past the lease, the sweep stops at the own LR instead of going on to 1.0.
    assert float(schedule(schedule.lease_end)) == pytest.approx(OWN_LR)
    assert float(schedule(109)) == pytest.approx(OWN_LR)
    loaded.fit(x, y, batch_size=64, epochs=3, verbose=0)  # no AutoLR
    assert loaded.evaluate(x_test, y_test, verbose=0)[1] > 0.8
