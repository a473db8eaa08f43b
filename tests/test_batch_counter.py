"""BatchCounter: executions counted on the host, checked at the next exact read."""

import math

import numpy as np
import pytest

import keras_autolr
from keras_autolr.training import callback as callback_lib
from keras_autolr.training.batch_counter import BatchCounter
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr import Options

from tests._training import compile_digits
from tests._training import digits
from tests._training import mlp
from tests.conftest import falling


class _Tracker:
    """A loss tracker as Keras keeps it: a weighted sum and a count."""

    def __init__(self):
        self.total, self.count = 0.0, 0.0

    def add(self, loss, weight):
        self.total += loss * weight
        self.count += weight

    @property
    def mean(self):
        return self.total / self.count


def _exact(tracker, seen):
    """What `ExecutionLossReader.read` gives since the totals in `seen`."""
    total, count = seen
    return (tracker.total - total) / (tracker.count - count)


def _epoch(counter, losses, weights, horizon=10 ** 9, start_step=0):
    """Runs one epoch of one-step executions; returns what was handed over."""
    tracker = _Tracker()
    counter.start_epoch()
    handed, seen, step_seen = [], (0.0, 0.0), start_step
    for batch, (loss, weight) in enumerate(zip(losses, weights)):
        tracker.add(loss, weight)
        if counter.take(batch, tracker.mean, horizon):
            continue
        step = start_step + batch + 1
        handed += counter.settle(batch, step, tracker.total, tracker.count,
                                 _exact(tracker, seen), step - step_seen,
                                 tracker.mean)
        seen, step_seen = (tracker.total, tracker.count), step
    return handed


def test_counted_executions_are_the_exact_means_of_their_steps():
    losses = np.linspace(3.0, 1.0, 20)
    counter = BatchCounter(steps_per_epoch=20)
    handed = _epoch(counter, losses, [32] * 19 + [7], horizon=15)
    assert [steps for _, steps in handed] == [1] * 20
    np.testing.assert_allclose([loss for loss, _ in handed], losses, rtol=1e-12)
    assert counter.enabled


def test_what_is_recorded_does_not_depend_on_which_executions_were_read():
    # Keras logs a float32 running mean; a resumed run reads at other
    # executions than the run never interrupted (its snapshots differ).
    rng = np.random.default_rng(0)
    losses = 2.0 + 0.1 * rng.normal(size=40)

    class Float32Tracker(_Tracker):
        @property
        def mean(self):
            return float(np.float32(self.total) / np.float32(self.count))

    handed = []
    for horizon in (7, 23, 10 ** 9):
        counter = BatchCounter(steps_per_epoch=40)
        tracker, seen, step_seen, out = Float32Tracker(), (0.0, 0.0), 0, []
        counter.start_epoch()
        for batch, loss in enumerate(losses):
            tracker.add(loss, 32)
            if counter.take(batch, tracker.mean, horizon):
                continue
            step = batch + 1
            out += counter.settle(batch, step, tracker.total, tracker.count,
                                  _exact(tracker, seen), step - step_seen,
                                  tracker.mean)
            seen, step_seen = (tracker.total, tracker.count), step
        handed.append(out)
    assert handed[0] == handed[1] == handed[2]  # bit for bit
    np.testing.assert_allclose([loss for loss, _ in handed[0]], losses, rtol=1e-5)


def test_only_the_first_at_the_horizon_and_the_last_execution_read_exactly():
    counter = BatchCounter(steps_per_epoch=20)
    tracker, reads = _Tracker(), []
    counter.start_epoch()
    seen, step_seen = (0.0, 0.0), 0
    for batch in range(20):
        tracker.add(2.0 - 0.01 * batch, 32)
        if counter.take(batch, tracker.mean, horizon=9):
            continue
        reads.append(batch + 1)
        step = batch + 1
        counter.settle(batch, step, tracker.total, tracker.count,
                       _exact(tracker, seen), step - step_seen, tracker.mean)
        seen, step_seen = (tracker.total, tracker.count), step
    # Step 1 (the base), 9 and every step after it (at or past the horizon).
    assert reads == [1] + list(range(9, 21))


def test_unequal_batches_hand_the_held_steps_over_as_one_exact_execution():
    losses = np.linspace(3.0, 1.0, 12)
    weights = [32, 32, 32, 16, 32, 32, 32, 32, 32, 32, 32, 32]
    counter = BatchCounter(steps_per_epoch=12)
    handed = _epoch(counter, losses, weights, horizon=6)
    # Steps 2-5 were held under a count of 32 per step; step 4 had 16.
    assert handed[0] == (pytest.approx(losses[0]), 1)
    assert handed[1][1] == 5
    expected = np.average(losses[1:6], weights=weights[1:6])
    assert handed[1][0] == pytest.approx(expected, rel=1e-12)
    assert not counter.enabled
    assert sum(steps for _, steps in handed) == 12


