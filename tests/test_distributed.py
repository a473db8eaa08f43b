"""`keras_autolr.training.distributed` and `WarmupDriver`, in one process (issue 3).

Multi-process behaviour is tested in `test_distributed_mirrored.py` and
`test_distributed_multi_worker.py`; here: what holds on a single worker.
"""

import numpy as np
import pytest
import tensorflow as tf

import keras_autolr
from keras_autolr.decision import controller as controller_lib
from keras_autolr.training import distributed
from keras_autolr._keras import IS_KERAS_3, keras
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr import Options

from tests.conftest import valley

SMALL_GP = Options(fit_points=50, predict_points=100, grid_points=100)
T = 400


def test_single_worker_strategies_count_one_worker():
    assert distributed.num_workers(None) == 1
    assert distributed.num_workers(tf.distribute.get_strategy()) == 1
    assert distributed.num_workers(
        tf.distribute.MirroredStrategy(["/cpu:0"])) == 1


@pytest.mark.parametrize("decision", [
    distributed.SwitchDecision(None, None, None),
    distributed.SwitchDecision(123, 0.0123, controller_lib.DETECTED),
])
def test_agree_is_the_identity_on_one_worker(decision):
    assert distributed.agree(None, decision) is decision
    assert distributed.agree(tf.distribute.get_strategy(), decision) is decision


def test_every_reason_the_controller_gives_can_be_sent():
    reasons = {value for name, value in vars(controller_lib).items()
               if name.isupper() and isinstance(value, str)}
    assert reasons >= {"detected", "cap", "diverged", "restored", "short_budget"}
    assert reasons | {None} <= set(distributed._REASONS)


def _controller():
    schedule = keras_autolr.AutoLRSchedule(total_steps=T)
    return WarmupController(schedule, WarmupDetector(SMALL_GP), 10)


def test_chief_record_carries_the_saved_record_cut_at_the_weights_step():
    """What the chief saved, as every worker receives it: the record cut
    at `start` (an execution across it shortened, as `replay_until` cuts),
    NaN losses and unseen executions kept, the decision's steps."""
    from keras_autolr.training import state as state_lib
    losses = np.arange(16, dtype=np.float64) + 0.5
    losses[2] = np.nan
    saved = state_lib.SavedState(
        losses, ends=np.array([4, 8, 12, 16]),
        observed=np.array([True, False, True, True]),
        decision={"switch_step": None, "restored_step": None, "reason": None},
        snapshot_steps=[0, 8])
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    got = distributed.chief_record(strategy, saved, 10)
    np.testing.assert_array_equal(got.losses, losses[:10])  # NaN at 2 kept
    np.testing.assert_array_equal(got.ends, [4, 8, 10])
    np.testing.assert_array_equal(got.observed, [True, False, True])
    assert got.decision == {"switch_step": None, "restored_step": None}
    assert got.snapshot_steps is None  # the copies stay on the chief
    decided = saved._replace(decision={"switch_step": 12, "restored_step": 6})
    assert distributed.chief_record(strategy, decided, 16).decision == {
        "switch_step": 12, "restored_step": 6}
    assert distributed.chief_record(strategy, None, 10) is None  # no state
    with pytest.raises(state_lib.StateFileError, match="chief could not read"):
        distributed.chief_record(strategy, None, 10, failed=True)  # none waits


def test_agree_controller_takes_the_chiefs_switch(monkeypatch):
    chief = distributed.SwitchDecision(40, 0.0125, controller_lib.DETECTED, 0.04)
    monkeypatch.setattr(distributed, "agree", lambda strategy, local: chief)
    controller = _controller()
    assert distributed.agree_controller(None, controller)
    assert (controller.switch_step, controller.peak_lr, controller.reason,
            controller.best_lr) == chief
    assert not controller.warming_up


def test_the_rewind_follows_the_chiefs_best_lr(monkeypatch):
    """Workers whose own GP chose otherwise restore the chief's snapshot."""
    controller = _controller()
    controller.snapshot_steps = [10, 40]
    lr_at_10 = float(controller.schedule.warmup_lr(10))
    chief = distributed.SwitchDecision(45, 0.3 * lr_at_10, controller_lib.DETECTED,
                                       lr_at_10)
    monkeypatch.setattr(distributed, "agree", lambda strategy, local: chief)
    assert distributed.agree_controller(None, controller)
    assert controller.restored_step == 10
    assert controller.pop_actions() == [("restore", 10)]


def test_agree_controller_undoes_a_switch_the_chief_did_not_take(monkeypatch):
    chief = distributed.SwitchDecision(None, None, None)
    monkeypatch.setattr(distributed, "agree", lambda strategy, local: chief)
    controller = _controller()
    controller.switch_step, controller.peak_lr = 40, 0.0125
    controller.reason = controller_lib.DETECTED
    assert distributed.agree_controller(None, controller)
    assert controller.warming_up and controller.reason is None


