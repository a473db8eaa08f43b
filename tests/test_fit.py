"""AutoLR inside `model.fit`: per-step losses, budget, logs, end to end."""

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr._keras import keras
from keras_autolr import Options
from keras_autolr import _keras
from tests import _training


def _label_model(spe):
    _training.skip_unless_steps_per_execution(spe)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(), loss=_training.label_loss,
                  steps_per_execution=spe)
    return model


def _expected_chunks(y, batch, spe, epochs):
    """Loss of each step: the sample-weighted mean label of its execution."""
    starts = list(range(0, len(y), batch))
    per_epoch = []
    for first in range(0, len(starts), spe):
        chunk = starts[first:first + spe]
        values = np.concatenate([y[s:s + batch] for s in chunk])
        per_epoch.extend([values.mean()] * len(chunk))
    return np.array(per_epoch * epochs)


@pytest.mark.parametrize("spe", [1, 3, 4])
def test_per_step_losses_are_recovered_exactly(spe):
    """37 samples, batch 4: 10 steps per epoch, the last one of 1 sample."""
    rng = np.random.default_rng(spe)
    x = rng.normal(size=(37, 3)).astype("float32")
    y = rng.uniform(0, 10, size=(37, 1)).astype("float32")
    autolr = AutoLR(total_steps=1000, verbose=0)
    model = _label_model(spe)
    model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0,
              callbacks=[autolr])
    record = autolr.record
    np.testing.assert_array_equal(record.step, np.arange(30))
    np.testing.assert_allclose(record.loss, _expected_chunks(y[:, 0], 4, spe, 3),
                               rtol=1e-5)


def test_learning_rate_is_logged_each_epoch_and_follows_the_schedule():
    (x, y), _ = _training.digits()
    autolr = AutoLR(verbose=0)
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    history = model.fit(x[:256], y[:256], batch_size=64, epochs=3, verbose=0,
                        callbacks=[autolr])
    logged = history.history["learning_rate"]
    assert len(logged) == 3
    expected = [float(autolr.schedule(4 * (e + 1))) for e in range(3)]
    np.testing.assert_allclose(logged, expected, rtol=1e-6)
    np.testing.assert_allclose(autolr.record.learning_rate,
                               _keras.to_numpy(autolr.schedule(np.arange(12))),
                               rtol=1e-6)


def test_zero_config_replaces_the_optimizer_learning_rate(capsys):
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam(1e-3))
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0,
              callbacks=[AutoLR(verbose=1)])
    out = capsys.readouterr().out
    assert "replacing the learning rate of Adam (0.001)" in out
    assert isinstance(model.optimizer._learning_rate, AutoLRSchedule)


def test_pair_form_uses_the_given_schedule():
    (x, y), _ = _training.digits()
    schedule = AutoLRSchedule()
    model = _training.compile_digits(
        _training.mlp(), keras.optimizers.Adam(learning_rate=schedule))
    autolr = AutoLR(schedule=schedule, verbose=0)
    model.fit(x[:128], y[:128], batch_size=64, epochs=2, verbose=0,
              callbacks=[autolr])
    assert autolr.schedule is schedule
    assert schedule.total_steps == 4


def test_budget_comes_from_total_steps_when_fit_cannot_tell():
    tf = pytest.importorskip("tensorflow")  # a tf.data pipeline
    (x, y), _ = _training.digits()
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).repeat()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    autolr = AutoLR(total_steps=50, verbose=0)
    model.fit(data, steps_per_epoch=5, epochs=2, verbose=0, callbacks=[autolr])
    assert autolr.schedule.total_steps == 50


def test_endless_dataset_without_a_budget_fails_before_the_first_step():
    tf = pytest.importorskip("tensorflow")  # a tf.data pipeline
    (x, y), _ = _training.digits()
    # `filter` hides the cardinality, as a generator or a file stream does.
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(64).repeat()
    data = data.filter(lambda a, b: True)
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    with pytest.raises(ValueError, match="total_steps"):
        model.fit(data, epochs=1, verbose=0, callbacks=[AutoLR(verbose=0)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_replay_equals_the_live_decision():
    """Same losses, same options, same seed: `replay` decides as `fit` did."""
    (x, y), _ = _training.digits()
    optimizer = _training.lamb() or keras.optimizers.Adam()
    model = _training.compile_digits(_training.mlp(), optimizer,
                                     steps_per_execution=4)
    autolr = AutoLR(verbose=0, options=Options(seed=5))
    model.fit(x, y, batch_size=64, epochs=10, verbose=0, callbacks=[autolr])
    live = autolr.decision
    assert live.tests, "the live run must have tested"
    offline = keras_autolr.replay(autolr.record.loss, total_steps=live.total_steps,
                                  steps_per_epoch=22, steps_per_execution=4,
                                  options=Options(seed=5),
                                  own_lr=float(np.float32(1e-3)))  # as the optimizer holds it
    assert offline.switch_step == live.switch_step
    assert offline.peak_lr == live.peak_lr
    assert offline.reason == live.reason
    assert offline.probabilities == live.probabilities


def _end_to_end(**compile_kwargs):
    (x, y), (x_test, y_test) = _training.digits()
    optimizer = _training.lamb()
    if optimizer is None:
        pytest.skip("no LAMB on this Keras (tensorflow-addons missing)")
    model = _training.compile_digits(_training.mlp(), optimizer, **compile_kwargs)
    autolr = AutoLR(verbose=0)
    model.fit(x, y, batch_size=64, epochs=20, verbose=0, callbacks=[autolr])
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    return autolr, accuracy


@pytest.mark.slow
def test_end_to_end_digits_with_lamb():
    autolr, accuracy = _end_to_end()
    assert autolr.decision.reason == "detected"
    assert autolr.switch_step < autolr.decision.warmup_steps
    assert float(autolr.schedule(autolr.schedule.total_steps)) == 0.0
    assert autolr.record.learning_rate[-1] < 1e-3 * autolr.peak_lr
    assert accuracy > 0.9  # chance is 0.1


@pytest.mark.slow
def test_end_to_end_digits_with_lamb_under_xla_and_steps_per_execution():
    autolr, accuracy = _end_to_end(jit_compile=True, steps_per_execution=4)
    assert autolr.decision.reason == "detected"
    # The host acts between executions: the switch is at an execution end
    # (every 4 steps within an epoch of 22 steps, and each epoch's end).
    within_epoch = autolr.switch_step % 22
    assert within_epoch % 4 == 0 or within_epoch == 0
    assert accuracy > 0.9