def test_a_step_counter_that_moved_otherwise_hands_over_one_exact_execution():
    counter = BatchCounter(steps_per_epoch=10)
    tracker = _Tracker()
    counter.start_epoch()
    tracker.add(2.0, 8)
    counter.settle(0, 1, tracker.total, tracker.count, 2.0, 1, tracker.mean)
    for batch in (1, 2):
        tracker.add(1.5, 8)
        assert counter.take(batch, tracker.mean, horizon=100)
    tracker.add(1.0, 8)
    # The optimizer took 5 steps where 3 batches were counted (it steps
    # twice in some batches): the truth is its counter.
    chunks = counter.settle(3, 6, tracker.total, tracker.count,
                            (1.5 * 16 + 8.0) / 24, 5, tracker.mean)
    assert chunks == [(pytest.approx((1.5 * 16 + 8.0) / 24), 5)]
    assert not counter.enabled
    assert not counter.take(4, tracker.mean, horizon=100)


def test_a_non_finite_loss_is_placed_at_its_own_execution():
    losses = [2.0, 1.9, 1.8, math.nan, 1.7, 1.6]
    counter = BatchCounter(steps_per_epoch=6)
    handed = _epoch(counter, losses, [32] * 6)
    assert [steps for _, steps in handed] == [1] * 6
    assert [math.isfinite(loss) for loss, _ in handed] == [True] * 3 + [False] * 3
    assert counter.enabled


def test_a_logged_loss_that_is_not_the_trackers_mean_turns_counting_off():
    counter = BatchCounter(steps_per_epoch=10)
    counter.start_epoch()
    counter.settle(0, 1, 64.0, 32.0, 2.0, 1, logged=7.0)  # the batch's own loss
    assert not counter.enabled
    assert not counter.take(1, 2.0, horizon=100)


def test_nothing_is_held_before_a_read_after_a_reset_or_past_the_horizon():
    counter = BatchCounter(steps_per_epoch=10)
    assert not counter.take(0, 2.0, horizon=100)  # no exact read yet
    counter.start_epoch()
    counter.settle(0, 1, 64.0, 32.0, 2.0, 1, logged=2.0)
    assert not counter.take(1, 2.0, horizon=2)  # step 2 is the horizon
    assert not counter.take(1, math.nan, horizon=100)
    assert not counter.take(1, None, horizon=100)
    assert not counter.take(9, 2.0, horizon=100)  # the epoch's last step
    assert counter.take(1, 2.0, horizon=100)
    counter.settle(2, 3, 192.0, 96.0, 2.0, 2, logged=2.0)
    counter.invalidate()  # e.g. a snapshot restored: Keras' tracker was reset
    assert not counter.take(3, 2.0, horizon=100)


def test_an_early_end_hands_the_held_executions_over_as_counted():
    counter = BatchCounter(steps_per_epoch=10)
    counter.start_epoch()
    counter.settle(0, 1, 64.0, 32.0, 2.0, 1, logged=2.0)
    assert counter.take(1, 1.5, horizon=100)  # sum 96 over 64
    assert counter.pending == [(1.0, 1)]
    chunks = counter.settle(None, 2, 96.0, 64.0, 1.0, 1)
    assert chunks == [(1.0, 1)]
    assert counter.enabled and counter.pending == []


def test_quiet_until_is_the_first_step_at_which_an_execution_does_more():
    schedule = AutoLRSchedule(total_steps=400)
    controller = WarmupController(
        schedule, WarmupDetector(fit_points=50, predict_points=100,
                                 grid_points=100), check_every=30)
    controller.plan_snapshot()
    controller.pop_actions()
    acted_at = []
    for loss in falling(400, n=120):
        quiet = controller.quiet_until()
        assert quiet > controller.record.n_steps
        tests = len(controller.detector.results)
        controller.observe_mean(loss)
        acted = bool(controller.pop_actions()) or (
            len(controller.detector.results) != tests)
        step = controller.record.n_steps
        assert acted == (step >= quiet), step  # never early, never late
        if acted:
            acted_at.append(step)
    assert {30, 60, 90, 120} <= set(acted_at)  # the tests
    assert len(acted_at) > 4  # and snapshots between them


def _fit(counting, steps_per_execution=1, epochs=4, batch_size=32):
    (x, y), _ = digits()
    model = compile_digits(mlp(seed=0, units=32), "adam",
                           steps_per_execution=steps_per_execution)
    autolr = keras_autolr.AutoLR(verbose=0, options=Options(seed=0))
    original = callback_lib.BatchCounter
    if not counting:
        callback_lib.BatchCounter = lambda steps: None
    try:
        model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0,
                  callbacks=[autolr])
    finally:
        callback_lib.BatchCounter = original
    return model, autolr


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_fit_counting_on_the_host_decides_as_reading_every_execution(
        steps_per_execution):
    # 1,400 digits in batches of 32: 44 steps, the last of 24 samples.
    counted_model, counted = _fit(True, steps_per_execution)
    exact_model, exact = _fit(False, steps_per_execution)
    assert counted.switch_step == exact.switch_step
    assert counted.peak_lr == pytest.approx(exact.peak_lr, rel=1e-6)
    assert [t.step for t in counted.decision.tests] == [
        t.step for t in exact.decision.tests]
    # The same losses, up to float32's rounding of Keras' running mean.
    np.testing.assert_allclose(counted.record.loss, exact.record.loss,
                               rtol=1e-4, atol=1e-5)
    assert len(counted.record.loss) == int(counted_model.optimizer.iterations)
