"""The benchmark's learning-rate-free contenders (issue 22, item 4).

`benchmarks/lr_free_optimizers.py`: `Prodigy` and `ScheduleFreeAdamW` for
Keras 3, each checked against its authors' PyTorch package (`prodigyopt`
1.1.2, `schedulefree` 1.4.1; main lane) as AdamP is: the same initial
weights and the same 30 batches go to the Keras and the PyTorch optimizer,
each side computes the gradients of the same loss from its own weights
(float64), and the two trajectories agree within 1e-5 at every step. The
problem is a 2-layer MLP with biases (four variables), so that the global
quantities (Prodigy's `d`, summed over all variables) are exercised.
"""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras

if not IS_KERAS_3:
    pytest.skip("the LR-free optimizers are written for Keras 3",
                allow_module_level=True)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from lr_free_optimizers import Prodigy  # noqa: E402
from lr_free_optimizers import ScheduleFreeAdamW  # noqa: E402
from lr_free_optimizers import ScheduleFreeEval  # noqa: E402

STEPS = 30
ATOL = 1e-5
NAMES = ("w1", "b1", "w2", "b2")


# --------------------------------------------------------------------------
# The problem: a 2-layer MLP with biases, one batch per step.


def _problem(seed, steps=STEPS):
    rng = np.random.default_rng(seed)
    params = {
        "w1": rng.normal(0, 0.5, (6, 8)),
        "b1": rng.normal(0, 0.1, (8,)),
        "w2": rng.normal(0, 0.5, (8, 3)),
        "b2": np.zeros(3),  # all zero: the reference's zero-tensor x0
    }
    batches = [(rng.normal(size=(16, 6)), rng.integers(0, 3, size=16))
               for _ in range(steps)]
    return params, batches


def _tf_loss(p, x, y):
    h = tf.tanh(tf.matmul(x, p["w1"]) + p["b1"])
    logits = tf.matmul(h, p["w2"]) + p["b2"]
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))


class _Keras:
    """The Keras side: variables, optimizer and a compiled step."""

    def __init__(self, optimizer, params, jit_compile=False,
                 dtype="float64"):
        self.dtype = dtype
        self.variables = {k: keras.Variable(v, dtype=dtype, name=k)
                          for k, v in params.items()}
        self.var_list = [self.variables[k] for k in NAMES]
        self.optimizer = optimizer
        optimizer.build(self.var_list)

        def step(x, y):
            with tf.GradientTape() as tape:
                loss = _tf_loss(self.variables, x, y)
            grads = tape.gradient(loss, self.var_list)
            optimizer.apply_gradients(zip(grads, self.var_list))

        self._step = tf.function(step, jit_compile=jit_compile)

    def run(self, batches):
        trajectory = []
        for x, y in batches:
            self._step(tf.constant(x, self.dtype), tf.constant(y))
            trajectory.append(self.weights())
        return trajectory

    def weights(self):
        return {k: np.asarray(v) for k, v in self.variables.items()}


class _Torch:
    """The PyTorch side: the authors' optimizer on the same MLP."""

    def __init__(self, make_optimizer, params, dtype="float64"):
        self.torch = pytest.importorskip("torch")
        self.dtype = getattr(self.torch, dtype)
        self.tensors = {k: self.torch.tensor(v, dtype=self.dtype,
                                             requires_grad=True)
                        for k, v in params.items()}
        self.optimizer = make_optimizer([self.tensors[k] for k in NAMES])

    def run(self, batches, train_after_first_gradient=False):
        """`train_after_first_gradient`: the first gradient is taken in
        eval mode (at x), then `optimizer.train()` (Schedule-Free)."""
        torch, p = self.torch, self.tensors
        trajectory = []
        for step, (x, y) in enumerate(batches):
            h = torch.tanh(torch.tensor(x, dtype=self.dtype) @ p["w1"]
                           + p["b1"])
            logits = h @ p["w2"] + p["b2"]
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
            self.optimizer.zero_grad()
            loss.backward()
            if train_after_first_gradient and step == 0:
                self.optimizer.train()
            self.optimizer.step()
            trajectory.append(self.weights())
        return trajectory

    def weights(self):
        return {k: t.detach().numpy().copy() for k, t in self.tensors.items()}


