"""WarmupController: the loop from a loss record to one decision, unit by unit."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_autolr.decision import controller as controller_lib
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr.decision.options import DEFAULT_PEAK_FACTOR
from keras_autolr.decision.options import Options
from keras_autolr.schedule import AutoLRSchedule

from tests.conftest import falling
from tests.conftest import valley

SMALL_GP = Options(fit_points=50, predict_points=100, grid_points=100)
T = 400
W = T // 2


def _controller(check_every=10, **kwargs):
    schedule = AutoLRSchedule(total_steps=T)
    return WarmupController(schedule, WarmupDetector(SMALL_GP), check_every,
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
    # The peak: peak_factor x the LR chosen, never above the LR at the switch.
    assert controller.peak_lr == pytest.approx(DEFAULT_PEAK_FACTOR * controller.best_lr)
    assert controller.best_lr <= float(lr(controller.switch_step))


def test_at_the_cap_with_reached_the_peak_is_a_fraction_of_the_lr_reached():
    controller = _controller(check_every=1000, cap_peak="reached")
    _feed(controller, falling(T, n=W + 5))
    assert (controller.switch_step, controller.reason) == (W, controller_lib.CAP)
    reached = float(controller.schedule.warmup_lr(W - 1))
    assert controller.peak_lr == pytest.approx(DEFAULT_PEAK_FACTOR * reached)


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


def _state(controller):
    """Everything a decision depends on, as text (exact floats; NaN == NaN)."""
    return repr((controller.decision, controller.record.values.tolist(),
                 controller.points.x.tolist(), controller.points.y.tolist(),
                 controller.ends, controller.observed, controller.snapshot_steps,
                 controller.next_test, controller.best_lr))


@st.composite
def _runs(draw):
    total = draw(st.integers(30, 300))
    n = draw(st.one_of(st.integers(1, total), st.integers(total, total + 20)))
    losses = valley(2 * n, lr_min=draw(st.sampled_from([1e-3, 1e-1])),
                    seed=draw(st.integers(0, 2**16)), n=n)
    for _ in range(draw(st.integers(0, 3))):  # NaNs, infinities, -0.0
        losses[draw(st.integers(0, n - 1))] = draw(st.sampled_from(
            [math.nan, math.inf, -0.0]))
    lengths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=n))
    ends = np.minimum(np.cumsum(np.resize(lengths, n)), n)
    ends = np.unique(ends)
    options = dict(
        check_every=draw(st.sampled_from(["auto", 1, 7])),
        rewind=draw(st.booleans()), restore_on_fault=draw(st.booleans()),
        sweep=draw(st.booleans()), cap_peak=draw(st.sampled_from(["gp", "reached"])))
    return total, losses, ends, options


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_runs())
def test_whole_arrays_give_the_state_of_one_execution_at_a_time(run):
    _assert_batched_is_one_by_one(*run)


@pytest.mark.parametrize("total, n, sweep", [
    (120, 140, False),  # past the budget: no snapshot at or after it
    (300, 100, True),
])
def test_whole_arrays_keep_signed_zeros_and_the_end_of_the_budget(total, n, sweep):
    losses = valley(2 * n, n=n)
    losses[[3, 50, 90]] = -0.0  # np.mean of one -0.0 is 0.0
    ends = np.arange(1, n + 1)
    _assert_batched_is_one_by_one(total, losses, ends, dict(
        check_every=7, rewind=True, restore_on_fault=True, sweep=sweep,
        cap_peak="gp"))


def _assert_batched_is_one_by_one(total, losses, ends, options):
    options = dict(options)
    check_every = options.pop("check_every")

    def new():
        controller = WarmupController(
            AutoLRSchedule(total_steps=total), WarmupDetector(SMALL_GP),
            check_every, **options)
        controller.plan_snapshot()
        return controller

    one_by_one, batched = new(), new()
    start = 0
    for end in ends:
        one_by_one.observe(losses[start:end])
        one_by_one.pop_actions()
        start = end
    batched.observe_executions(losses[:ends[-1]], ends)
    batched.pop_actions()
    assert _state(batched) == _state(one_by_one)


@pytest.mark.parametrize("steps", [1, 3])
def test_observe_mean_gives_the_state_of_observe_on_the_full_execution(steps):
    n = 330
    losses = valley(2 * n, lr_min=1e-2, n=n // steps)
    losses[[5, 40]] = [-0.0, math.nan]

    def new():
        controller = WarmupController(AutoLRSchedule(total_steps=n),
                                      WarmupDetector(SMALL_GP), 4)
        controller.plan_snapshot()
        return controller

    full, mean = new(), new()
    for loss in losses:
        full.observe(np.full(steps, loss))
        mean.observe_mean(loss, steps)
        assert full.pop_actions() == mean.pop_actions()
    assert full.switch_step is not None  # the run crossed the switch
    assert _state(mean) == _state(full)


def _blow_up_between_two_copies(controller):
    """Feeds a falling record, then a blow-up (losses 20x the start) long
    enough that a copy is taken in it, then a recovery; meanwhile the
    detector's best LR jumps past both copies, as a test after a blow-up
    reads a dip at the sweep's end. Returns (copy before, copy in) the blow-up."""
    lr = controller.schedule.warmup_lr
    controller.plan_snapshot()
    record = falling(T, n=W - 1)
    losses = iter(record)

    def feed_until_a_new_copy(loss_of_step):
        newest = controller.snapshot_steps[-1]
        for _ in range(W):  # a copy is due at least every doubling of the LR
            controller.observe([loss_of_step()])
            if controller.snapshot_steps[-1] != newest:
                return controller.snapshot_steps[-1]
        raise AssertionError("no copy was taken")

    while controller.snapshot_steps[-1] < 60:
        feed_until_a_new_copy(lambda: next(losses))
    before = controller.snapshot_steps[-1]
    # The newest best LR a test located: at or below the copy before the blow-up.
    controller.best_lr = float(lr(before))
    during = feed_until_a_new_copy(lambda: 20.0 * record[0])
    controller.best_lr = float(lr(during + 5))  # a test reads the sweep's end
    feed_until_a_new_copy(lambda: next(losses))
    return before, during


def test_a_copy_taken_in_a_blow_up_is_passed_over_for_the_one_before_it():
    controller = _controller(check_every=1000)
    before, during = _blow_up_between_two_copies(controller)
    assert controller._damaged(during) and not controller._damaged(before)
    # Both copies lie at or before the best LR: the one kept is the newest
    # that the blow-up had not damaged.
    assert controller.snapshot_steps[0] == before
    # The cap's test then chooses an LR below both copies: the rewind puts
    # back the oldest held, taken before the blow-up.
    controller._end_warmup(controller.schedule.warmup_steps, 1e-6, controller_lib.CAP)
    assert controller.restored_step == before
    assert controller.pop_actions()[-1] == ("restore", before)


def test_without_a_blow_up_the_newest_copy_at_or_before_the_best_lr_is_kept():
    controller = _controller(check_every=1000)
    controller.plan_snapshot()
    losses = falling(T, n=W - 1)
    for loss in losses[:120]:
        controller.observe([loss])
    held = list(controller.snapshot_steps)
    assert not any(controller._damaged(s) for s in held)
    controller.best_lr = float(controller.schedule.warmup_lr(held[-1]))
    assert controller._copy_for(controller.best_lr) == held[-1]
    assert controller._copy_for(float(controller.schedule.warmup_lr(held[0]))) == held[0]
    assert controller._copy_for(0.5 * float(controller.schedule.warmup_lr(held[0]))) is None
