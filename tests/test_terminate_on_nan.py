"""Keras' `TerminateOnNaN` beside AutoLR: it stops only a NaN that AutoLR did not repair.

A digits MLP with Adam, fed by a generator whose step `NAN_STEP` has NaN
sample weights (its loss and gradients are NaN: the weights turn NaN). AutoLR
puts back its newest copy and trains on; a `TerminateOnNaN` in the same list,
before or after AutoLR, must not end that run (it did: 31 steps of 264).
Runs on every backend (no loss reads the optimizer).
"""

import inspect
import types

import numpy as np
import pytest

import keras_autolr
from keras_autolr import Options
from keras_autolr._keras import keras
from keras_autolr.training.terminate_on_nan import HeldTerminateOnNaN
from tests import _training

EPOCHS, BATCH, STEPS_PER_EPOCH = 12, 64, 22  # 264 steps
NAN_STEP = 30  # mid-warmup: the second epoch
RAISES = "raise_error" in inspect.signature(keras.callbacks.TerminateOnNaN).parameters


def _fit(callbacks, nan_step=NAN_STEP, epochs=EPOCHS):
    (x, y), _ = _training.digits()  # 1,400: 21 batches of 64 and one of 56
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam(), metrics=None)
    history = model.fit(_training.nan_weight_batches(x, y, BATCH, nan_step),
                        steps_per_epoch=STEPS_PER_EPOCH,
                        epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks)
    finite = all(np.all(np.isfinite(np.asarray(w.numpy()))) for w in model.weights)
    return model, history, finite


def _terminate(raise_error=False):
    if raise_error:
        return keras.callbacks.TerminateOnNaN(raise_error=True)
    return keras.callbacks.TerminateOnNaN()


@pytest.mark.parametrize("raise_error", [False, True] if RAISES else [False])
@pytest.mark.parametrize("order", ["before", "after"])
def test_a_nan_autolr_restored_does_not_stop_the_run(order, raise_error):
    terminate, autolr = _terminate(raise_error), keras_autolr.AutoLR(verbose=0)
    callbacks = [terminate, autolr] if order == "before" else [autolr, terminate]
    with pytest.warns(RuntimeWarning, match="non-finite loss at step 30"):
        model, history, finite = _fit(callbacks)
    assert autolr.decision.faults[0][0] == NAN_STEP
    assert autolr.decision.faults[0][1].startswith("restored")
    assert len(history.history["loss"]) == EPOCHS and finite
    assert np.isfinite(history.history["loss"]).all()
    # The hold is lifted with the fit: the callback checks on its own again.
    assert "on_batch_end" not in vars(terminate)


@pytest.mark.parametrize("order", ["before", "after"])
def test_a_nan_autolr_did_not_restore_still_stops_the_run(order):
    terminate = keras.callbacks.TerminateOnNaN()
    autolr = keras_autolr.AutoLR(
        verbose=0, options=Options(restore_on_fault=False, rewind=False))
    callbacks = [terminate, autolr] if order == "before" else [autolr, terminate]
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        model, history, _ = _fit(callbacks)
    # Stopped at the end of the NaN's step, in the second epoch, as without AutoLR.
    assert int(np.asarray(model.optimizer.iterations)) == NAN_STEP + 1
    assert len(history.history["loss"]) == 2


def test_without_a_nan_terminate_on_nan_changes_nothing():
    plain = keras_autolr.AutoLR(verbose=0)
    _fit([plain], nan_step=None, epochs=4)
    beside = keras_autolr.AutoLR(verbose=0)
    _fit([keras.callbacks.TerminateOnNaN(), beside], nan_step=None, epochs=4)
    np.testing.assert_array_equal(beside.record.loss, plain.record.loss)


def _held_pair():
    """A `TerminateOnNaN` held before a stand-in AutoLR, in a stand-in fit."""
    autolr = types.SimpleNamespace(params={"steps": 3})
    terminate = keras.callbacks.TerminateOnNaN()
    terminate.set_params(autolr.params)
    terminate.set_model(types.SimpleNamespace(stop_training=False))
    return terminate, HeldTerminateOnNaN(autolr, [terminate, autolr])


def test_a_held_check_waits_for_autolr_and_runs_when_it_did_not_restore():
    terminate, held = _held_pair()
    terminate.on_batch_end(0, {"loss": np.nan})
    assert not terminate.model.stop_training  # AutoLR has not read it yet
    held.batch_read(restored=True)
    assert not terminate.model.stop_training
    terminate.on_batch_end(1, {"loss": np.nan})
    held.batch_read(restored=False)
    assert terminate.model.stop_training


def test_a_hold_left_by_a_fit_that_raised_lifts_itself_in_the_next_fit():
    terminate, held = _held_pair()
    assert held.held == [terminate]
    # The next fit, without that AutoLR: Keras hands the callback new params.
    terminate.set_params({"steps": 3})
    terminate.on_batch_end(0, {"loss": np.inf})
    assert terminate.model.stop_training
    assert "on_batch_end" not in vars(terminate)
