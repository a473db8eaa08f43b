"""The sweep's lease: a sweep no `AutoLR` watches falls back to the own LR.

A `fit` stopped during warmup (a notebook's interrupt) left the schedule
sweeping on the optimizer; a `fit` without AutoLR after it swept on to
`max_lr` (the digits MLP: 47.4 % against 89.7 % with the lease). The schedule now sweeps only up to
the lease the callback renews (keras_autolr/training/lease.py).
"""

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from keras_autolr.schedule_state import ScheduleState
from keras_autolr.training import lease
from tests import _training

OWN_LR = 1e-3


def _lr(schedule, step):
    return float(_keras.to_numpy(schedule(step)))


def _schedule(**kwargs):
    return AutoLRSchedule(total_steps=100, min_lr=OWN_LR, max_lr=1.0, **kwargs)


def test_past_its_lease_the_sweep_runs_at_min_lr():
    schedule = _schedule()
    schedule.lease(20)
    assert schedule.lease_end == 20
    assert schedule.switch_step is None  # still warming up
    np.testing.assert_allclose(_lr(schedule, 19), schedule.warmup_lr(19), rtol=1e-5)
    assert _lr(schedule, 19) > 10 * OWN_LR
    for step in (20, 50, 70, 99):  # past the cap (50) too: no decay from max_lr
        assert _lr(schedule, step) == pytest.approx(OWN_LR, rel=1e-6)
    assert _lr(schedule, 100) == 0.0  # the budget's end, as without a lease


def test_without_a_lease_the_sweep_runs_to_its_cap():
    # A schedule no AutoLR drives, or a lease lifted: as before.
    schedule = _schedule()
    schedule.lease(20)
    schedule.lease(None)
    assert schedule.lease_end is None
    np.testing.assert_allclose(_lr(schedule, 49), schedule.warmup_lr(49), rtol=1e-5)
    assert _lr(schedule, 50) == pytest.approx(1.0, rel=1e-5)  # decays from the cap


def test_a_switch_ends_the_lease_and_a_reset_keeps_it():
    schedule = _schedule()
    schedule.lease(20)
    schedule.reset()  # back to warmup: the lease holds on
    assert schedule.lease_end == 20 and _lr(schedule, 30) == pytest.approx(OWN_LR)
    schedule.switch(15, 0.05)
    assert schedule.lease_end is None and schedule.switch_step == 15
    assert _lr(schedule, 15) == pytest.approx(0.05, rel=1e-6)  # the decay, not min_lr
    assert 0.0 < _lr(schedule, 60) < 0.05
    schedule.lease(40)  # nothing once switched
    assert schedule.switch_step == 15 and schedule.lease_end is None


@pytest.mark.parametrize("value", [0, -3])
def test_a_lease_must_be_a_positive_step(value):
    with pytest.raises(ValueError, match=f"until_step={value}"):
        _schedule().lease(value)


def test_the_lease_travels_in_the_checkpoint():
    saved = _schedule()
    saved.lease(20)
    store = {}
    ScheduleState(saved).save_own_variables(store)
    for built in (False, True):  # a file read before AutoLR builds the schedule, or after
        loaded = _schedule()
        if built:
            loaded.build()
        ScheduleState(loaded).load_own_variables(store)
        assert loaded.switch_step is None and loaded.lease_end == 20
        assert _lr(loaded, 25) == pytest.approx(OWN_LR)
        np.testing.assert_allclose(_lr(loaded, 10), saved.warmup_lr(10), rtol=1e-5)


def test_the_lease_travels_in_the_config():
    # A `.keras` file: what the loaded optimizer's schedule starts from.
    leased = _schedule()
    leased.lease(20)
    config = leased.get_config()
    assert config["lease_end"] == 20 and config["switch_step"] is None
    loaded = AutoLRSchedule.from_config(config)
    assert loaded.lease_end == 20 and _lr(loaded, 25) == pytest.approx(OWN_LR)
    # Without a lease, or once switched, no such key: older versions load it.
    assert "lease_end" not in _schedule().get_config()
    leased.switch(15, 0.05)
    assert "lease_end" not in leased.get_config()
    with pytest.raises(ValueError, match="lease_end=0"):
        _schedule(lease_end=0)


