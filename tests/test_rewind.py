"""The rewind: at the switch, the weights go back to before the overshoot."""

import numpy as np
import pytest

import keras_autolr
from keras_autolr import replay
from keras_autolr._keras import keras
from keras_autolr.decision.controller import SNAPSHOT_GROWTH
from keras_autolr.decision.options import DEFAULT_PEAK_FACTOR
from keras_autolr import Options
from tests import _training
from tests.conftest import falling
from tests.conftest import valley

T = 600


def test_replay_restores_the_newest_snapshot_at_or_before_the_chosen_lr():
    decision = replay(valley(T, lr_min=1e-2), total_steps=T)
    assert decision.reason == "detected"
    chosen = decision.peak_lr / DEFAULT_PEAK_FACTOR
    schedule = keras_autolr.AutoLRSchedule(total_steps=T)
    lr_restored = float(schedule.warmup_lr(decision.restored_step))
    assert lr_restored <= chosen * (1 + 1e-9)
    # Snapshots come once per doubling of the LR: the one restored is the
    # newest before the chosen LR, so less than two doublings below it.
    assert lr_restored > chosen / SNAPSHOT_GROWTH ** 2


def test_without_rewind_nothing_is_restored_and_the_switch_is_the_same():
    with_rewind = replay(valley(T, lr_min=1e-2), total_steps=T)
    without = replay(valley(T, lr_min=1e-2), total_steps=T,
                     options=Options(rewind=False))
    assert without.restored_step is None
    assert (without.switch_step, without.peak_lr) == (
        with_rewind.switch_step, with_rewind.peak_lr)


def test_the_paper_options_never_rewind():
    decision = replay(valley(T, lr_min=1e-2), total_steps=T, steps_per_epoch=30,
                      options=keras_autolr.PAPER)
    assert decision.restored_step is None


def test_the_rewind_also_applies_at_the_cap():
    losses = falling(T)  # still falling when warmup reaches its cap
    decision = replay(losses, total_steps=T)
    assert decision.reason == "cap"
    assert decision.restored_step is not None
    assert decision.restored_step <= decision.switch_step


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_fit_resumes_from_the_restored_weights_with_the_step_counter_unchanged(
        steps_per_execution):
    (x, y), _ = _training.digits()
    model = _training.compile_digits(
        _training.mlp(), keras.optimizers.Adam(),
        steps_per_execution=steps_per_execution)
    autolr = keras_autolr.AutoLR(verbose=0)
    weights = _training.WeightsAtEachStep()
    model.fit(x, y, batch_size=64, epochs=12, verbose=0,
              callbacks=[weights, autolr])
    decision = autolr.decision
    assert decision.reason == "detected" and decision.restored_step is not None
    restored, switch = decision.restored_step, decision.switch_step
    assert restored < switch
    first_after = min(s for s in weights.at if s >= switch)
    for after, before in zip(weights.at[first_after], weights.at[restored]):
        np.testing.assert_array_equal(after, before)
    # The budget counts the steps spent: the optimizer's step is not rewound.
    assert int(model.optimizer.iterations.numpy()) == 12 * 22


def test_snapshots_never_hold_more_than_two_copies():
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    autolr = keras_autolr.AutoLR(verbose=0)
    model.fit(x, y, batch_size=64, epochs=12, verbose=0, callbacks=[autolr])
    ring = autolr._snapshot
    one_copy = ring.nbytes / len(ring.steps)
    assert len(ring.steps) <= 2 and ring.copies > 2
    weights = sum(np.asarray(w.numpy()).nbytes for w in model.weights)
    assert one_copy <= 3 * weights + 64  # weights + Adam's two moments