def _max_difference(actual, expected):
    """The largest |Keras - PyTorch| over all weights and steps."""
    if isinstance(actual, dict):
        actual, expected = [actual], [expected]
    assert len(actual) == len(expected)
    return max(float(np.max(np.abs(a[k] - e[k])))
               for a, e in zip(actual, expected) for k in NAMES)


def _assert_same(actual, expected, label):
    difference = _max_difference(actual, expected)
    print(f"{label}: max |keras - torch| = {difference:.3g}")
    assert difference <= ATOL, f"{label}: {difference}"


def _assert_moved(trajectory, params):
    """The weights moved well beyond the tolerance: the check means something."""
    assert max(float(np.max(np.abs(trajectory[-1][k] - params[k])))
               for k in NAMES) > 100 * ATOL


# --------------------------------------------------------------------------
# Prodigy against `prodigyopt.Prodigy`.


def _torch_prodigy(**options):
    prodigyopt = pytest.importorskip("prodigyopt")
    return lambda params: prodigyopt.Prodigy(params, **options)


PRODIGY_OPTIONS = [
    pytest.param({}, {}, id="defaults"),
    # At the defaults otherwise, d stays at d0 for 30 steps with these two.
    pytest.param(
        dict(learning_rate=3.0, weight_decay=0.1, use_bias_correction=True,
             safeguard_warmup=True, d0=1e-4),
        dict(lr=3.0, weight_decay=0.1, use_bias_correction=True,
             safeguard_warmup=True, d0=1e-4),
        id="decay-bias_correction-safeguard"),
    pytest.param(
        dict(learning_rate=0.5, weight_decay=0.05, decouple=False,
             beta_3=0.99, d_coef=2.0, growth_rate=1.5, d0=1e-4),
        dict(lr=0.5, weight_decay=0.05, decouple=False, beta3=0.99,
             d_coef=2.0, growth_rate=1.5, d0=1e-4),
        id="l2-beta3-d_coef-growth_rate-d0"),
    pytest.param(
        dict(beta_1=0.0, beta_2=0.99, epsilon=1e-6),
        dict(betas=(0.0, 0.99), eps=1e-6),
        id="no_momentum"),
]


@pytest.mark.parametrize("keras_options,torch_options", PRODIGY_OPTIONS)
def test_prodigy_matches_prodigyopt(keras_options, torch_options):
    params, batches = _problem(seed=len(keras_options))
    torch_side = _Torch(_torch_prodigy(**torch_options), params)
    expected = torch_side.run(batches)
    keras_side = _Keras(Prodigy(**keras_options), params)
    actual = keras_side.run(batches)
    _assert_moved(expected, params)
    _assert_same(actual, expected, "prodigy")
    d = torch_side.optimizer.param_groups[0]["d"]
    assert d > 10 * torch_side.optimizer.param_groups[0]["d0"]  # d grew
    np.testing.assert_allclose(float(keras_side.optimizer.d), d, rtol=1e-6)


def test_prodigy_matches_prodigyopt_under_xla():
    params, batches = _problem(seed=5)
    expected = _Torch(_torch_prodigy(weight_decay=0.1), params).run(batches)
    actual = _Keras(Prodigy(weight_decay=0.1), params,
                    jit_compile=True).run(batches)
    _assert_same(actual, expected, "prodigy xla")


def test_prodigy_matches_prodigyopt_in_float32():
    """The benchmark's dtype: float32 rounding, not the method, differs."""
    params, batches = _problem(seed=8)
    options = dict(weight_decay=0.1)
    expected = _Torch(_torch_prodigy(**options), params, "float32").run(
        batches)
    actual = _Keras(Prodigy(**options), params, dtype="float32").run(batches)
    _assert_same(actual, expected, "prodigy float32")