def test_the_lease_reaches_as_far_as_the_sweep_doubles_the_lr():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    schedule = AutoLRSchedule(total_steps=220, min_lr=OWN_LR, max_lr=1.0)
    # Cap 110 steps for 3 decades: the LR doubles in 11 steps.
    assert lease.lease_steps(model, schedule) == 11
    long_budget = AutoLRSchedule(total_steps=100_000, min_lr=OWN_LR, max_lr=1.0)
    assert lease.lease_steps(model, long_budget) == lease.MAX_DOUBLING_STEPS
    if _keras.IS_KERAS_3 and keras.backend.backend() == "torch":
        return  # one step per execution there
    model.compile(loss="mse", steps_per_execution=32)
    assert lease.lease_steps(model, schedule) == 4 * 32  # past the next execution
    if not _keras.IS_KERAS_3:
        # Keras 2 tunes the execution's length up to the epoch's.
        tuned = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        tuned.compile(loss="mse", steps_per_execution="auto")
        assert lease.lease_steps(tuned, schedule, steps_per_epoch=22) == 4 * 22


def _interrupted_digits_fit(step):
    """The digits MLP, Adam at its default LR, `AutoLR()`, stopped at `step` of 220."""
    (x, y), _ = _training.digits()
    model = _training.compile_digits(
        _training.mlp(), keras.optimizers.Adam(learning_rate=OWN_LR))
    autolr = AutoLR(verbose=0)
    with pytest.raises(KeyboardInterrupt):  # 22 steps per epoch, 220 in all
        model.fit(x, y, batch_size=64, epochs=10, verbose=0,
                  callbacks=[autolr, _training.Interrupt(step)])
    return model, autolr


@pytest.mark.parametrize("interrupt_at", [30, 50])
def test_a_fit_without_autolr_after_an_interrupted_sweep_trains_at_the_own_lr(
        interrupt_at):
    model, autolr = _interrupted_digits_fit(interrupt_at)
    (x, y), (x_test, y_test) = _training.digits()
    schedule = autolr.schedule
    assert autolr.switch_step is None  # stopped during the sweep
    step = int(_keras.to_numpy(model.optimizer.iterations))
    end = schedule.lease_end
    # At most one lease past the host's next look, the next execution it
    # would have read (the first past the horizon of those it counts).
    reach = lease.lease_steps(model, schedule)
    next_look = max(step, autolr.controller.quiet_until())
    assert step < end <= next_look + reach
    assert _lr(schedule, end - 1) <= 2.0 * _lr(schedule, end - reach) * 1.0001
    for t in (end, end + 50, 219):  # past the cap (110) too
        assert _lr(schedule, t) == pytest.approx(OWN_LR, rel=1e-5)
    model.fit(x, y, batch_size=64, epochs=3, verbose=0)  # no AutoLR
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    assert accuracy > 0.8  # 0.53 and 0.28 when the sweep went on to max_lr


def test_a_fit_that_ends_during_warmup_ends_the_lease_and_the_next_renews_it():
    (x, y), _ = _training.digits()
    model = _training.compile_digits(
        _training.mlp(), keras.optimizers.Adam(learning_rate=OWN_LR))
    # A budget of two fits: the first ends during the sweep.
    autolr = AutoLR(total_steps=440, verbose=0)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0, callbacks=[autolr])
    step = int(_keras.to_numpy(model.optimizer.iterations))
    assert step == 44 and autolr.switch_step is None
    assert autolr.schedule.lease_end == step  # no host looks past here
    assert _lr(autolr.schedule, step) == pytest.approx(OWN_LR, rel=1e-5)
    # The same AutoLR in the next fit sweeps on from where it was.
    record = _RecordLR(autolr.schedule)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[autolr, record])
    assert autolr.switch_step is None  # still sweeping (cap at 220)
    steps = np.array([s for s, _ in record.seen])
    np.testing.assert_array_equal(steps, np.arange(44, 66))
    np.testing.assert_allclose([lr for _, lr in record.seen],
                               autolr.schedule.warmup_lr(steps), rtol=1e-5)


class _RecordLR(keras.callbacks.Callback):
    """The step and the schedule's LR before each batch (`self.model` syncs JAX's state)."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        step = int(_keras.to_numpy(self.model.optimizer.iterations))
        self.seen.append((step, _lr(self.schedule, step)))


def test_a_model_saved_during_the_sweep_keeps_its_lease(tmp_path):
    model, autolr = _interrupted_digits_fit(40)
    (x, y), (x_test, y_test) = _training.digits()
    path = str(tmp_path / "sweeping.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    schedule = _keras.raw_learning_rate(loaded.optimizer)
    assert isinstance(schedule, AutoLRSchedule) and schedule.switch_step is None
    assert schedule.lease_end == autolr.schedule.lease_end
    assert _lr(schedule, schedule.lease_end) == pytest.approx(OWN_LR, rel=1e-5)
    loaded.fit(x, y, batch_size=64, epochs=3, verbose=0)  # no AutoLR
    assert loaded.evaluate(x_test, y_test, verbose=0)[1] > 0.8
