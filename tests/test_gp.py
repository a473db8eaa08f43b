"""gp.py: the GP's kernel, likelihood gradient, low-rank grid and posterior.

The smoother is written out in NumPy with TensorFlow's factorizations; each
shortcut it takes is checked here against the plain computation: TFP's
kernel, TensorFlow's automatic gradient of the likelihood, and the dense
posterior with one triangular solve per grid column.
"""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from keras_autolr.decision import gp
from keras_autolr.decision import linalg


def _record(rng, n):
    x = np.sort(rng.random(n))
    y = (x - 0.3 - 0.4 * rng.random()) ** 2 + 0.05 * rng.standard_normal(n)
    return x, (y - y.mean()) / y.std()


def test_unit_kernel_is_tfps_exponentiated_quadratic():
    rng = np.random.default_rng(0)
    a, b = rng.random(37), rng.random(11)
    tfp_kernel = tfp.math.psd_kernels.ExponentiatedQuadratic(
        amplitude=tf.constant(1.0, tf.float64),
        length_scale=tf.constant(gp.LENGTH_SCALE, tf.float64), feature_ndims=1)
    expected = tfp_kernel.matrix(a[:, None], b[:, None]).numpy()
    np.testing.assert_allclose(gp.unit_kernel(a, b), expected, rtol=1e-13, atol=1e-15)


def _nll(theta, x, y):
    """The mean negative log marginal likelihood, dense, in TensorFlow."""
    a2 = tf.math.softplus(theta[0])
    s2 = tf.math.softplus(theta[1]) + gp.NOISE_FLOOR
    n = len(x)
    k = a2 * tf.constant(gp.unit_kernel(x, x)) + s2 * tf.eye(n, dtype=tf.float64)
    r = tf.constant(y)[:, None] - theta[2]
    chol = tf.linalg.cholesky(k)
    quad = tf.reduce_sum(r * tf.linalg.cholesky_solve(chol, r))
    logdet = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(chol)))
    return 0.5 * (quad + logdet + n * math.log(2 * math.pi)) / n


@pytest.mark.parametrize("theta", [[0.3, -4.0, 0.2], [2.0, 0.5, -1.0], [-3.0, -9.0, 0.0]])
def test_likelihood_gradient_is_tensorflows_automatic_gradient(theta):
    """The eigenbasis gradient written out equals autodiff of the dense likelihood."""
    rng = np.random.default_rng(1)
    x, y = _record(rng, 60)
    eigvals, eigvecs = np.linalg.eigh(gp.unit_kernel(x, x))
    grad = gp.likelihood_gradient(np.maximum(eigvals, 0.0), eigvecs.T @ y,
                                  eigvecs.T @ np.ones_like(y), np.array(theta))
    variable = tf.Variable(np.array(theta))
    with tf.GradientTape() as tape:
        loss = _nll(variable, x, y)
    expected = tape.gradient(loss, variable).numpy()
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def _textbook_adam(eigvals, q_y, q_1, theta, steps, lr=gp.ADAM_LR):
    """Adam (Kingma and Ba, with bias correction) on `likelihood_gradient`."""
    theta = np.array(theta, np.float64)
    m1, m2 = np.zeros(3), np.zeros(3)
    for step in range(1, steps + 1):
        grad = gp.likelihood_gradient(eigvals, q_y, q_1, theta)
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        theta = theta - lr * (m1 / (1 - 0.9**step)) / (
            np.sqrt(m2 / (1 - 0.999**step)) + 1e-8)
    return theta


@pytest.mark.parametrize("n", [12, 60, 100])
def test_adam_is_textbook_adam_on_the_likelihood_gradient(n):
    """The loop with the gradient written in equals Adam on `likelihood_gradient`."""
    rng = np.random.default_rng(n)
    x, y = _record(rng, n)
    eigvals, eigvecs = np.linalg.eigh(gp.unit_kernel(x, x))
    args = (np.maximum(eigvals, 0.0), eigvecs.T @ y, eigvecs.T @ np.ones_like(y))
    start = gp.initial_params()
    np.testing.assert_allclose(
        gp.adam(*args, start), _textbook_adam(*args, start, gp.ADAM_STEPS),
        rtol=1e-12, atol=1e-12)


