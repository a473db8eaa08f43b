"""`WarmupDriver(model=...)`: the rewind and the copies in a loop you write,
on every backend (the loop here is `train_on_batch`, one step a call)."""

import collections
import warnings

import numpy as np
import pytest

import keras_autolr
from keras_autolr import Options
from keras_autolr import _keras
from keras_autolr._keras import keras
from keras_autolr.training import engine

from tests import _training

BATCH, EPOCHS = 64, 12  # 22 steps an epoch on 1,400 digits: 264 steps


def _pair(seed=0):
    """The digits MLP with Adam reading a new `AutoLRSchedule` (264 steps)."""
    (x, y), _ = _training.digits()
    steps = EPOCHS * -(-len(x) // BATCH)
    schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
    model = _training.mlp(seed=seed)
    _training.compile_digits(model, keras.optimizers.Adam(learning_rate=schedule),
                             metrics=None)
    return model, schedule, x, y


def _batches(x, y):
    for _ in range(EPOCHS):
        for start in range(0, len(x), BATCH):
            yield x[start:start + BATCH], y[start:start + BATCH]


def test_the_driver_with_the_model_rewinds_as_fit_does():
    options = Options(seed=0)
    model, schedule, x, y = _pair()
    autolr = keras_autolr.AutoLR(schedule=schedule, options=options, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[autolr])
    model_loop, schedule_loop, _, _ = _pair()
    driver = keras_autolr.WarmupDriver(schedule_loop, options=options, verbose=0,
                                       model=model_loop)
    for inputs, labels in _batches(x, y):
        driver.on_step_end(model_loop.train_on_batch(inputs, labels))
    fit_decision, loop_decision = autolr.decision, driver.decision
    assert int(model.optimizer.iterations) == schedule.total_steps == 264
    assert fit_decision.restored_step is not None  # the overshoot was rewound
    assert (loop_decision.switch_step, loop_decision.reason, loop_decision.restored_step) == (
        fit_decision.switch_step, fit_decision.reason, fit_decision.restored_step)
    assert loop_decision.peak_lr == pytest.approx(fit_decision.peak_lr, rel=1e-6)
    for a, b in zip(model.get_weights(), model_loop.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_without_the_model_the_loop_keeps_its_weights_and_decides_as_fit():
    """With the optimizer alone: no copies; on JAX the compiled step reads
    the switch only through the optimizer's variables."""
    options = Options(seed=0, rewind=False, restore_on_fault=False)
    model, schedule, x, y = _pair()
    autolr = keras_autolr.AutoLR(schedule=schedule, options=options, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[autolr])
    model_loop, schedule_loop, _, _ = _pair()
    driver = keras_autolr.WarmupDriver(schedule_loop, options=Options(seed=0), verbose=0,
                                       optimizer=model_loop.optimizer)
    assert driver.snapshot is None
    for inputs, labels in _batches(x, y):
        driver.on_step_end(model_loop.train_on_batch(inputs, labels))
    assert driver.decision.restored_step is None
    assert driver.switch_step == autolr.decision.switch_step is not None
    for a, b in zip(model.get_weights(), model_loop.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_a_loop_started_again_mid_sweep_counts_from_the_optimizers_step(tmp_path):
    """The loop saved at step 60 of the sweep (a `.keras` file) and started
    again from it with a new driver, without a backup. Before, the new
    driver counted from 0: on TensorFlow it switched at step 46 of its own
    count, decayed from 5.2e-5 (0.0089 uninterrupted) and ended at 94.0 %
    (98.2 %)."""
    driver, model, caught, started = _restarted_loop(tmp_path, backup_at=None)
    assert [w.category for w in caught] == [UserWarning]
    assert "optimizer is at step 60, so the sweep" in str(caught[0].message)
    assert caught[0].filename == __file__  # the line that created the driver
    assert started.snapshot_steps == [60]
    assert started.learning_rate == pytest.approx(started.schedule_lr)
    decision = driver.decision
    assert driver.step == int(model.optimizer.iterations) == 264
    assert decision.switch_step == _keras.raw_learning_rate(model.optimizer).switch_step > 60
    assert 60 <= decision.restored_step < decision.switch_step
    assert not [r for r in decision.tests if r.step <= 60]  # no test of the lost losses
    whole, _ = _uninterrupted()
    assert 0.25 < decision.peak_lr / whole.decision.peak_lr < 4.0


Started = collections.namedtuple(
    "Started", ["snapshot_steps", "learning_rate", "schedule_lr"])


def _restarted_loop(directory, backup_at, restart_at=60, with_model=True,
                    options=Options(seed=0)):
    """The digits loop, saved to a `.keras` file at `restart_at` and started
    again from it with a new driver; with `backup_at`, the drivers have
    `backup_dir` and `backup()` runs after step `backup_at`. Returns the
    last driver, the model, the new driver's warnings and what it held
    when created (`Started`)."""
    model, schedule, x, y = _pair()
    backup_dir = None if backup_at is None else directory

    def new_driver():
        copies = dict(model=model) if with_model else dict(optimizer=model.optimizer)
        return keras_autolr.WarmupDriver(schedule, options=options, verbose=0,
                                         backup_dir=backup_dir, **copies)

    driver = new_driver()
    caught = started = None
    for index, (inputs, labels) in enumerate(_batches(x, y)):
        if index == backup_at:
            driver.backup()
        if index == restart_at:
            model.save(str(directory / "loop.keras"))
            model = keras.models.load_model(str(directory / "loop.keras"))
            schedule = _keras.raw_learning_rate(model.optimizer)
            assert isinstance(schedule, keras_autolr.AutoLRSchedule)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                driver = new_driver()
            caught = [w for w in caught if "AutoLR" in str(w.message)]
            assert driver.step == restart_at
            started = Started(driver.snapshot and driver.snapshot.steps,
                              driver.learning_rate(), float(schedule(restart_at)))
        driver.on_step_end(model.train_on_batch(inputs, labels))
    return driver, model, caught, started


def _uninterrupted(with_model=True, options=Options(seed=0)):
    model, schedule, x, y = _pair()
    copies = dict(model=model) if with_model else dict(optimizer=model.optimizer)
    driver = keras_autolr.WarmupDriver(schedule, options=options, verbose=0, **copies)
    for inputs, labels in _batches(x, y):
        driver.on_step_end(model.train_on_batch(inputs, labels))
    return driver, model


@pytest.mark.parametrize("with_model", [True, False], ids=["model", "optimizer"])
def test_a_loop_started_again_from_its_backup_goes_on_as_the_uninterrupted_one(
        tmp_path, with_model):
    """`backup()` at the checkpoint's step: the new driver takes back the
    record (and, with the model, the copies the rewind may use), so it
    decides, rewinds and trains as if the loop had never stopped. Without
    the backup it switched at 125, not 94, from a peak twice as high."""
    driver, model, caught, _ = _restarted_loop(tmp_path, backup_at=60, with_model=with_model)
    assert not caught  # no "the sweep goes on from there": the record is back
    whole, whole_model = _uninterrupted(with_model)
    decision, expected = driver.decision, whole.decision
    assert decision.switch_step == expected.switch_step > 60
    assert decision.peak_lr == expected.peak_lr
    assert decision.restored_step == expected.restored_step
    assert (expected.restored_step is not None) == with_model
    assert len(decision.tests) == len(expected.tests)
    assert [r.probability for r in decision.tests] == [r.probability for r in expected.tests]
    for a, b in zip(model.get_weights(), whole_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_loop_started_again_in_the_decay_from_its_backup_goes_on_alike(tmp_path):
    """Past the switch the schedule holds the decision; the backup brings
    back the record and the decay guard's count too."""
    driver, model, caught, _ = _restarted_loop(tmp_path, backup_at=150, restart_at=150)
    assert not caught
    whole, whole_model = _uninterrupted()
    assert whole.switch_step < 150
    assert driver.decision.switch_step == whole.decision.switch_step
    assert driver.decision.restored_step == whole.decision.restored_step
    assert driver.controller.decay_peak_lr == whole.controller.decay_peak_lr
    assert driver.decision.faults == whole.decision.faults
    for a, b in zip(model.get_weights(), whole_model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_backup_older_than_the_checkpoint_keeps_its_record_and_takes_new_copies(
        tmp_path):
    """The backup of step 55, the checkpoint of step 60: the record up to 55
    comes back (steps 55 to 60 are unknown losses), its copies do not fit the
    weights of step 60, so the driver says so and takes new ones."""
    driver, _, caught, _ = _restarted_loop(tmp_path, backup_at=55)
    assert [str(w.message) for w in caught] == [
        f"AutoLR: the snapshots saved with {tmp_path / 'autolr_state.npz'} are of "
        "step 55, the weights restored of step 60; the rewind uses snapshots "
        "taken from step 60 on."]
    decision = driver.decision
    assert [r for r in decision.tests if r.step <= 55]  # the record came back
    assert 60 < decision.switch_step and 60 <= decision.restored_step


def test_a_backup_is_taken_back_only_with_the_same_options(tmp_path):
    model, schedule, x, y = _pair()
    driver = keras_autolr.WarmupDriver(schedule, options=Options(seed=0), verbose=0,
                                       model=model, backup_dir=tmp_path)
    batches = _batches(x, y)
    for _ in range(10):
        driver.on_step_end(model.train_on_batch(*next(batches)))
    driver.backup()
    with pytest.raises(ValueError, match="other options: seed=0 there, seed=1 here"):
        keras_autolr.WarmupDriver(schedule, options=Options(seed=1), verbose=0,
                                  model=model, backup_dir=tmp_path)


def test_backup_needs_a_backup_dir():
    driver = keras_autolr.WarmupDriver(keras_autolr.AutoLRSchedule(total_steps=50),
                                       verbose=0)
    with pytest.raises(ValueError, match="Received backup_dir=None"):
        driver.backup()
    with pytest.raises(TypeError, match="Received backup_dir=3"):
        keras_autolr.WarmupDriver(keras_autolr.AutoLRSchedule(total_steps=50),
                                  verbose=0, backup_dir=3)


def test_a_spent_budget_is_refused_with_the_step():
    model, schedule, x, y = _pair()
    model.optimizer.iterations.assign(schedule.total_steps)
    with pytest.raises(ValueError, match="budget of 264 steps is spent.*optimizer.iterations=264"):
        keras_autolr.WarmupDriver(schedule, verbose=0, model=model)


def _ten_steps_with_the_model():
    """The digits pair after 10 `train_on_batch` steps under a driver with the model."""
    model, schedule, x, y = _pair()
    driver = keras_autolr.WarmupDriver(schedule, options=Options(seed=0), verbose=0,
                                       model=model)
    batches = _batches(x, y)
    for _ in range(10):
        driver.on_step_end(model.train_on_batch(*next(batches)))
    return model, driver


def test_a_fault_in_the_loop_is_put_right_and_warned():
    """A non-finite loss: the driver puts back the newest copy, as `fit` does."""
    model, driver = _ten_steps_with_the_model()
    held = driver.snapshot.steps
    before = [w.copy() for w in driver.snapshot.held(held[-1])[0]]
    for weight in model.weights:  # what a NaN step leaves
        weight.assign(np.full(weight.shape, np.nan, "float32"))
    with pytest.warns(RuntimeWarning, match="non-finite loss at step 10; the weights") as caught:
        driver.on_step_end(float("nan"))
    assert {w.filename for w in caught if "AutoLR" in str(w.message)} == {
        engine.__file__}  # the engine's line, as in fit
    assert driver.decision.faults == [(10, f"restored {held[-1]}")]
    for weight, value in zip(model.get_weights(), before):
        np.testing.assert_array_equal(weight, value)


def test_the_loop_never_ends_on_non_finite_weights():
    """`on_train_end`, as `AutoLR` at the end of `fit`: the newest copy."""
    model, driver = _ten_steps_with_the_model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        driver.on_train_end()  # finite: nothing to do
    assert not [w for w in caught if "AutoLR" in str(w.message)]
    newest = driver.snapshot.steps[-1]
    copy = [w.copy() for w in driver.snapshot.held(newest)[0]]
    for weight in model.weights:  # a last step that left NaN, unseen by the driver
        weight.assign(np.full(weight.shape, np.nan, "float32"))
    with pytest.warns(RuntimeWarning, match=f"restored from the copy of step {newest}") as caught:
        driver.on_train_end()
    assert {w.filename for w in caught if "AutoLR" in str(w.message)} == {
        __file__}  # the caller's line
    for weight, value in zip(model.get_weights(), copy):
        np.testing.assert_array_equal(weight, value)
    bare = keras_autolr.WarmupDriver(keras_autolr.AutoLRSchedule(total_steps=50),
                                     verbose=0)
    bare.on_train_end()  # no model: nothing to put back


def test_the_model_needs_its_optimizer():
    schedule = keras_autolr.AutoLRSchedule(total_steps=100)
    with pytest.raises(ValueError, match="optimizer=None and model.optimizer=None"):
        keras_autolr.WarmupDriver(schedule, model=_training.mlp())
    with pytest.raises(TypeError, match="Received model='a model'"):
        keras_autolr.WarmupDriver(schedule, model="a model",
                                  optimizer=keras.optimizers.Adam())