def test_prodigy_zero_learning_rate_steps_change_nothing():
    """As the reference: a step at LR 0 leaves weights and state unchanged."""
    params, batches = _problem(seed=6, steps=3)
    rate = keras.Variable(1.0, dtype="float32", trainable=False)
    side = _Keras(Prodigy(learning_rate=lambda: rate), params)
    side.run(batches[:1])
    before = side.weights(), [np.asarray(v) for v in side.optimizer.variables]
    rate.assign(0.0)
    side.run(batches[1:])
    after = side.weights(), [np.asarray(v) for v in side.optimizer.variables]
    for k in NAMES:
        np.testing.assert_array_equal(after[0][k], before[0][k])
    for a, b, v in zip(after[1], before[1], side.optimizer.variables):
        if v is not side.optimizer.iterations:
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Schedule-Free AdamW against `schedulefree.AdamWScheduleFree`.


def _torch_schedule_free(**options):
    schedulefree = pytest.importorskip("schedulefree")

    def make(params):
        optimizer = schedulefree.AdamWScheduleFree(params, **options)
        optimizer.train()
        return optimizer

    return make


# Keras keeps the LR in a float32 variable: the default 0.0025 becomes
# 0.00249999994 (2e-8 relative, about 1e-9 on the weights after 30 steps);
# the other cases take LRs exact in float32 and agree to rounding.
SCHEDULE_FREE_OPTIONS = [
    pytest.param({}, {}, id="defaults"),
    pytest.param(
        dict(learning_rate=2.0 ** -7, weight_decay=0.1, warmup_steps=10),
        dict(lr=2.0 ** -7, weight_decay=0.1, warmup_steps=10),
        id="decay-warmup"),
    pytest.param(
        dict(learning_rate=2.0 ** -6, beta_1=0.95, beta_2=0.99,
             warmup_steps=40, r=1.0, weight_lr_power=1.0, epsilon=1e-6),
        dict(lr=2.0 ** -6, betas=(0.95, 0.99), warmup_steps=40, r=1.0,
             weight_lr_power=1.0, eps=1e-6),
        id="betas-long_warmup-r-weight_lr_power"),
]


@pytest.mark.parametrize("keras_options,torch_options", SCHEDULE_FREE_OPTIONS)
def test_schedule_free_matches_schedulefree(keras_options, torch_options):
    params, batches = _problem(seed=10 + len(keras_options))
    expected = _Torch(_torch_schedule_free(**torch_options), params).run(
        batches)
    actual = _Keras(ScheduleFreeAdamW(**keras_options), params).run(batches)
    _assert_moved(expected, params)
    _assert_same(actual, expected, "schedule-free")


def test_schedule_free_matches_schedulefree_under_xla():
    params, batches = _problem(seed=15)
    options = dict(weight_decay=0.1, warmup_steps=5)
    expected = _Torch(_torch_schedule_free(lr=2.0 ** -8, **options),
                      params).run(batches)
    actual = _Keras(ScheduleFreeAdamW(learning_rate=2.0 ** -8, **options),
                    params, jit_compile=True).run(batches)
    _assert_same(actual, expected, "schedule-free xla")


def test_schedule_free_matches_schedulefree_in_float32():
    params, batches = _problem(seed=17)
    expected = _Torch(_torch_schedule_free(weight_decay=0.1), params,
                      "float32").run(batches)
    actual = _Keras(ScheduleFreeAdamW(weight_decay=0.1), params,
                    dtype="float32").run(batches)
    _assert_same(actual, expected, "schedule-free float32")


def test_schedule_free_eval_gives_the_reference_x():
    """`eval()` / `train()` as the reference's, and a step in eval mode."""
    params, batches = _problem(seed=16)
    options = dict(weight_decay=0.1, warmup_steps=5)
    torch_side = _Torch(_torch_schedule_free(lr=2.0 ** -8, **options), params)
    keras_side = _Keras(
        ScheduleFreeAdamW(learning_rate=2.0 ** -8, **options), params)
    ref, opt = torch_side.optimizer, keras_side.optimizer

    # Before any step there is no z: eval() leaves the weights as they are.
    opt.eval()
    assert not opt.train_mode
    _assert_same(keras_side.weights(), params, "eval before any step")
    opt.train()

    _assert_same(keras_side.run(batches[:20]), torch_side.run(batches[:20]),
                 "y, 20 steps")
    y = keras_side.weights()
    ref.eval()
    opt.eval()
    x = keras_side.weights()
    assert _max_difference(x, y) > 100 * ATOL  # x and y differ
    _assert_same(x, torch_side.weights(), "x after 20 steps")
    opt.eval()  # idempotent, as the reference's
    _assert_same(keras_side.weights(), x, "eval twice")
    ref.train()
    opt.train()
    _assert_same(keras_side.weights(), torch_side.weights(), "y again")
    _assert_same(keras_side.weights(), y, "y round trip")

    # A step in eval mode: its gradient is taken at x (the model holds x);
    # the step puts y back first, as the reference's train() then step().
    ref.eval()
    opt.eval()
    _assert_same(keras_side.run(batches[20:]),
                 torch_side.run(batches[20:], train_after_first_gradient=True),
                 "y, steps 21-30 (the first in eval mode)")
    assert opt.train_mode
    ref.eval()
    opt.eval()
    _assert_same(keras_side.weights(), torch_side.weights(), "x after 30 steps")