def test_a_kept_adam_state_continues_one_adam_across_fits():
    """`gp="reference"`: two fits with one `AdamState` are one Adam of 200 steps.

    The reference keeps its `torch.optim.Adam` for the whole run: the second
    fit starts from the first one's moments and bias corrections. A fresh
    state (or none) is the library's fresh Adam, bit for bit.
    """
    rng = np.random.default_rng(3)
    x, y = _record(rng, 80)
    eigvals, eigvecs = np.linalg.eigh(gp.unit_kernel(x, x))
    args = (np.maximum(eigvals, 0.0), eigvecs.T @ y, eigvecs.T @ np.ones_like(y))
    start = gp.initial_params()
    state = gp.AdamState()
    first = gp.adam(*args, start, state)
    assert state.step == gp.ADAM_STEPS
    np.testing.assert_array_equal(first, gp.adam(*args, start))  # fresh = none
    second = gp.adam(*args, first, state)
    assert state.step == 2 * gp.ADAM_STEPS
    np.testing.assert_allclose(
        second, _textbook_adam(*args, start, 2 * gp.ADAM_STEPS), rtol=1e-12, atol=1e-12)
    # A fresh Adam from the same point goes elsewhere: the state matters.
    assert np.max(np.abs(gp.adam(*args, first) - second)) > 1e-6


def test_fit_lowers_the_likelihood_from_the_start():
    rng = np.random.default_rng(2)
    x, y = _record(rng, 100)
    start = gp.initial_params()
    fitted = gp.GaussianProcessSmoother().fit(x, y, start)
    assert float(_nll(tf.constant(fitted), x, y)) < float(_nll(tf.constant(start), x, y))


@pytest.mark.parametrize("points", [7, 50, 500, 2000])
def test_grid_basis_spans_every_kernel_column_to_rounding(points):
    grid = np.linspace(0.0, 1.0, points)
    basis = gp.grid_basis(grid)
    assert basis.shape[1] <= min(points, 40)  # the point of it: few columns
    np.testing.assert_allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-12)
    x = np.concatenate([[0.0, 1.0], np.random.default_rng(3).random(400)])
    columns = gp.unit_kernel(x, grid)
    assert np.abs(columns - (columns @ basis) @ basis.T).max() < 1e-12


def _dense_posterior(smoother, x, y, params):
    """The posterior test without the grid basis: one solve per grid column."""
    a2, s2, mean = gp.constrained(params)
    grid = smoother.grid
    k = a2 * gp.unit_kernel(x, x) + s2 * np.eye(len(x))
    chol = np.linalg.cholesky(k)
    k_gn = a2 * gp.unit_kernel(grid, x)
    post_mean = mean + k_gn @ np.linalg.solve(k, y - mean)
    diff = k_gn - k_gn[-1]
    solved = np.linalg.solve(chol, diff.T)
    prior = 2.0 * a2 * (1.0 - gp.unit_kernel(grid, grid[-1:])[:, 0])
    var = np.maximum(prior - np.sum(solved**2, axis=0), 0.0) + gp.DIFFERENCE_JITTER
    z = (post_mean[-1] - post_mean[:-1]) / np.sqrt(var[:-1])
    normal = tfp.distributions.Normal(tf.constant(0.0, tf.float64),
                                      tf.constant(1.0, tf.float64))
    prob = float(tf.reduce_max(normal.cdf(z)))
    band = np.maximum(a2 - np.sum(np.linalg.solve(chol, k_gn.T) ** 2, axis=0), 0.0)
    return post_mean, prob, band


@pytest.mark.parametrize("n", [12, 150, 500])
def test_posterior_equals_the_dense_computation(n):
    rng = np.random.default_rng(n)
    x, y = _record(rng, n)
    smoother = gp.GaussianProcessSmoother()
    params = smoother.fit(x[:100], y[:100], gp.initial_params())
    mean, prob, argmin, descent = smoother.posterior(x, y, params)
    expected_mean, expected_prob, expected_band = _dense_posterior(smoother, x, y, params)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-9, atol=1e-9)
    assert prob == pytest.approx(expected_prob, abs=1e-9)
    assert argmin == int(np.argmin(expected_mean))
    assert 0.0 <= descent <= 1.0
    band_mean, band = smoother.posterior_band(x, y, params)
    np.testing.assert_allclose(band_mean, expected_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(band, expected_band, atol=1e-9)


def test_a_failed_factorization_raises_for_the_caller_to_retry():
    smoother = gp.GaussianProcessSmoother()
    x = np.zeros(10)  # ten equal points: a rank-one kernel
    params = gp.to_params(1.0, gp.NOISE_FLOOR, 0.0)
    params[1] = -800.0  # noise 1e-4 exactly; with jitter -1e-4, singular
    with pytest.raises(linalg.NumericalError):
        smoother.posterior(x, np.ones(10), params, jitter=-gp.NOISE_FLOOR)


def test_too_many_points_for_a_draw_is_an_error():
    smoother = gp.GaussianProcessSmoother(fit_points=10)
    with pytest.raises(ValueError, match="11 points"):
        smoother.fit(np.linspace(0, 1, 11), np.zeros(11), gp.initial_params())
