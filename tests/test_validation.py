"""Bad input and misuse: clear errors, before training starts."""

import warnings

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr import replay
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

# (factory, kwargs, exception, text the message must contain)
CASES = [
    (AutoLRSchedule, dict(min_lr=1.0, max_lr=0.1), ValueError, "Received min_lr=1.0, max_lr=0.1"),
    (AutoLRSchedule, dict(min_lr=0.1, max_lr=0.1), ValueError, "min_lr=0.1, max_lr=0.1"),
    (AutoLRSchedule, dict(min_lr=0.0), ValueError, "Received min_lr=0.0"),
    (AutoLRSchedule, dict(min_lr=-1e-5), ValueError, "Received min_lr=-1e-05"),
    (AutoLRSchedule, dict(max_lr=float("inf")), ValueError, "Received max_lr=inf"),
    (AutoLRSchedule, dict(max_lr="1.0"), TypeError, "Received max_lr='1.0'"),
    (AutoLRSchedule, dict(max_warmup_fraction=0.0), ValueError, "Received max_warmup_fraction=0.0"),
    (AutoLRSchedule, dict(max_warmup_fraction=1.5), ValueError, "Received max_warmup_fraction=1.5"),
    (AutoLRSchedule, dict(cooldown_fraction=-0.2), ValueError, "Received cooldown_fraction=-0.2"),
    (Options, dict(peak_factor=0.0), ValueError, "Received peak_factor=0.0"),
    (Options, dict(peak_factor=2.0), ValueError, "Received peak_factor=2.0"),
    (Options, dict(confidence=1.0), ValueError, "Received confidence=1.0"),
    (Options, dict(confidence=0.0), ValueError, "Received confidence=0.0"),
    (Options, dict(patience=0), ValueError, "Received patience=0"),
    (Options, dict(patience=2.5), TypeError, "Received patience=2.5"),
    (Options, dict(num_posteriors=0), ValueError, "Received num_posteriors=0"),
    (Options, dict(fit_points=0), ValueError, "Received fit_points=0"),
    (Options, dict(predict_points=-5), ValueError, "Received predict_points=-5"),
    (Options, dict(grid_points=1), ValueError, "Received grid_points=1"),
    (AutoLRSchedule, dict(warmup="cosine"), ValueError, "Received warmup='cosine'"),
    (AutoLRSchedule, dict(decay="step"), ValueError, "Received decay='step'"),
    (Options, dict(peak="median"), ValueError, "Received peak='median'"),
    (AutoLR, dict(total_steps=0), ValueError, "Received total_steps=0"),
    (AutoLR, dict(total_steps=10.5), TypeError, "Received total_steps=10.5"),
    (AutoLR, dict(total_steps=True), TypeError, "Received total_steps=True"),
    (Options, dict(check_every=0), ValueError, "Received check_every=0"),
    (Options, dict(check_every="step"), ValueError, "Received check_every='step'"),
    (Options, dict(check_every=2.0), ValueError, "Received check_every=2.0"),
    (Options, dict(seed=-1), ValueError, "Received seed=-1"),
    (Options, dict(initial_noise=0.0), ValueError, "Received initial_noise=0.0"),
    (AutoLR, dict(verbose=3), ValueError, "Received verbose=3"),
    (AutoLR, dict(monitor="val_loss"), ValueError, "Received monitor='val_loss'"),
    (AutoLR, dict(schedule="cosine"), TypeError, "Received schedule='cosine'"),
    (Options, dict(restore_on_fault="yes"), TypeError, "Received restore_on_fault='yes'"),
    (AutoLR, dict(options="fast"), TypeError, "Received options='fast'"),
    (AutoLR, dict(log_dir=3), TypeError, "Received log_dir=3"),
    (AutoLR, dict(backup_dir=3), TypeError, "Received backup_dir=3"),
    (AutoLRSchedule, dict(total_steps=-10), ValueError, "Received total_steps=-10"),
    (AutoLRSchedule, dict(min_lr=2.0), ValueError, "Received min_lr=2.0, max_lr=1.0"),
    (AutoLRSchedule, dict(switch_step=5), ValueError, "peak_lr=None"),
    (AutoLRSchedule, dict(switch_step=-2, peak_lr=0.1), ValueError, "Received switch_step=-2"),
    (WarmupDetector, dict(confidence=1.2), ValueError, "Received confidence=1.2"),
    (WarmupDetector, dict(patience=-1), ValueError, "Received patience=-1"),
    (lambda **kw: replay(np.ones(10), **kw), dict(total_steps=-3), ValueError,
     "Received total_steps=-3"),
    (lambda **kw: replay(np.ones(10), total_steps=10, **kw), dict(options={"patience": 3}),
     TypeError, "Received options={'patience': 3}"),
    (lambda **kw: replay(np.ones(10), total_steps=10, **kw), dict(steps_per_execution=0),
     ValueError, "Received steps_per_execution=0"),
]


