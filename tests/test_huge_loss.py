"""A huge loss during warmup: a best LR read past it gives way to one below it.

A blow-up can leave a network predicting the mean, its losses after it flat
and noisy; a test then reads a minimum anywhere past the blow-up
(`WarmupController._below_huge_loss`).
"""

from unittest import mock

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr import Options
from keras_autolr._keras import keras
from keras_autolr.decision import controller as controller_lib
from keras_autolr.decision.controller import WarmupController

# Boston housing (mlxtend, 406 houses for training, inputs and prices
# standardized), an MLP 64-64, Adam at its default LR, batch 16, 20 epochs
# (520 steps, the cap at 260), seed 1, TensorFlow 2.21 (2026-12-06): the
# losses of steps 0-259, rounded to 6 digits. From step 197 the loss rose
# above the start's; at step 211 it was 10.9 descent depths above it and
# at step 215, 146; after it the network predicted about the mean.
BOSTON_ADAM_SEED1 = [
    0.427751, 0.303512, 0.356544, 1.204469, 0.385995, 0.204519, 1.464931, 0.49971,
    0.792788, 0.662205, 0.365402, 0.51084, 0.635465, 0.723591, 0.558842, 1.127109,
    0.133465, 0.254772, 0.506573, 0.190776, 0.236269, 0.596856, 1.286342, 0.693878,
    0.261023, 0.124101, 0.221294, 0.296121, 0.162627, 0.183269, 0.217243, 0.14572,
    0.546715, 0.356249, 0.191567, 0.417735, 0.109174, 0.195279, 0.155139, 0.12991,
    0.149069, 0.453251, 0.141885, 0.201552, 0.09388, 0.094142, 0.126017, 0.208414,
    0.696047, 0.216178, 0.082137, 0.08814, 0.100621, 0.127556, 0.19184, 0.099575,
    0.117722, 0.089024, 0.441532, 0.228728, 0.083166, 0.432018, 0.057217, 0.124252,
    0.157379, 0.077376, 0.111302, 0.288237, 0.076093, 0.096436, 0.134433, 0.073167,
    0.065324, 0.135806, 0.672615, 0.101456, 0.061545, 0.073445, 0.222371, 0.138606,
    0.170202, 0.093816, 0.200045, 0.045464, 0.442218, 0.154552, 0.076892, 0.379273,
    0.077702, 0.180544, 0.198546, 0.115123, 0.129077, 0.19727, 0.07821, 0.203724,
    0.112179, 0.091557, 0.128705, 0.139423, 0.537924, 0.10227, 0.066622, 0.117923,
    0.300683, 0.122214, 0.149419, 0.109915, 0.200385, 0.072673, 0.558801, 0.114263,
    0.093634, 0.376597, 0.083758, 0.254171, 0.148833, 0.120227, 0.07493, 0.151206,
    0.074541, 0.109293, 0.201262, 0.151807, 0.261066, 0.23161, 0.437676, 0.209765,
    0.156072, 0.073536, 0.15592, 0.124047, 0.068745, 0.480655, 0.099791, 0.058992,
    0.936964, 0.363546, 0.436486, 0.505157, 0.197214, 0.19896, 0.272099, 0.201248,
    0.304229, 0.450922, 0.060632, 0.287136, 1.314896, 0.354694, 0.236307, 0.592518,
    0.831784, 0.719104, 0.489043, 0.289173, 0.411513, 0.143328, 0.281551, 0.242841,
    0.411848, 0.0951, 1.092243, 0.29437, 0.342172, 0.387888, 0.644064, 0.401972,
    0.785263, 0.953599, 0.159574, 0.585701, 0.188757, 0.199031, 0.661474, 0.128968,
    0.363314, 0.207145, 1.11266, 0.172997, 0.161369, 0.127796, 0.683905, 0.05136,
    0.098853, 0.201658, 0.214442, 0.238886, 0.991063, 0.598937, 0.56053, 0.530419,
    0.368584, 0.589726, 0.499515, 0.412271, 1.052853, 2.201752, 0.372412, 0.449221,
    2.277601, 0.975792, 2.657946, 1.458374, 2.718353, 1.339249, 0.61182, 1.571038,
    2.447263, 0.547178, 3.620342, 16.940645, 0.826675, 0.419221, 25.840102, 208.664024,
    1.414673, 2.414127, 2.394161, 4.051338, 4.67354, 5.657228, 5.382851, 3.556149,
    1.239344, 1.498724, 3.287078, 1.3238, 0.854537, 1.216655, 2.550602, 1.80678,
    1.688578, 2.015875, 1.941715, 1.684638, 2.3443, 1.724383, 0.868201, 0.555306,
    1.479802, 0.809556, 0.986896, 1.285481, 1.167142, 1.571599, 1.688503, 2.120982,
    1.846719, 1.501627, 0.508065, 0.477158, 1.99237, 1.198375, 0.843648, 0.992348,
    2.569709, 1.641552, 1.113529, 0.624306,
]
BOSTON_STEPS, BOSTON_EPOCH = 520, 26


def _replay(losses=BOSTON_ADAM_SEED1, **options):
    return keras_autolr.replay(
        np.asarray(losses, dtype=float), total_steps=BOSTON_STEPS,
        steps_per_epoch=BOSTON_EPOCH, own_lr=1e-3, options=Options(seed=1, **options))


