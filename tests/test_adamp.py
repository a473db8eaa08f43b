"""`keras_autolr.optimizers.AdamP` (issue 7).

The parameter trajectory is checked against the authors' PyTorch package
`adamp` (main lane: `torch` and `adamp` installed) and, on every lane, against
a NumPy transcription of that package's `step`: 50 steps of a small network
with a convolution followed by batch normalisation (channel-wise
scale-invariant kernel), a dense layer followed by layer normalisation
(layer-wise scale-invariant kernel), a plain dense layer and biases, in
float64, with and without weight decay and Nesterov momentum. Both sides
compute the gradients of the same loss from their own parameters.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

import keras_autolr
from keras_autolr._keras import keras
from keras_autolr.optimizers import AdamP

STEPS = 50
LR = 2.0 ** -7  # exact in float32: Keras keeps a float LR in a float32 variable
RTOL = 1e-5
BN_EPS = 1e-5
NAMES = ("conv_kernel", "conv_bias", "bn_gamma", "bn_beta", "ln_kernel",
         "out_kernel", "out_bias")


# --------------------------------------------------------------------------
# The problem: parameters in Keras layout, one batch per step.


def _problem(seed):
    rng = np.random.default_rng(seed)
    params = {
        "conv_kernel": rng.normal(0, 0.5, (3, 3, 3, 4)),  # HWIO
        "conv_bias": rng.normal(0, 0.1, (4,)),
        "bn_gamma": 1 + rng.normal(0, 0.1, (4,)),
        "bn_beta": rng.normal(0, 0.1, (4,)),
        "ln_kernel": rng.normal(0, 0.5, (4, 6)),  # (in, out)
        "out_kernel": rng.normal(0, 0.5, (6, 3)),
        "out_bias": rng.normal(0, 0.1, (3,)),
    }
    batches = [(rng.normal(size=(8, 5, 5, 3)), rng.integers(0, 3, size=8))
               for _ in range(STEPS)]
    return params, batches


def _tf_loss(p, x, y):
    """conv -> BN -> relu -> mean pool -> dense -> LN -> relu -> dense -> CE."""
    h = tf.nn.conv2d(x, p["conv_kernel"], 1, "VALID") + p["conv_bias"]
    mean, var = tf.nn.moments(h, axes=[0, 1, 2])
    h = (h - mean) / tf.sqrt(var + BN_EPS) * p["bn_gamma"] + p["bn_beta"]
    h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
    h = tf.matmul(h, p["ln_kernel"])
    mean, var = tf.nn.moments(h, axes=[1], keepdims=True)
    h = tf.nn.relu((h - mean) / tf.sqrt(var + BN_EPS))
    logits = tf.matmul(h, p["out_kernel"]) + p["out_bias"]
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))


@tf.function
def _tf_grads_graph(params, x, y):
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = _tf_loss(params, x, y)
    return tape.gradient(loss, params)


def _tf_grads(params, x, y):
    params = {k: tf.constant(v) for k, v in params.items()}
    grads = _tf_grads_graph(params, tf.constant(x), tf.constant(y))
    return {k: g.numpy() for k, g in grads.items()}


# Keras -> PyTorch layout: HWIO -> OIHW, (in, out) -> (out, in).
def _to_torch(name, value):
    if name == "conv_kernel":
        return np.transpose(value, (3, 2, 0, 1))
    if value.ndim == 2:
        return value.T
    return value


def _from_torch(name, value):
    if name == "conv_kernel":
        return np.transpose(value, (2, 3, 1, 0))
    if value.ndim == 2:
        return value.T
    return value


# --------------------------------------------------------------------------
# The three implementations.


def _run_keras(params, batches, jit_compile=False, **options):
    variables = {k: tf.Variable(v, name=k) for k, v in params.items()}
    var_list = [variables[k] for k in NAMES]
    optimizer = AdamP(learning_rate=LR, **options)
    optimizer.build(var_list)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = _tf_loss(variables, x, y)
        grads = tape.gradient(loss, var_list)
        optimizer.apply_gradients(zip(grads, var_list))

    step = tf.function(step, jit_compile=jit_compile)
    trajectory = []
    for x, y in batches:
        step(tf.constant(x), tf.constant(y))
        trajectory.append({k: v.numpy() for k, v in variables.items()})
    return trajectory


def _run_torch(params, batches, record=None, **options):
    torch = pytest.importorskip("torch")
    adamp = pytest.importorskip("adamp")
    F = torch.nn.functional

    class SpiedAdamP(adamp.AdamP):
        """Records which view, if any, projected each parameter."""

        def _cosine_similarity(self, x, y, eps, view_func):
            self._last_view = view_func.__name__[1:-len("_view")]
            return super()._cosine_similarity(x, y, eps, view_func)

        def _projection(self, p, grad, perturb, *args):
            perturb, wd = super()._projection(p, grad, perturb, *args)
            if record is not None:
                view = self._last_view if wd != 1 else None
                record.setdefault(names[id(p)], []).append(view)
            return perturb, wd

    tensors = {k: torch.tensor(np.ascontiguousarray(_to_torch(k, v)),
                               dtype=torch.float64,
                               requires_grad=True) for k, v in params.items()}
    names = {id(t): k for k, t in tensors.items()}
    wd, nesterov = options.get("weight_decay", 0.0), options.get("nesterov", False)
    optimizer = SpiedAdamP([tensors[k] for k in NAMES], lr=LR,
                           weight_decay=wd, nesterov=nesterov)
    p = tensors
    trajectory = []
    for x, y in batches:
        x = torch.tensor(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2))),
                         dtype=torch.float64)
        h = F.conv2d(x, p["conv_kernel"], p["conv_bias"])
        mean = h.mean(dim=(0, 2, 3), keepdim=True)
        var = ((h - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
        h = ((h - mean) / torch.sqrt(var + BN_EPS) * p["bn_gamma"].view(1, -1, 1, 1)
             + p["bn_beta"].view(1, -1, 1, 1))
        h = F.relu(h).mean(dim=(2, 3))
        h = h @ p["ln_kernel"].T
        mean = h.mean(dim=1, keepdim=True)
        var = ((h - mean) ** 2).mean(dim=1, keepdim=True)
        h = F.relu((h - mean) / torch.sqrt(var + BN_EPS))
        logits = h @ p["out_kernel"].T + p["out_bias"]
        loss = F.cross_entropy(logits, torch.tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trajectory.append({k: _from_torch(k, t.detach().numpy().copy())
                           for k, t in tensors.items()})
    return trajectory


def _numpy_adamp_step(p, grad, state, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                      weight_decay=0.0, delta=0.1, wd_ratio=0.1,
                      nesterov=False):
    """`adamp.AdamP.step` (adamp 0.3.0) for one parameter, PyTorch layout.

    Returns the new parameter and the view that projected it (or None).
    """
    state["step"] = state.get("step", 0) + 1
    m = state.get("exp_avg", np.zeros_like(p)) * beta1 + grad * (1 - beta1)
    v = state.get("exp_avg_sq", np.zeros_like(p)) * beta2 + grad * grad * (1 - beta2)
    state["exp_avg"], state["exp_avg_sq"] = m, v
    bias_correction1 = 1 - beta1 ** state["step"]
    bias_correction2 = 1 - beta2 ** state["step"]
    denom = np.sqrt(v) / math.sqrt(bias_correction2) + eps
    step_size = lr / bias_correction1
    perturb = (beta1 * m + (1 - beta1) * grad) / denom if nesterov else m / denom
    ratio, projected_by = 1.0, None
    if p.ndim > 1:
        expand = [-1] + [1] * (p.ndim - 1)
        views = (("channel", lambda t: t.reshape(t.shape[0], -1)),
                 ("layer", lambda t: t.reshape(1, -1)))
        for name, view in views:
            pv, gv = view(p), view(grad)
            pn = np.linalg.norm(pv, axis=1, keepdims=True)
            gn = np.linalg.norm(gv, axis=1, keepdims=True)
            cosine = np.abs(np.sum(gv / np.maximum(gn, eps)
                                   * pv / np.maximum(pn, eps), axis=1))
            if cosine.max() < delta / math.sqrt(pv.shape[1]):
                p_n = p / (np.linalg.norm(pv, axis=1).reshape(expand) + eps)
                radial = view(p_n * perturb).sum(axis=1).reshape(expand)
                perturb = perturb - p_n * radial
                ratio, projected_by = wd_ratio, name
                break
    if weight_decay > 0:
        p = p * (1 - lr * weight_decay * ratio)
    return p - step_size * perturb, projected_by


def _run_numpy(params, batches, record=None, **options):
    params = dict(params)
    states = {k: {} for k in params}
    trajectory = []
    for x, y in batches:
        grads = _tf_grads(params, x, y)
        for k in NAMES:
            new, view = _numpy_adamp_step(
                _to_torch(k, params[k]), _to_torch(k, grads[k]), states[k],
                LR, **options)
            params[k] = _from_torch(k, new)
            if record is not None and params[k].ndim > 1:
                record.setdefault(k, []).append(view)
        trajectory.append(dict(params))
    return trajectory


def _assert_same_trajectory(actual, expected):
    assert len(actual) == len(expected) == STEPS
    for step, (a, e) in enumerate(zip(actual, expected)):
        for k in NAMES:
            np.testing.assert_allclose(
                a[k], e[k], rtol=RTOL, atol=1e-12,
                err_msg=f"{k} after step {step + 1}")


def _assert_projections(record):
    """The problem exercises both views, and the plain kernel too."""
    assert record["conv_kernel"] == ["channel"] * STEPS
    assert None not in record["ln_kernel"]
    assert "layer" in record["ln_kernel"]
    assert len(record["out_kernel"]) == STEPS


OPTIONS = [
    pytest.param(dict(), id="plain"),
    pytest.param(dict(weight_decay=0.5), id="weight_decay"),
    pytest.param(dict(nesterov=True), id="nesterov"),
    pytest.param(dict(weight_decay=0.5, nesterov=True), id="weight_decay-nesterov"),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_trajectory_matches_pytorch_adamp(options):
    pytest.importorskip("torch")
    pytest.importorskip("adamp")
    params, batches = _problem(seed=len(options))
    record = {}
    expected = _run_torch(params, batches, record=record, **options)
    _assert_projections(record)
    _assert_same_trajectory(_run_keras(params, batches, **options), expected)


def test_trajectory_matches_pytorch_adamp_under_xla():
    pytest.importorskip("torch")
    pytest.importorskip("adamp")
    options = dict(weight_decay=0.5, nesterov=True)
    params, batches = _problem(seed=7)
    expected = _run_torch(params, batches, **options)
    actual = _run_keras(params, batches, jit_compile=True, **options)
    _assert_same_trajectory(actual, expected)


def test_numpy_transcription_matches_pytorch_adamp():
    """Vouches for the NumPy reference the legacy lane checks against."""
    pytest.importorskip("torch")
    pytest.importorskip("adamp")
    options = dict(weight_decay=0.5, nesterov=True)
    params, batches = _problem(seed=3)
    _assert_same_trajectory(_run_numpy(params, batches, **options),
                            _run_torch(params, batches, **options))


@pytest.mark.parametrize("options", [OPTIONS[0], OPTIONS[3]])
def test_trajectory_matches_numpy_transcription(options):
    params, batches = _problem(seed=11)
    record = {}
    expected = _run_numpy(params, batches, record=record, **options)
    _assert_projections(record)
    _assert_same_trajectory(_run_keras(params, batches, **options), expected)


# --------------------------------------------------------------------------
# Behaviour.


def test_projected_update_is_orthogonal_per_output_channel():
    """A gradient orthogonal to each output channel (Keras' last axis)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 2, 5))
    g = rng.normal(size=w.shape)
    flat_w, flat_g = w.reshape(-1, 5), g.reshape(-1, 5)
    flat_g -= flat_w * (flat_w * flat_g).sum(0) / (flat_w * flat_w).sum(0)
    variable = tf.Variable(w)
    AdamP(learning_rate=0.1).apply_gradients(
        [(tf.constant(flat_g.reshape(w.shape)), variable)])
    update = (variable.numpy() - w).reshape(-1, 5)
    cosine = (update * flat_w).sum(0) / (
        np.linalg.norm(update, axis=0) * np.linalg.norm(flat_w, axis=0))
    np.testing.assert_allclose(cosine, 0.0, atol=1e-7)

    # A gradient along the weight is not projected: the step shrinks it.
    variable = tf.Variable(w)
    AdamP(learning_rate=0.1).apply_gradients([(tf.constant(w), variable)])
    assert np.linalg.norm(variable.numpy()) < np.linalg.norm(w) - 0.1


def test_weight_decay_is_decoupled_and_respects_exclusions():
    kept = tf.Variable(np.ones(3), name="kept")
    excluded = tf.Variable(np.ones(3), name="excluded")
    optimizer = AdamP(learning_rate=0.1, weight_decay=0.5)
    optimizer.exclude_from_weight_decay(var_list=[excluded])
    zero = tf.zeros(3, tf.float64)
    optimizer.apply_gradients([(zero, kept), (zero, excluded)])
    np.testing.assert_allclose(kept.numpy(), 1 - 0.1 * 0.5)
    np.testing.assert_allclose(excluded.numpy(), 1.0)


def test_defaults_follow_the_reference():
    config = AdamP().get_config()
    assert config["learning_rate"] == pytest.approx(1e-3)
    assert {k: config[k] for k in (
        "beta_1", "beta_2", "epsilon", "weight_decay", "delta", "wd_ratio",
        "nesterov")} == dict(beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                             weight_decay=0.0, delta=0.1, wd_ratio=0.1,
                             nesterov=False)


@pytest.mark.parametrize("kwargs, received", [
    (dict(delta=-1), "Received delta=-1"),
    (dict(wd_ratio=-0.1), "Received wd_ratio=-0.1"),
    (dict(weight_decay=-1e-4), "Received weight_decay=-0.0001"),
    (dict(beta_1=1.0), "Received beta_1=1.0"),
    (dict(beta_2=-0.5), "Received beta_2=-0.5"),
    (dict(epsilon=0), "Received epsilon=0"),
    (dict(learning_rate=-1.0), "Received learning_rate=-1.0"),
    (dict(learning_rate="fast"), "Received learning_rate='fast'"),
    (dict(delta=float("nan")), "Received delta=nan"),
    (dict(nesterov="yes"), "Received nesterov='yes'"),
])
def test_invalid_arguments(kwargs, received):
    with pytest.raises(ValueError, match=received):
        AdamP(**kwargs)


def test_config_round_trip_with_autolr_schedule():
    schedule = keras_autolr.AutoLRSchedule(total_steps=100, min_lr=1e-4)
    optimizer = AdamP(learning_rate=schedule, weight_decay=0.01, delta=0.2,
                      wd_ratio=0.5, nesterov=True, clipnorm=1.0)
    config = optimizer.get_config()
    restored = AdamP.from_config(dict(config))
    assert restored.get_config() == config
    assert isinstance(restored._learning_rate, keras_autolr.AutoLRSchedule)
    assert restored._learning_rate.get_config() == schedule.get_config()

    # Registered: found by name, without custom_objects.
    serialized = keras.optimizers.serialize(optimizer)
    restored = keras.optimizers.deserialize(serialized)
    assert type(restored) is AdamP
    assert restored.get_config() == config
    assert AdamP.from_config(AdamP(learning_rate=0.5).get_config()).get_config()[
        "learning_rate"] == pytest.approx(0.5)


def _conv_bn_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(4, 3, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.ReLU(),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_fit_with_autolr(jit_compile, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, size=64).astype("int32")
    model = _conv_bn_model()
    kernel = model.layers[0].kernel
    before = kernel.numpy()
    schedule = keras_autolr.AutoLRSchedule(min_lr=1e-3, max_lr=0.1)
    model.compile(
        optimizer=AdamP(learning_rate=schedule, weight_decay=1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile)
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0,
                        callbacks=[keras_autolr.AutoLR(schedule=schedule)])
    assert np.all(np.isfinite(history.history["loss"]))
    assert int(model.optimizer.iterations.numpy()) == 24
    assert not np.allclose(kernel.numpy(), before)
    if jit_compile:
        return
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is AdamP
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