@pytest.mark.parametrize("factory, kwargs, error, text", CASES,
                         ids=[f"{i}-{next(iter(c[1]))}" for i, c in enumerate(CASES)])
def test_bad_argument_is_named_with_the_value_received(factory, kwargs, error, text):
    with pytest.raises(error) as info:
        factory(**kwargs)
    assert text in str(info.value)
    name = next(iter(kwargs))
    assert name in str(info.value)


def _model(optimizer=None):
    return _training.compile_digits(_training.mlp(),
                                    optimizer or keras.optimizers.Adam())


def test_two_autolr_callbacks_in_one_fit_fail_before_training():
    (x, y), _ = _training.digits()
    model = _model()
    with pytest.raises(ValueError, match="Two AutoLR callbacks"):
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0,
                  callbacks=[AutoLR(verbose=0), AutoLR(verbose=0)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_pair_form_with_another_schedule_on_the_optimizer_fails():
    (x, y), _ = _training.digits()
    other = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)
    model = _model(keras.optimizers.Adam(learning_rate=other))
    with pytest.raises(ValueError, match="already has another learning-rate schedule"):
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0,
                  callbacks=[AutoLR(schedule=AutoLRSchedule(), verbose=0)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_budget_too_short_for_a_sweep_keeps_the_own_lr_with_a_warning():
    (x, y), _ = _training.digits()
    model = _model()
    autolr = AutoLR(verbose=0)
    with pytest.warns(UserWarning, match="too short for the learning-rate sweep"):
        model.fit(x[:128], y[:128], batch_size=32, epochs=2, verbose=0,
                  callbacks=[autolr])  # 8 steps
    assert autolr.decision.reason == "short_budget"
    assert autolr.decision.tests == []
    assert autolr.peak_lr == pytest.approx(1e-3)  # Adam's own LR
    # Constant, as without AutoLR: no warmup, no decay (to float32 rounding).
    np.testing.assert_allclose(autolr.record.learning_rate, 1e-3, rtol=2e-6)
    assert len(autolr.record.learning_rate) == 8


def test_budget_shorter_than_one_test_warns_and_ends_at_the_cap():
    (x, y), _ = _training.digits()
    model = _model()
    autolr = AutoLR(verbose=0, options=Options(sweep_start="min_lr"))
    with pytest.warns(UserWarning, match="too short for a test"):
        model.fit(x[:128], y[:128], batch_size=32, epochs=2, verbose=0,
                  callbacks=[autolr])  # 8 steps: the cap W is 4
    assert autolr.decision.reason == "cap"
    assert autolr.switch_step == 4


def test_fit_after_the_schedule_finished_fails_clearly():
    """The LR is 0 after the budget: a further fit would not train. Say so."""
    (x, y), _ = _training.digits()
    model = _model()
    autolr = AutoLR(verbose=0)
    model.fit(x[:128], y[:128], batch_size=32, epochs=6, verbose=0,
              callbacks=[autolr])
    weights = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match="budget of 24 steps is spent"):
        model.fit(x[:128], y[:128], batch_size=32, epochs=1, verbose=0,
                  callbacks=[autolr])
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_second_fit_within_the_budget_continues_the_same_schedule():
    (x, y), _ = _training.digits()
    model = _model()
    autolr = AutoLR(total_steps=200, verbose=0)
    model.fit(x[:128], y[:128], batch_size=32, epochs=2, verbose=0,
              callbacks=[autolr])
    model.fit(x[:128], y[:128], batch_size=32, epochs=2, verbose=0,
              callbacks=[autolr])
    assert autolr.record.step.tolist() == list(range(16))
    assert np.all(np.isfinite(autolr.record.loss))


def test_a_recompiled_optimizer_gets_a_new_sweep_over_its_own_budget():
    """keras.io's fine-tuning pattern: fit, recompile with a small LR, fit again
    with the same callbacks list. As Keras' own callbacks, AutoLR starts afresh."""
    autolr = AutoLR(verbose=0)
    model = _training.fit_small_digits([autolr], epochs=12)  # 14 steps per epoch
    first = autolr.decision
    assert first.switch_step is not None and autolr.schedule.total_steps == 168
    (x, y), _ = _training.digits()
    optimizer = keras.optimizers.Adam(1e-4)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "reuses the schedule"
        model.fit(x[:1400], y[:1400], batch_size=100, epochs=6, verbose=0,
                  callbacks=[autolr])
    decision = autolr.decision
    assert decision is not first and len(decision.tests) > 0
    assert autolr.record.step.tolist() == list(range(84))  # this fit's steps only
    # This fit's budget, swept from the new optimizer's own LR, ended at LR 0.
    assert autolr.schedule.total_steps == 84
    assert autolr.schedule.min_lr == pytest.approx(1e-4)
    assert float(np.asarray(autolr.schedule(84))) == 0.0
    assert _keras.raw_learning_rate(optimizer) is autolr.schedule
