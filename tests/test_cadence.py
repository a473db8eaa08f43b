"""TestCadence: when the next test is due."""

import math

import pytest

from keras_autolr import warmup
from keras_autolr.decision.cadence import GROWTH
from keras_autolr.decision.cadence import TestCadence

CURVE = dict(min_lr=1e-5, max_lr=1.0, warmup_steps=1000)


def _lr(step, kind):
    return float(warmup.warmup_lr(step, kind=kind, **CURVE))


@pytest.mark.parametrize("kind", ["exponential", "linear"])
@pytest.mark.parametrize("step", [0, 1, 37, 400, 900])
def test_auto_spaces_tests_by_the_most_steps_over_which_the_lr_grows_at_most_1_2x(
        kind, step):
    cadence = TestCadence("auto", warmup=kind, **CURVE)
    due = cadence.next_due(step)
    assert due > step
    if due - step == 1:  # the floor: one step already grows the LR more
        assert _lr(step + 1, kind) > GROWTH * _lr(step, kind)
        return
    assert _lr(due, kind) <= GROWTH * _lr(step, kind) * (1 + 1e-12)
    if due + 1 <= CURVE["warmup_steps"]:  # past the cap the LR stops growing
        assert _lr(due + 1, kind) > GROWTH * _lr(step, kind)


def test_auto_gives_about_63_tests_over_the_default_exponential_warmup():
    cadence = TestCadence("auto", warmup="exponential", **CURVE)
    step, tests = 0, 0
    while step < CURVE["warmup_steps"]:
        step = cadence.next_due(step)
        tests += 1
    expected = math.log(CURVE["max_lr"] / CURVE["min_lr"]) / math.log(GROWTH)
    assert abs(tests - expected) <= 5  # 63.1, less the floor's rounding


def test_auto_steps_at_least_one_step_at_the_cap():
    cadence = TestCadence("auto", warmup="linear", **CURVE)
    assert cadence.next_due(5000) >= 5001


def test_an_int_tests_every_that_many_steps():
    cadence = TestCadence(7, warmup="exponential", **CURVE)
    assert [cadence.next_due(s) for s in (0, 7, 10)] == [7, 14, 17]


def test_epoch_tests_at_the_next_epoch_end():
    cadence = TestCadence("epoch", warmup="exponential", steps_per_epoch=50, **CURVE)
    assert [cadence.next_due(s) for s in (0, 49, 50, 51)] == [50, 50, 100, 100]


def test_epoch_without_steps_per_epoch_is_refused_naming_it():
    with pytest.raises(ValueError, match="steps_per_epoch=None"):
        TestCadence("epoch", warmup="exponential", **CURVE)
