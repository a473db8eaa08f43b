"""The optimizer options users set, with AutoLR: accumulation, EMA, mixed precision.

With Keras 3's `gradient_accumulation_steps=k` the optimizer updates the
weights every k-th train step. Its public `iterations` counts the updates
(steps // k); Keras calls the LR schedule with the count of train steps.
AutoLR's budget, loss record and rewind follow the schedule's clock
(`_keras.step_counter`). `use_ema=True` and a mixed-precision policy (a
`LossScaleOptimizer` around the user's) train as the plain optimizer does.
"""

import numpy as np
import pytest

import keras_autolr
from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from tests import _training

keras3_only = pytest.mark.skipif(
    not IS_KERAS_3, reason="gradient_accumulation_steps is a Keras 3 option")

ACCUMULATE, BATCH, EPOCHS = 4, 64, 12  # 22 steps per epoch, 264 steps


def _fit(callbacks, **options):
    """The digits MLP and `Adam(**options)`, accumulating 4 steps by default."""
    options.setdefault("gradient_accumulation_steps", ACCUMULATE)
    (x, y), _ = _training.digits()
    # Keras 2 optimizers take no `gradient_accumulation_steps`, not even None.
    optimizer = keras.optimizers.Adam(
        **{name: value for name, value in options.items() if value is not None})
    model = _training.compile_digits(_training.mlp(), optimizer)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    return model, optimizer


def _test_loss(model):
    _, (x_test, y_test) = _training.digits()
    return model.evaluate(x_test, y_test, verbose=0)[0]


@keras3_only
def test_the_step_counter_is_the_schedules_clock():
    optimizer = keras.optimizers.Adam(gradient_accumulation_steps=ACCUMULATE)
    assert _keras.step_counter(optimizer) is optimizer._iterations
    plain = keras.optimizers.Adam()
    assert _keras.step_counter(plain) is plain.iterations


@keras3_only
def test_autolr_trains_with_gradient_accumulation_and_rewinds_to_a_copy():
    autolr = keras_autolr.AutoLR(verbose=0)
    weights = _training.WeightsAtEachStep()
    model, optimizer = _fit([weights, autolr])
    steps = EPOCHS * 22
    # The budget and the record count train steps, not updates.
    assert autolr.schedule.total_steps == steps
    assert int(_keras.step_counter(optimizer).numpy()) == steps
    assert int(_keras.to_numpy(optimizer.iterations)) == steps // ACCUMULATE
    decision = autolr.decision
    assert decision.reason == "detected" and decision.restored_step is not None
    np.testing.assert_array_equal(autolr.record.step, np.arange(steps))
    # The rewind put back the copy's weights; the step counter kept counting.
    first_after = min(s for s in weights.at if s >= decision.switch_step)
    for after, before in zip(weights.at[first_after],
                             weights.at[decision.restored_step]):
        np.testing.assert_array_equal(after, before)
    # The LR the optimizer steps with ends at 0 with the budget.
    assert float(np.asarray(optimizer.learning_rate)) == 0.0


@keras3_only
@pytest.mark.parametrize("copy_step, restore_step", [(6, 9), (6, 10), (8, 9)])
def test_a_restore_keeps_the_accumulated_gradients_in_step(copy_step, restore_step):
    """The step counter is not rewound: after a restore, the accumulators
    hold `t % k` gradients' worth, so the next update averages k of them."""
    from keras_autolr.training.snapshot import SnapshotRing

    (x, y), _ = _training.digits()
    optimizer = keras.optimizers.Adam(gradient_accumulation_steps=ACCUMULATE)
    model = _training.compile_digits(_training.mlp(), optimizer)
    ring = SnapshotRing(model, optimizer)
    for step in range(restore_step):
        if step == copy_step:
            ring.take(step)
            held = [np.array(_keras.to_numpy(a)) for a in optimizer._accumulated_gradients]
        model.train_on_batch(x[step * BATCH:(step + 1) * BATCH],
                             y[step * BATCH:(step + 1) * BATCH])
    assert ring.restore(copy_step)
    now, then = restore_step % ACCUMULATE, copy_step % ACCUMULATE
    scale = now / then if then else 0.0
    for accumulator, value in zip(optimizer._accumulated_gradients, held):
        np.testing.assert_allclose(_keras.to_numpy(accumulator), value * scale, rtol=1e-6)
    assert np.any([np.any(v != 0) for v in held]) == bool(then)


@keras3_only
def test_autolr_with_gradient_accumulation_beats_the_optimizers_own_lr():
    own, _ = _fit([])
    tuned, _ = _fit([keras_autolr.AutoLR(verbose=0)])
    # Adam at 0.001 with 66 updates underfits these digits (test loss ~0.6).
    assert _test_loss(tuned) < _test_loss(own)


def test_ema_weights_are_rewound_with_the_weights():
    """`use_ema=True`: the moving average is the optimizer's state, rewound
    with the weights, and the fit ends with finite EMA weights."""
    autolr = keras_autolr.AutoLR(verbose=0)
    model, optimizer = _fit([autolr], use_ema=True, gradient_accumulation_steps=None)
    assert autolr.decision.restored_step is not None
    averages = [v for v in autolr._snapshot._optimizer_variables()
                if "average" in v.name]
    assert len(averages) == len(model.trainable_weights)
    assert all(np.all(np.isfinite(np.asarray(w.numpy()))) for w in model.weights)
    own, _ = _fit([], use_ema=True, gradient_accumulation_steps=None)
    assert _test_loss(model) < _test_loss(own)


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_drives_the_optimizer_inside_the_loss_scaling(mixed_float16):
    """Under `mixed_float16` Keras wraps the optimizer in a `LossScaleOptimizer`;
    AutoLR's schedule drives the optimizer that steps the weights."""
    autolr = keras_autolr.AutoLR(verbose=0)
    model, optimizer = _fit([autolr], gradient_accumulation_steps=None)
    assert isinstance(model.optimizer, keras.mixed_precision.LossScaleOptimizer)
    assert _keras.raw_learning_rate(model.optimizer.inner_optimizer) is autolr.schedule
    assert autolr.decision.reason == "detected"
    assert autolr.decision.restored_step is not None
    assert model.layers[0].compute_dtype == "float16"
    own, _ = _fit([], gradient_accumulation_steps=None)
    assert _test_loss(model) < _test_loss(own)


def test_ftrl_is_refused_before_training_with_the_model_unchanged():
    """FTRL's weights are its accumulators times the LR: a decay to 0 zeroes them."""
    (x, y), _ = _training.digits()
    optimizer = keras.optimizers.Ftrl()
    model = _training.compile_digits(_training.mlp(), optimizer)
    before = [np.array(w.numpy()) for w in model.weights]
    with pytest.raises(ValueError, match="AutoLR cannot drive Ftrl") as error:
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    assert "Received optimizer=" in str(error.value)
    assert int(np.asarray(optimizer.iterations)) == 0
    for after, weights in zip(model.weights, before):
        np.testing.assert_array_equal(after.numpy(), weights)
    assert not isinstance(_keras.raw_learning_rate(optimizer), keras_autolr.AutoLRSchedule)


def test_a_subclass_of_ftrl_is_refused_and_other_optimizers_are_not():
    from keras_autolr.training import fit_checks

    class MyFtrl(keras.optimizers.Ftrl):
        pass

    assert fit_checks.learning_rate_scales_weights([keras.optimizers.Adam()]) is None
    error = fit_checks.learning_rate_scales_weights(
        [keras.optimizers.Adam(), MyFtrl()])
    assert "MyFtrl" in str(error)