def test_agree_controller_reports_no_change_when_workers_agree():
    controller = _controller()
    assert not distributed.agree_controller(None, controller)
    assert controller.warming_up


def _patch_two_workers(monkeypatch):
    monkeypatch.setattr(distributed, "num_workers", lambda strategy: 2)


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 `fit` runs multi-worker")
def test_keras_3_multi_worker_fit_is_refused_with_the_ways_that_work(monkeypatch):
    _patch_two_workers(monkeypatch)
    with pytest.raises(RuntimeError) as error:
        distributed.check_fit_supported(tf.distribute.get_strategy())
    message = str(error.value)
    assert "keras-team/keras#20585" in message
    assert "TF_USE_LEGACY_KERAS=1" in message and "tf-keras" in message
    assert "WarmupDriver" in message


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 `fit` runs multi-worker")
def test_autolr_refuses_keras_3_multi_worker_fit_before_training(monkeypatch):
    _patch_two_workers(monkeypatch)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.zeros((8, 4), "float32"), np.zeros((8, 1), "float32")
    with pytest.raises(RuntimeError, match="20585"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_check_fit_supported_accepts_one_worker():
    distributed.check_fit_supported(None)
    distributed.check_fit_supported(tf.distribute.get_strategy())


@pytest.mark.skipif(IS_KERAS_3, reason="Keras 3 `fit` cannot run multi-worker")
def test_keras_2_multi_worker_fit_is_accepted(monkeypatch):
    _patch_two_workers(monkeypatch)
    distributed.check_fit_supported(tf.distribute.get_strategy())


def test_zero_config_autolr_under_mirrored_strategy_mirrors_its_schedule():
    # Keras 2 keeps the replaced LR in a distributed variable, which has no
    # NumPy `__array__`: the callback must still describe and replace it.
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = np.random.default_rng(0).random((64, 4)).astype("float32")
    autolr = keras_autolr.AutoLR(options=SMALL_GP.replace(check_every=4), verbose=0)
    model.fit(x, x.sum(1, keepdims=True), epochs=4, batch_size=8, verbose=0,
              callbacks=[autolr])
    assert int(model.optimizer.iterations.numpy()) == 32
    for variable in autolr.schedule._state.values():
        assert isinstance(variable, tf.distribute.DistributedValues)


# ------------------------------------------------------------ WarmupDriver
def test_driver_decides_as_replay_on_the_same_losses():
    losses = valley(T, lr_min=1e-2, noise=0.02, seed=1)
    schedule = keras_autolr.AutoLRSchedule(total_steps=T)
    driver = keras_autolr.WarmupDriver(schedule, options=SMALL_GP.replace(check_every=10),
                                       verbose=0)
    for loss in losses:
        driver.on_step_end(loss)
        if not driver.warming_up:
            break
    expected = keras_autolr.replay(losses, total_steps=T,
                                   options=SMALL_GP.replace(check_every=10))
    assert expected.reason == "detected"
    assert driver.switch_step == expected.switch_step
    assert driver.peak_lr == expected.peak_lr
    assert driver.overridden == 0
    # The schedule the optimizer reads from has switched.
    assert schedule.switch_step == driver.switch_step
    assert schedule.peak_lr == pytest.approx(driver.peak_lr, rel=1e-7)


def test_driver_takes_a_tensor_loss_for_several_steps():
    schedule = keras_autolr.AutoLRSchedule(total_steps=T)
    driver = keras_autolr.WarmupDriver(schedule, verbose=0, options=SMALL_GP)
    driver.on_step_end(tf.constant(2.5), steps=4)
    assert driver.step == 4
    np.testing.assert_array_equal(driver.controller.record.values, [2.5] * 4)
    assert driver.learning_rate() == pytest.approx(float(schedule(4)))


def test_driver_resumes_a_decided_schedule():
    schedule = keras_autolr.AutoLRSchedule(total_steps=T, switch_step=50,
                                           peak_lr=0.01)
    driver = keras_autolr.WarmupDriver(schedule, verbose=0)
    assert not driver.warming_up
    assert driver.decision.reason == "restored"


def test_driver_needs_the_budget():
    with pytest.raises(ValueError, match="total_steps"):
        keras_autolr.WarmupDriver(keras_autolr.AutoLRSchedule())


def test_driver_has_no_epochs():
    with pytest.raises(ValueError, match="check_every='epoch'"):
        keras_autolr.WarmupDriver(keras_autolr.AutoLRSchedule(total_steps=T),
                                  options=Options(check_every="epoch"))


def test_driver_wants_one_loss():
    driver = keras_autolr.WarmupDriver(
        keras_autolr.AutoLRSchedule(total_steps=T), verbose=0)
    with pytest.raises(ValueError, match="scalar"):
        driver.on_step_end([1.0, 2.0])


def test_driver_rejects_a_schedule_of_another_kind():
    with pytest.raises(TypeError, match="AutoLRSchedule"):
        keras_autolr.WarmupDriver(keras.optimizers.schedules.ExponentialDecay(
            1e-3, 10, 0.9))
