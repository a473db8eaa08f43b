"""The learning rate the optimizer really applies, read back from the weights.

Plain SGD (no momentum) on a linear model without bias, `y = x . w`, with the
loss `mean(y)`: the gradient of a batch is the mean of its inputs. Every
row of the batch of step `t` is `C * e_t` (the `t`-th unit vector), so step
`t` moves weight `t` alone, by exactly `-lr_t * C`, and no other step moves
it. After `fit`, `(w0 - w) / C` is the LR applied at every step, whatever
`steps_per_execution` groups them into. It is compared with the formulas of
docs/algorithm.md (the paper's rule 2 and 6) with the decision's switch
step and peak LR: exponential warmup before the switch, cosine decay after.

The loss the callback records at step `t` is `C * w0[t]` (weight `t` has not
moved yet), so `w0` sets the loss curve: a valley in log-LR, which the
detector finds, so that the run crosses the switch.
"""

import math

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

TOTAL = 301  # one epoch: 100 executions of 3 steps, then one of 1
BATCH = 2
C = 1000.0  # input scale: updates of ~C * lr stand well above float32 rounding
MIN_LR, MAX_LR = 1e-5, 1.0


def _warmup_formula(steps):
    w = TOTAL // 2
    return MIN_LR * (MAX_LR / MIN_LR) ** (np.asarray(steps, np.float64) / w)


def _formula(steps, switch_step, peak_lr):
    """docs/algorithm.md: exponential warmup, then cosine decay to 0 at T."""
    steps = np.asarray(steps, np.float64)
    f = (steps - switch_step) / (TOTAL - switch_step)
    decayed = peak_lr / 2.0 * (1.0 + np.cos(math.pi * f))
    return np.where(steps < switch_step, _warmup_formula(steps), decayed)


def _train(steps_per_execution):
    _training.skip_unless_steps_per_execution(steps_per_execution)
    steps = np.arange(TOTAL)
    rng = np.random.default_rng(0)
    lr = _warmup_formula(np.minimum(steps, TOTAL // 2))
    loss = 1.0 + 0.5 * (np.log10(lr) + 2.0) ** 2 + 0.02 * rng.normal(size=TOTAL)
    x = np.repeat(C * np.eye(TOTAL, dtype=np.float32), BATCH, axis=0)
    y = np.zeros((TOTAL * BATCH, 1), np.float32)
    model = keras.Sequential([keras.Input((TOTAL,)),
                              keras.layers.Dense(1, use_bias=False)])
    w0 = (loss / C).astype(np.float32).reshape(TOTAL, 1)
    model.layers[0].set_weights([w0])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.0),
                  loss=lambda y_true, y_pred: y_pred[:, 0],
                  steps_per_execution=steps_per_execution)
    # No rewind, no restore: every weight change is one step's update. The
    # sweep from `min_lr` (not from SGD's own LR): the losses above follow it.
    autolr = AutoLR(options=Options(rewind=False, restore_on_fault=False,
                                    sweep_start="min_lr"), verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
              callbacks=[autolr])
    w = model.layers[0].get_weights()[0].astype(np.float64).reshape(-1)
    applied = (w0.astype(np.float64).reshape(-1) - w) / C
    return applied, autolr


@pytest.fixture(scope="module")
def trained():
    """One `fit` with `steps_per_execution=3`."""
    return _train(steps_per_execution=3)


def test_the_applied_lr_is_the_schedule_formula_at_every_step(trained):
    applied, autolr = trained
    decision = autolr.decision
    assert int(autolr.model.optimizer.iterations.numpy()) == TOTAL
    assert decision.reason == "detected"
    assert 0 < decision.switch_step < TOTAL // 2
    expected = _formula(np.arange(TOTAL), decision.switch_step, decision.peak_lr)
    # The schedule runs in float32: each LR within a few float32 ulps, and
    # near the end of the cosine, where 1 + cos(pi f) cancels, within a few
    # ulps of the peak.
    np.testing.assert_allclose(applied, expected, rtol=2e-6,
                               atol=4 * np.finfo(np.float32).eps * decision.peak_lr)


def test_the_switch_is_applied_at_the_step_the_decision_names(trained):
    applied, autolr = trained
    s = autolr.decision.switch_step
    # The last warmup step grows the LR; the first decay step is the peak.
    assert applied[s - 1] == pytest.approx(_warmup_formula(s - 1), rel=2e-6)
    assert applied[s] == pytest.approx(autolr.decision.peak_lr, rel=2e-6)
    assert applied[s] < applied[s - 1]  # peak_factor < 1: below the warmup LR


def test_long_executions_apply_the_sweep_until_the_host_decides():
    # 16 steps per execution: longer than the 9 steps in which this sweep
    # doubles the LR, so the sweep's lease reaches 4 executions past each
    # look (keras_autolr/training/lease.py): it never runs out mid-sweep,
    # where the LR would fall to `min_lr`.
    applied, autolr = _train(steps_per_execution=16)
    end = min(autolr.decision.switch_step, TOTAL // 2)  # the switch, or the cap
    assert end > 100
    np.testing.assert_allclose(applied[:end], _warmup_formula(np.arange(end)),
                               rtol=2e-6)
