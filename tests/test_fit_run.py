"""`FitRun`: one `fit` of an `AutoLR`, seen through real small fits."""

import os
import warnings

import numpy as np

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr.training import callback as callback_lib
from keras_autolr.training import engine as engine_lib
from keras_autolr._keras import keras
from keras_autolr.training.fit_run import FitRun
from keras_autolr import Options
from tests import _training

STEPS_PER_EPOCH = 14  # fit_small_digits: 1,400 digits, batch 100
PACKAGE = os.path.dirname(keras_autolr.__file__)


def test_each_fit_has_its_own_run_and_the_controller_goes_on():
    autolr = AutoLR(verbose=0, total_steps=10 * STEPS_PER_EPOCH)
    model = _training.fit_small_digits([autolr], epochs=2)
    first_run, controller = autolr._run, autolr.controller
    assert isinstance(first_run, FitRun)
    assert first_run.controller is controller
    model.fit(*_digits(), batch_size=100, epochs=2, verbose=0, callbacks=[autolr])
    assert autolr._run is not first_run  # a new run for the new fit
    assert autolr.controller is controller  # the same controller, continued
    assert controller.record.n_steps == 4 * STEPS_PER_EPOCH
    assert int(model.optimizer.iterations.numpy()) == 4 * STEPS_PER_EPOCH


def test_quiet_executions_are_counted_on_the_host_and_settled_at_the_end():
    autolr = AutoLR(verbose=0, total_steps=10 ** 4)  # tests far apart
    model = _training.fit_small_digits([autolr], epochs=2)
    run = autolr._run
    assert run.counter is not None and run.counter.enabled  # counting held
    assert run.counter.pending == []  # nothing left held after the fit
    steps = int(model.optimizer.iterations.numpy())
    assert run.steps_seen == steps == autolr.controller.record.n_steps
    assert np.all(np.isfinite(autolr.record.loss))


def test_an_epoch_stopped_early_hands_over_its_held_executions():
    """A callback stops training mid-epoch: the held counts are read exactly."""
    autolr = AutoLR(verbose=0, total_steps=10 ** 4)

    class StopAtSixthBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 5:
                self.model.stop_training = True

    model = _training.fit_small_digits([autolr, StopAtSixthBatch()], epochs=3)
    assert int(model.optimizer.iterations.numpy()) == 6
    assert autolr._run.steps_seen == 6
    assert autolr.controller.record.n_steps == 6
    assert np.all(np.isfinite(autolr.record.loss))


def test_without_a_host_counter_every_execution_is_read(monkeypatch):
    """benchmarks/speed.py and test_batch_counter.py turn counting off so."""
    monkeypatch.setattr(callback_lib, "BatchCounter", lambda steps: None)
    autolr = AutoLR(verbose=0, total_steps=10 ** 4)
    model = _training.fit_small_digits([autolr], epochs=2)
    assert autolr._run.counter is None
    steps = int(model.optimizer.iterations.numpy())
    assert autolr.controller.record.n_steps == steps == 2 * STEPS_PER_EPOCH
    assert np.all(np.isfinite(autolr.record.loss))


def test_warnings_name_the_same_frames_as_before_the_split():
    """Non-finite losses from step 200 on, no restore: the engine's line for
    each fault, the line of `fit` that ended training for the weights put
    back; the too-short warning names the callback's line."""
    caught = _warnings_of(_poisoned_fit)
    faults = [w for w in caught if "non-finite loss at step" in str(w.message)]
    assert faults and {w.filename for w in faults} == {engine_lib.__file__}
    assert all(w.category is RuntimeWarning for w in faults)
    (end,) = [w for w in caught if "not finite at the end" in str(w.message)]
    assert end.category is RuntimeWarning
    assert not end.filename.startswith(PACKAGE) and "callbacks" in end.filename

    def too_short():
        autolr = AutoLR(verbose=0, options=Options(sweep_start="min_lr"))
        x, y = _digits()
        _model().fit(x[:128], y[:128], batch_size=32, epochs=2, verbose=0,
                     callbacks=[autolr])  # 8 steps: the cap is step 4

    (short,) = [w for w in _warnings_of(too_short)
                if "too short for a test" in str(w.message)]
    assert short.category is UserWarning
    assert short.filename == callback_lib.__file__


def _model():
    return _training.compile_digits(_training.mlp(units=32), keras.optimizers.Adam())


def _digits():
    (x, y), _ = _training.digits()
    return x, y


def _warnings_of(function):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        function()
    return [w for w in caught if "AutoLR" in str(w.message)]


def _poisoned_fit():
    """Digits MLP with Adam; every loss from step 200 on is NaN."""
    _training.skip_if_the_loss_reads_the_optimizer()
    x, y = _digits()
    model = _training.mlp()
    optimizer = keras.optimizers.Adam()
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(y_true, y_pred):
        value = base(y_true, y_pred)
        return _training.nan_where(
            _training.ops.greater_equal(optimizer.iterations, 200), value)

    model.compile(optimizer=optimizer, loss=loss)
    autolr = AutoLR(verbose=0, options=Options(restore_on_fault=False))
    model.fit(x, y, batch_size=64, epochs=12, verbose=0, callbacks=[autolr])
    assert all(np.all(np.isfinite(w.numpy())) for w in model.weights)
