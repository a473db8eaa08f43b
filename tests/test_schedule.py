"""AutoLRSchedule: the in-graph LR equals the formulas of docs/algorithm.md."""

import math

import numpy as np
import pytest
from keras_autolr import AutoLRSchedule
from keras_autolr._keras import keras
from keras_autolr._keras import tf

# `tf.function`: the tests of a traced schedule are TensorFlow's.
needs_tensorflow = pytest.mark.skipif(
    tf is None, reason="a TensorFlow test (tf.function; the backend is not TensorFlow)")

T = 1000  # budget
W = 500  # floor(0.5 * T)
MIN_LR, MAX_LR = 1e-5, 1.0


def exp_warmup(t):
    return MIN_LR * (MAX_LR / MIN_LR) ** (min(t, W) / W)


def lin_warmup(t):
    return MIN_LR + (MAX_LR - MIN_LR) * min(t, W) / W


def cosine(t, s, p, end=T):
    f = min(max((t - s) / (end - s), 0.0), 1.0)
    return p / 2 * (1 + math.cos(math.pi * f))


def evaluate(schedule, steps, jit):
    if tf is None:  # JAX, torch: eager keras.ops (tests/test_backends.py compiles)
        if jit:
            pytest.skip("XLA through tf.function: TensorFlow's")
        return keras.ops.convert_to_numpy(schedule(np.asarray(steps, "int32")))
    fn = tf.function(lambda s: schedule(s), jit_compile=jit)
    return fn(tf.constant(steps, tf.int64)).numpy()


STEPS = [0, 1, 137, 299, 300, 301, 450, 499, 500, 501, 799, 800, 801, 999, 1000, 1500]


def expected(warmup, decay, t, s=None, p=None):
    curve = exp_warmup if warmup == "exponential" else lin_warmup
    if t >= T:
        return 0.0
    if s is None:
        s, p = W, curve(W)
    if t < s:
        return curve(t)
    if decay == "cosine":
        return cosine(t, s, p)
    if decay == "linear":
        return p * (1 - (t - s) / (T - s))
    c = max(s, 0.8 * T)  # constant_then_cosine, cooldown_fraction=0.2
    return p if t < c else cosine(t, c, p)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("decay", ["cosine", "linear", "constant_then_cosine"])
@pytest.mark.parametrize("warmup", ["exponential", "linear"])
@pytest.mark.parametrize("switched", [False, True], ids=["cap", "switched"])
def test_lr_equals_formula(warmup, decay, switched, jit):
    schedule = AutoLRSchedule(total_steps=T, warmup=warmup, decay=decay)
    s = p = None
    if switched:
        s, p = 300, 0.02
        schedule.switch(s, p)
    got = evaluate(schedule, STEPS, jit)
    want = [expected(warmup, decay, t, s, p) for t in STEPS]
    # float32 in-graph math: relative 2e-5, and near the end of a cosine
    # (1 + cos(pi f) -> 0) an absolute 1e-7, float32's resolution at LR ~1.
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("decay", ["cosine", "linear", "constant_then_cosine"])
def test_lr_is_exactly_zero_at_and_after_the_end_of_the_budget(decay):
    schedule = AutoLRSchedule(total_steps=T, decay=decay)
    schedule.switch(123, 0.3)
    got = evaluate(schedule, [T, T + 1, 10 * T], jit=False)
    assert np.all(got == 0.0)
    assert evaluate(schedule, [T - 1], jit=False)[0] > 0.0


@needs_tensorflow
def test_switch_takes_effect_without_retracing():
    schedule = AutoLRSchedule(total_steps=T)
    schedule.build()  # as AutoLR does in on_train_begin
    fn = tf.function(lambda s: schedule(s))
    before = fn(tf.constant(400, tf.int64)).numpy()
    schedule.switch(200, 0.01)
    after = fn(tf.constant(400, tf.int64)).numpy()
    assert before == pytest.approx(exp_warmup(400), rel=1e-5)
    assert after == pytest.approx(cosine(400, 200, 0.01), rel=1e-5)
    assert fn.experimental_get_tracing_count() == 1


def test_get_config_round_trip_keeps_the_decision():
    schedule = AutoLRSchedule(total_steps=T, warmup="linear", decay="linear",
                              min_lr=1e-4, max_lr=3.0, max_warmup_fraction=0.25)
    schedule.switch(100, 0.5)
    clone = AutoLRSchedule.from_config(schedule.get_config())
    assert clone.get_config() == schedule.get_config()
    assert clone.switch_step == 100 and clone.peak_lr == 0.5
    steps = [0, 50, 100, 600, 999, 1000]
    np.testing.assert_array_equal(evaluate(clone, steps, False),
                                  evaluate(schedule, steps, False))


def test_keras_serialization_finds_the_registered_class():
    schedule = AutoLRSchedule(total_steps=T)
    config = keras.optimizers.schedules.serialize(schedule)
    clone = keras.optimizers.schedules.deserialize(config)
    assert isinstance(clone, AutoLRSchedule)
    assert clone.total_steps == T


def test_model_save_and_load_keep_the_schedule_working(tmp_path):
    schedule = AutoLRSchedule(total_steps=T)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule),
                  loss="mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    schedule.switch(1, 0.05)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, AutoLRSchedule)
    assert restored.switch_step == 1 and restored.peak_lr == pytest.approx(0.05)
    np.testing.assert_allclose(evaluate(restored, [1, 500], False),
                               [cosine(1, 1, 0.05), cosine(500, 1, 0.05)],
                               rtol=1e-5)
    loaded.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)


@needs_tensorflow
def test_budget_must_be_known_before_a_traced_use():
    with pytest.raises(ValueError, match="total_steps"):
        tf.function(AutoLRSchedule())(tf.constant(0))


def test_eager_call_without_budget_gives_the_warmup_start():
    """Keras 2 optimizers call the schedule when they are built, before fit."""
    assert float(AutoLRSchedule(min_lr=3e-5)(0)) == pytest.approx(3e-5)


@pytest.mark.skipif(
    not hasattr(keras, "backend") or keras.backend.backend() != "jax",
    reason="the compiled eager path is JAX's")
def test_eager_jax_calls_follow_the_state_and_the_budget_with_one_compilation():
    schedule = AutoLRSchedule(total_steps=T)
    schedule.build()  # as AutoLR does in on_train_begin
    before = evaluate(schedule, [400], jit=False)[0]
    compiled = schedule._compiled[1]
    schedule.switch(200, 0.01)  # the state is an argument, not a constant
    after = evaluate(schedule, [400], jit=False)[0]
    assert before == pytest.approx(exp_warmup(400), rel=1e-5)
    assert after == pytest.approx(cosine(400, 200, 0.01), rel=1e-5)
    assert schedule._compiled[1] is compiled and compiled._cache_size() == 1
    schedule.total_steps = 2 * T  # a new budget: compiled anew
    longer = evaluate(schedule, [400], jit=False)[0]
    assert longer == pytest.approx(cosine(400, 200, 0.01, end=2 * T), rel=1e-5)