def test_a_minimum_read_past_a_huge_loss_gives_way_to_one_below_it():
    """The cap's test read a minimum at 0.81 from the losses after the
    blow-up; the decay from 0.4 x 0.81 ended at R^2 -0.6 against 86.6
    without AutoLR. The newest best LR below the huge loss's is 0.063."""
    decision = _replay()
    assert decision.reason == "cap" and decision.switch_step == 260
    by_step = {t.step: t for t in decision.tests}
    assert by_step[252].peak_lr > 0.8  # read inside the blow-up
    assert decision.peak_lr == pytest.approx(Options().peak_factor * by_step[246].peak_lr)
    assert decision.peak_lr < 0.03
    assert decision.restored_step < 197  # weights from before the blow-up
    with mock.patch.object(controller_lib, "HUGE_LOSS_DEPTHS", float("inf")):
        before = _replay()
    assert before.peak_lr == pytest.approx(Options().peak_factor * by_step[252].peak_lr)
    assert before.restored_step > 211


def test_the_huge_loss_is_measured_in_descent_depths():
    losses = np.asarray(BOSTON_ADAM_SEED1)
    schedule = keras_autolr.AutoLRSchedule(total_steps=BOSTON_STEPS, min_lr=1e-3)
    controller = WarmupController(schedule, Options(seed=1))
    controller.observe_executions(losses[:240], np.arange(1, 241))
    top = controller_lib._start_top(losses[:240])
    depth = top - losses[:240].min()
    assert controller._blowup_onset() == 197
    assert controller._blowup_onset(controller_lib.HUGE_LOSS_DEPTHS) == 211
    assert losses[211] - top > controller_lib.HUGE_LOSS_DEPTHS * depth
    assert np.all(losses[:211] - top <= controller_lib.HUGE_LOSS_DEPTHS * depth)


@pytest.mark.parametrize("gp", ["library", "reference"])
def test_a_best_lr_below_the_huge_loss_or_the_reference_gp_keeps_the_choice(gp):
    losses = np.asarray(BOSTON_ADAM_SEED1)
    schedule = keras_autolr.AutoLRSchedule(total_steps=BOSTON_STEPS, min_lr=1e-3)
    controller = WarmupController(schedule, Options(seed=1, gp=gp))
    controller.observe_executions(losses[:259], np.arange(1, 260))
    onset_lr = float(schedule.warmup_lr(211))
    assert controller._below_huge_loss(0.5 * onset_lr) == 0.5 * onset_lr
    assert controller._below_huge_loss(None) is None
    replaced = controller._below_huge_loss(2.0 * onset_lr)
    assert (replaced == 2.0 * onset_lr) == (gp == "reference")
    if gp != "reference":
        assert replaced <= onset_lr


def test_a_blowup_under_the_threshold_leaves_the_choice():
    """Blow-ups of a few depths are common at the cap (the sweep ends past
    the minimum); only a huge one moves the choice."""
    losses = np.asarray(BOSTON_ADAM_SEED1).copy()
    top = losses[:26].max()
    depth = top - losses.min()
    losses[197:] = np.minimum(losses[197:], top + 5.0 * depth)
    schedule = keras_autolr.AutoLRSchedule(total_steps=BOSTON_STEPS, min_lr=1e-3)
    controller = WarmupController(schedule, Options(seed=1))
    controller.observe_executions(losses[:259], np.arange(1, 260))
    assert controller._blowup_onset(controller_lib.HUGE_LOSS_DEPTHS) is None
    assert controller._below_huge_loss(0.8) == 0.8
    with mock.patch.object(controller_lib, "HUGE_LOSS_DEPTHS", 4.0):
        assert controller._below_huge_loss(0.8) < float(schedule.warmup_lr(211))


def _fit_boston(seed, autolr):
    """The run of `BOSTON_ADAM_SEED1` (seed 1): R^2 on the 50 test houses."""
    from mlxtend.data import boston_housing_data

    x, y = boston_housing_data()
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    y = ((y - y.mean()) / y.std()).astype("float32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((13,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    keras.utils.set_random_seed(seed)
    callbacks = [AutoLR(verbose=0, options=Options(seed=seed))] if autolr else []
    model.fit(x[:406], y[:406], batch_size=16, epochs=20, verbose=0, callbacks=callbacks)
    predicted = np.asarray(model.predict(x[456:], verbose=0)).reshape(-1)
    return 100.0 * (1.0 - np.sum((y[456:] - predicted) ** 2)
                    / np.sum((y[456:] - y[456:].mean()) ** 2)), callbacks


# Known misses (2026-12-06), the same script on other backends: a blow-up
# hundreds of depths high flattened the tests' curve, which read a minimum
# at 0.12-0.15, just below the blow-up's LR, so the rule keeps it; the decay
# from 0.05-0.06 did not blow up (its training losses stayed near the
# record's lowest: at most 0.2 descent depths above the start's highest on
# JAX, 1.4 on PyTorch), but the test R^2 fell. JAX seed 1: R^2 60.3 against
# 86.1 without AutoLR; PyTorch seed 0: 71.2 against 86.0 (docs/reliability.md).
_KNOWN_MISSES = {("jax", 1), ("torch", 0)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_boston_with_adam_is_not_lost_to_a_blowup(seed, request):
    """Before the rule, seed 1 (TensorFlow) ended at R^2 -0.6 against 86.6
    without AutoLR; 84.3 with it."""
    if (keras.backend.backend(), seed) in _KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="a known miss: a minimum read just below a huge blow-up's LR"))
    own, _ = _fit_boston(seed, autolr=False)
    score, (autolr,) = _fit_boston(seed, autolr=True)
    assert autolr.decision.reason in ("cap", "detected")
    assert score >= own - 5.0