# --------------------------------------------------------------------------
# Arguments, config, and `model.fit`.


@pytest.mark.parametrize("cls,name,value", [
    (Prodigy, "learning_rate", -1),
    (Prodigy, "beta_1", 1.0),
    (Prodigy, "beta_3", -0.5),
    (Prodigy, "d0", 0.0),
    (Prodigy, "growth_rate", 0.5),
    (Prodigy, "decouple", "yes"),
    (Prodigy, "weight_decay", -0.1),
    (ScheduleFreeAdamW, "learning_rate", -1),
    (ScheduleFreeAdamW, "beta_1", 0.0),
    (ScheduleFreeAdamW, "warmup_steps", 2.5),
    (ScheduleFreeAdamW, "r", float("nan")),
    (ScheduleFreeAdamW, "weight_lr_power", -1.0),
])
def test_bad_arguments_raise_naming_the_value(cls, name, value):
    with pytest.raises(ValueError, match=f"Received {name}={value!r}"):
        cls(**{name: value})


def test_defaults_and_config_round_trip():
    config = Prodigy().get_config()
    assert {k: config[k] for k in (
        "learning_rate", "beta_1", "beta_2", "beta_3", "epsilon",
        "weight_decay", "decouple", "use_bias_correction", "safeguard_warmup",
        "d0", "d_coef", "growth_rate")} == dict(
        learning_rate=1.0, beta_1=0.9, beta_2=0.999, beta_3=None,
        epsilon=1e-8, weight_decay=0.0, decouple=True,
        use_bias_correction=False, safeguard_warmup=False, d0=1e-6,
        d_coef=1.0, growth_rate=float("inf"))
    assert Prodigy.from_config(config).get_config() == config
    config = ScheduleFreeAdamW().get_config()
    assert config["learning_rate"] == pytest.approx(0.0025)
    assert {k: config[k] for k in (
        "beta_1", "beta_2", "epsilon", "weight_decay", "warmup_steps", "r",
        "weight_lr_power")} == dict(
        beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0,
        warmup_steps=0, r=0.0, weight_lr_power=2.0)
    assert ScheduleFreeAdamW.from_config(config).get_config() == config


def _data_and_model(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x[:, :3].argmax(axis=1)).astype("int32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3),
    ])
    return x, y, model


def _compile(model, optimizer):
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def test_prodigy_fit_smoke(tmp_path):
    x, y, model = _data_and_model()
    _compile(model, Prodigy(weight_decay=1e-3))
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert float(model.optimizer.d) > 100 * 1e-6
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is Prodigy
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_schedule_free_fit_validates_and_ends_at_x():
    x, y, model = _data_and_model(seed=1)
    _compile(model, ScheduleFreeAdamW(learning_rate=0.01, warmup_steps=8))
    history = model.fit(x, y, batch_size=32, epochs=3, verbose=0,
                        validation_data=(x[:64], y[:64]),
                        callbacks=[ScheduleFreeEval()])
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    optimizer = model.optimizer
    assert not optimizer.train_mode  # the model holds x after fit
    # The last validation ran at the x the model now holds.
    at_x = model.evaluate(x[:64], y[:64], verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][-1], at_x,
                               rtol=1e-6)
    optimizer.train()
    at_y = model.evaluate(x[:64], y[:64], verbose=0)
    assert abs(at_y - at_x) > 1e-4
    # Training goes on at y, with or without the callback.
    optimizer.eval()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert optimizer.train_mode
