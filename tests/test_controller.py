"""WarmupController: the loop from a loss record to one decision, unit by unit."""

import math

import numpy as np
import pytest

from keras_autolr import controller as controller_lib
from keras_autolr.controller import WarmupController
from keras_autolr.detector import WarmupDetector
from keras_autolr.schedule import AutoLRSchedule

from tests.conftest import falling
from tests.conftest import valley

SMALL_GP = dict(fit_points=50, predict_points=100, grid_points=100)
T = 400
W = T // 2


def _controller(check_every=10, **kwargs):
    schedule = AutoLRSchedule(total_steps=T)
    return WarmupController(schedule, WarmupDetector(**SMALL_GP), check_every,
                            **kwargs)


def _feed(controller, losses, per_execution=1):
    results = {}
    for start in range(0, len(losses), per_execution):
        result = controller.observe(losses[start:start + per_execution])
        if result is not None:
            results[controller.record.n_steps] = result
        if not controller.warming_up:
            break
    return results


def test_tests_run_exactly_at_the_due_steps():
    controller = _controller(check_every=10)
    results = _feed(controller, falling(T, n=60))
    assert sorted(results) == [10, 20, 30, 40, 50, 60]
    assert [r.step for r in results.values()] == [10, 20, 30, 40, 50, 60]


def test_an_execution_is_one_gp_point_at_its_mean_step_and_loss():
    controller = _controller(check_every=1000)
    controller.observe([1.0, 2.0, 3.0])
    controller.observe([4.0, math.nan, 6.0])  # a non-finite loss: no point
    controller.observe([7.0])
    np.testing.assert_array_equal(controller.points.x, [1.0, 6.0])
    np.testing.assert_array_equal(controller.points.y, [2.0, 7.0])
    assert controller.record.n_steps == 7
    assert controller.ends == [3, 6, 7]


def test_a_valley_is_detected_past_its_minimum_from_a_fraction_of_the_best_lr():
    controller = _controller(check_every=5)
    _feed(controller, valley(T, lr_min=1e-2))
    assert controller.reason == controller_lib.DETECTED
    lr = controller.schedule.warmup_lr
    assert float(lr(controller.switch_step)) > 1e-2  # after the minimum
    # The peak: 0.3 x the LR chosen, never above the LR at the switch.
    assert controller.peak_lr == pytest.approx(0.3 * controller.best_lr)
    assert controller.best_lr <= float(lr(controller.switch_step))


def test_at_the_cap_with_reached_the_peak_is_a_fraction_of_the_lr_reached():
    controller = _controller(check_every=1000, cap_peak="reached")
    _feed(controller, falling(T, n=W + 5))
    assert (controller.switch_step, controller.reason) == (W, controller_lib.CAP)
    reached = float(controller.schedule.warmup_lr(W - 1))
    assert controller.peak_lr == pytest.approx(0.3 * reached)


def test_without_a_sweep_warmup_ends_at_the_cap_from_the_whole_max_lr():
    controller = _controller(sweep=False)
    results = _feed(controller, falling(T, n=W + 5))
    assert results == {}  # no test at all
    assert (controller.switch_step, controller.reason) == (
        W, controller_lib.SHORT_BUDGET)
    assert controller.peak_lr == pytest.approx(controller.schedule.max_lr)


def test_the_own_lr_floor_holds_the_peak_up_but_never_past_the_lr_at_the_switch():
    controller = _controller(check_every=1000, cap_peak="reached", min_peak=10.0)
    _feed(controller, falling(T, n=W + 5))
    assert controller.peak_lr == pytest.approx(float(controller.schedule.warmup_lr(W)))


def test_a_lone_early_nan_restores_the_newest_snapshot_and_warmup_goes_on():
    controller = _controller(check_every=1000)
    controller.plan_snapshot()
    assert controller.pop_actions() == [("snapshot", 0, ())]
    _feed(controller, falling(T, n=30))
    newest = controller.snapshot_steps[-1]
    assert newest > 0
    controller.pop_actions()
    controller.observe([math.nan])  # step 30
    assert controller.warming_up
    assert controller.faults == [(30, f"restored {newest}")]
    assert controller.pop_actions() == [("restore", newest)]


def test_snapshots_follow_lr_doublings_and_at_most_two_are_held():
    controller = _controller(check_every=1000)
    controller.plan_snapshot()
    taken = []
    for step, loss in enumerate(falling(T, n=W - 1)):
        controller.observe([loss])
        for action in controller.pop_actions():
            assert action[0] == "snapshot"
            taken.append(action[1])
        assert len(controller.snapshot_steps) <= controller_lib.SNAPSHOT_SLOTS
    lr = controller.schedule.warmup_lr
    for before, after in zip(taken, taken[1:]):
        assert float(lr(after)) >= 2.0 * float(lr(before))
        assert float(lr(after - 1)) < 2.0 * float(lr(before)) or (
            after - before == max(1, T // controller_lib.SNAPSHOT_SPACING_DIVISOR))


def test_replaying_a_saved_record_with_skipped_steps_gives_the_same_state():
    live = _controller(check_every=5)
    live.skip(7)  # steps trained before this record began: never seen
    losses = valley(T, lr_min=1e-2)
    _feed(live, losses[7:], per_execution=3)
    resumed = _controller(check_every=5)
    resumed.replay_until(live.record.values, live.ends, live.observed,
                         live.record.n_steps)
    assert resumed.decision == live.decision
    np.testing.assert_array_equal(resumed.points.x, live.points.x)
    np.testing.assert_array_equal(resumed.points.y, live.points.y)
    assert resumed.observed[0] is False
