"""Gaussian-process smoothing of a loss record and the past-minimum test.

Float64 on the host CPU, run eagerly: nothing is traced or compiled, so the
first test of a process costs what every other test costs (a traced and
XLA-compiled version took 1 to 2.5 s to compile in each process, on the
critical path of `fit` and of `replay`). The kernel is TensorFlow
Probability's `ExponentiatedQuadratic`, written out in NumPy (checked
against TFP's in tests/test_gp.py); the normal distribution is TFP's (its
NumPy substrate, which needs no TensorFlow); every matrix operation is
SciPy's LAPACK on one thread (`linalg` says why), the same on every
backend.

The length scale is fixed (0.2 in units of `x`), so one eigendecomposition
per fit turns every Adam step into O(n) work, with the gradient written out
(`likelihood_gradient`). The test needs the posterior mean and only the
variances of `f_i - f_k` against the last grid point `k`, not the full grid
covariance: one Cholesky factorization per posterior, and one triangular
solve of the few columns of the grid basis (`grid_basis`).

Model (docs/algorithm.md, "The paper's rule" 3), on standardized losses `y`:
`y = m + f(x) + eps`, `f ~ GP(0, a2 * exp(-(x - x')**2 / (2 * 0.2**2)))`,
`eps ~ N(0, s2)`, with `a2 = softplus(r_a)`, `s2 = softplus(r_s) + 1e-4`.
"""

import math

import numpy as np
from tensorflow_probability.substrates import numpy as tfp_np

from keras_autolr.decision import linalg

LENGTH_SCALE = 0.2
NOISE_INIT = 1e-3
NOISE_FLOOR = 1e-4  # GPyTorch's default noise constraint, GreaterThan(1e-4)
OUTPUTSCALE_INIT = math.log(2.0)  # GPyTorch's softplus(0)
DIFFERENCE_JITTER = 1e-4  # added to Var(f_i - f_k), docs/algorithm.md, rule 4
ADAM_LR = 0.01
ADAM_STEPS = 100


def _inverse_softplus(value):
    value = max(float(value), 1e-300)
    if value > 30.0:
        return value + math.log1p(-math.exp(-value))
    return math.log(math.expm1(value))


def to_params(amplitude2, noise, mean):
    """Unconstrained `[r_a, r_s, m]` from `a2`, `s2` and `m` (standardized)."""
    return np.array(
        [_inverse_softplus(amplitude2),
         _inverse_softplus(max(noise - NOISE_FLOOR, 1e-12)), float(mean)],
        dtype=np.float64,
    )


def initial_params():
    """GPyTorch's initial state: `a2 = softplus(0)`, `s2 = 1e-3`, `m = 0`."""
    return to_params(OUTPUTSCALE_INIT, NOISE_INIT, 0.0)


def constrained(params):
    """`(a2, s2, m)` from unconstrained parameters (NumPy)."""
    r_a, r_s, mean = (float(v) for v in params)
    a2 = float(np.logaddexp(0.0, r_a))
    s2 = float(np.logaddexp(0.0, r_s)) + NOISE_FLOOR
    return a2, s2, mean


# TensorFlow Probability's standard normal (its NumPy substrate: no graph).
_NORMAL = tfp_np.distributions.Normal(np.float64(0.0), np.float64(1.0))


def unit_kernel(a, b):
    """The RBF kernel of amplitude 1 between `a` and `b`: `[len(a), len(b)]`.

    `exp(-(a_i - b_j)**2 / (2 * 0.2**2))`: TensorFlow Probability's
    `ExponentiatedQuadratic(length_scale=0.2)`, written out from the
    differences (tests/test_gp.py checks it against TFP's). TFP's NumPy
    version expands `|a|^2 + |b|^2 - 2ab` and costs 3x as much here; in
    place, one array (the temporaries of a 500x500 kernel cost 4x the math).
    """
    out = np.subtract.outer(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out *= out
    out *= -0.5 / LENGTH_SCALE**2
    return np.exp(out, out=out)


def _softplus(value):
    """`log(1 + exp(value))` of a float, without overflow."""
    return max(value, 0.0) + math.log1p(math.exp(-abs(value)))


def _sigmoid(value):
    """The derivative of softplus, of a float."""
    return 0.5 * (1.0 + math.tanh(0.5 * value))


def likelihood_gradient(eigvals, q_y, q_1, theta):
    """Gradient of the GP's mean negative log-likelihood in `[r_a, r_s, m]`.

    In the eigenbasis of the unit kernel (`K0 = Q diag(e) Q^T`),
    `K = a2 * K0 + s2 * I` has eigenvalues `d = a2 * e + s2`, and with
    `z = Q^T y - m * Q^T 1` the mean negative log-likelihood is
    `(sum(z**2 / d) + sum(log d) + n * log(2 pi)) / (2 n)`. Its gradient,
    written out: `dL/dd = (1/d - z**2/d**2) / (2 n)`, `dd/da2 = e`,
    `dd/ds2 = 1`, `dL/dm = -sum(z * Q^T 1 / d) / n`, chained through the
    softplus of each constrained parameter: O(n).

    Args:
        eigvals, q_y, q_1: float64 arrays `e`, `Q^T y`, `Q^T 1`.
        theta: unconstrained `[r_a, r_s, m]`.

    Returns:
        float64 array of 3; a non-finite entry is set to 0.
    """
    r_a, r_s, mean = (float(v) for v in theta)
    count = float(len(eigvals))
    d = _softplus(r_a) * eigvals
    d += _softplus(r_s) + NOISE_FLOOR
    inverse = 1.0 / d
    w = q_y - mean * q_1
    w *= inverse
    d_dd = inverse - w * w  # 2 n dL/dd
    half = 0.5 / count
    grad = (half * float(np.dot(d_dd, eigvals)) * _sigmoid(r_a),
            half * float(d_dd.sum()) * _sigmoid(r_s),
            -float(np.dot(w, q_1)) / count)
    return np.array([g if math.isfinite(g) else 0.0 for g in grad], np.float64)


class AdamState:
    """Adam's moments and step count, kept from one fit to the next.

    The reference (kakaobrain/autowu) builds its `torch.optim.Adam` once and
    keeps it for the whole run: each test's 100 steps start from the last
    test's moments and bias corrections (`Options(gp="reference")`). A fresh
    state is a fresh Adam, which is what the library's fit uses every test.
    """

    def __init__(self):
        self.m1 = [0.0, 0.0, 0.0]
        self.m2 = [0.0, 0.0, 0.0]
        self.step = 0

    def __repr__(self):
        return f"AdamState(m1={self.m1}, m2={self.m2}, step={self.step})"


def adam(eigvals, q_y, q_1, params, state=None):
    """`ADAM_STEPS` Adam steps (lr 0.01) on the GP's mean negative log-likelihood.

    The step of `likelihood_gradient`, written into the loop (the same
    arithmetic, in the same order): a test fits at most 100
    points, so the Python around each step costs more than its math.

    Args:
        eigvals, q_y, q_1: float64 arrays `e`, `Q^T y`, `Q^T 1`
            (`likelihood_gradient`).
        params: unconstrained `[r_a, r_s, m]`, the start.
        state: `AdamState` or None (default: a fresh Adam). Given, the steps
            start from its moments and step count, and it is updated in
            place (the reference's one Adam for the whole run).

    Returns:
        The unconstrained parameters after the last step.
    """
    theta = [float(v) for v in params]
    if state is None:
        m1 = [0.0, 0.0, 0.0]
        m2 = [0.0, 0.0, 0.0]
        done = 0
    else:
        m1, m2, done = list(state.m1), list(state.m2), int(state.step)
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    count = float(len(eigvals))
    half = 0.5 / count
    isfinite, sqrt, log1p, exp, tanh = (
        math.isfinite, math.sqrt, math.log1p, math.exp, math.tanh)
    dot = np.dot
    with np.errstate(all="ignore"):
        for step in range(1, ADAM_STEPS + 1):
            r_a, r_s, mean = theta
            # likelihood_gradient, inlined.
            d = (max(r_a, 0.0) + log1p(exp(-abs(r_a)))) * eigvals
            d += (max(r_s, 0.0) + log1p(exp(-abs(r_s)))) + NOISE_FLOOR
            inverse = 1.0 / d
            w = q_y - mean * q_1
            w *= inverse
            d_dd = inverse - w * w
            grad = (half * float(dot(d_dd, eigvals)) * (0.5 * (1.0 + tanh(0.5 * r_a))),
                    half * float(d_dd.sum()) * (0.5 * (1.0 + tanh(0.5 * r_s))),
                    -float(dot(w, q_1)) / count)
            bias1 = 1.0 - beta1**(done + step)
            bias2 = 1.0 - beta2**(done + step)
            for i in range(3):
                g = grad[i] if isfinite(grad[i]) else 0.0
                m1[i] = beta1 * m1[i] + (1.0 - beta1) * g
                m2[i] = beta2 * m2[i] + (1.0 - beta2) * g * g
                theta[i] -= ADAM_LR * (m1[i] / bias1) / (sqrt(m2[i] / bias2) + eps)
    if state is not None:
        state.m1, state.m2, state.step = m1, m2, done + ADAM_STEPS
    return np.array(theta, np.float64)


class GaussianProcessSmoother:
    """GP fit and posterior test of a loss record, on the host CPU.

    Example:

    ```python
    smoother = GaussianProcessSmoother()
    x = np.linspace(0, 1, 100, endpoint=False)
    y = (x - 0.6) ** 2
    params = smoother.fit(x, (y - y.mean()) / y.std(), initial_params())
    mean, prob, argmin, descent = smoother.posterior(
        x, (y - y.mean()) / y.std(), params)
    ```

    Args:
        fit_points: int. Most points the hyperparameters are fitted on (100).
        predict_points: int. Most points one posterior conditions on (500).
        grid_points: int. Grid of [0, 1] the posterior is evaluated on (500).
    """

    def __init__(self, fit_points=100, predict_points=500, grid_points=500):
        self.fit_points = fit_points
        self.predict_points = predict_points
        self.grid_points = grid_points
        self.device = None  # where the last factorization ran: the host CPU
        self._grid = np.linspace(0.0, 1.0, grid_points)
        # 1 - k0(g_i, g_last): the prior of Var(f_i - f_last) over 2 * a2.
        self._prior_to_last = 1.0 - unit_kernel(self._grid, self._grid[-1:])[:, 0]
        self._basis = grid_basis(self._grid)  # [G, r]
        self._to_last = self._basis - self._basis[-1]

    @property
    def grid(self):
        return self._grid.copy()

    def fit(self, x, y, params, adam_state=None):
        """Adam on the negative marginal log-likelihood; returns new params.

        `adam_state`: an `AdamState` to start from and update (the
        reference's Adam, kept across tests), or None (a fresh Adam).
        Raises `linalg.NumericalError` when the eigendecomposition fails
        (non-finite input).
        """
        x, y = _points(x, y, self.fit_points)
        eigvals, eigvecs = linalg.eigh(unit_kernel(x, x))
        rotated = eigvecs.T @ np.stack([y, np.ones_like(y)], axis=1)
        eigvals = np.maximum(eigvals, 0.0)
        if not np.all(np.isfinite(rotated)):
            raise linalg.NumericalError("The eigendecomposition is not finite.")
        return adam(eigvals, rotated[:, 0], rotated[:, 1], params, adam_state)

    def posterior(self, x, y, params, jitter=0.0):
        """Posterior mean on the grid, past-minimum probability, argmin, descent.

        `prob` is `max_i P(f_last > f_i)` over the grid points before the
        last; `descent` is `P(f_argmin < f_0)`: that the smoothed minimum
        lies below the smoothed loss at the start of the record.

        Raises `linalg.NumericalError` when the Cholesky
        factorization fails; the caller retries with more `jitter`.
        """
        x, y = _points(x, y, self.predict_points)
        a2, post_mean, gram, explained = self._condition(
            x, y, params, jitter, self._to_last)
        argmin = int(np.argmin(post_mean))
        # Var(f_i - f_k) = a2 * (2 - 2 k0(g_i, g_k)) - |L^-1 (k_i - k_k)|^2,
        # for every i against the last point k, and for the one pair
        # (argmin, 0) of the descent guard. With `k_ng = P B^T` (`B` the
        # grid basis), `k_i - k_k = P (b_i - b_k)` and the second term is
        # `(b_i - b_k)^T S (b_i - b_k)`, `S = (L^-1 P)^T (L^-1 P)`.
        pair = self._basis[argmin] - self._basis[0]
        explained0 = float(pair @ gram @ pair)
        prior = 2.0 * a2 * self._prior_to_last
        var = np.maximum(prior - explained, 0.0) + DIFFERENCE_JITTER
        z = (post_mean[-1] - post_mean[:-1]) / np.sqrt(var[:-1])
        prior0 = 2.0 * a2 * (1.0 - unit_kernel(
            self._grid[argmin:argmin + 1], self._grid[:1])[0, 0])
        var0 = max(prior0 - explained0, 0.0) + DIFFERENCE_JITTER
        z0 = (post_mean[0] - post_mean[argmin]) / math.sqrt(var0)
        # The CDF is increasing: the largest probability is that of the
        # largest z. Both in one call.
        prob, descent = (float(p) for p in _NORMAL.cdf(np.array([np.max(z), z0])))
        return post_mean, prob, argmin, descent

    def posterior_band(self, x, y, params, jitter=0.0):
        """Posterior mean and pointwise variance of the latent curve on the grid.

        For plots (the 2-sigma band): the posterior of `posterior`, with
        `Var(f_i) = a2 - |L^-1 k_i|^2` at each grid point, which the test
        itself does not need. Any number of points; noise-free, in the units
        of `y`. Raises `linalg.NumericalError` when the Cholesky
        factorization fails; the caller retries with more `jitter`.

        Returns:
            `(mean, variance)`: float64 arrays of shape `[grid_points]`.
        """
        x, y = _points(x, y, None)
        a2, post_mean, _, explained = self._condition(
            x, y, params, jitter, self._basis)
        var = np.maximum(a2 - explained, 0.0)
        return post_mean, var

    def _condition(self, x, y, params, jitter, rows):
        """The GP conditioned on `(x, y)`: `(a2, mean on the grid, S, b^T S b)`.

        `S` and `b^T S b` (for each row `b` of `rows`) as in
        `_posterior_terms`. Raises `linalg.NumericalError` when the
        Cholesky factorization fails.
        """
        a2, s2, mean = constrained(params)
        chol = self._cholesky(_scaled(unit_kernel(x, x), a2), s2 + jitter)
        k_ng = _scaled(unit_kernel(x, self._grid), a2)  # [n, G]
        offset, gram, explained = linalg.posterior_terms(
            chol, k_ng, y - mean, self._basis, rows)
        return a2, mean + offset, gram, explained

    def _cholesky(self, kernel, diagonal):
        """Lower Cholesky factor of `kernel + diagonal * I`.

        Raises `linalg.NumericalError` when it fails.
        """
        matrix = kernel  # a new array of the caller's: added to in place
        matrix[np.diag_indices(len(matrix))] += diagonal
        chol = linalg.cholesky(matrix)
        self.device = linalg.DEVICE
        return chol


BASIS_CENTERS = 64  # kernel columns sampled for the grid basis


def grid_basis(grid):
    """An orthonormal basis of the kernel's columns on `grid`: `[G, r]`.

    Every column `k0(x, grid)` of the RBF kernel (length scale 0.2) for `x`
    in [0, 1] lies, to rounding, in the span of the columns at 64 evenly
    spaced centers: a Gaussian of that width is a smooth function of its
    center, so 64 samples of it over [0, 1] interpolate every other. The
    basis is their leading left singular vectors, those above 1e-15 of the
    largest singular value and 8 more (about 30): projecting `k0(x, grid)`
    for 500 random `x` onto it leaves a largest error of 7.8e-15, as the
    eigenvectors of the full `G x G` grid kernel did, at 1/20 of the cost
    (a `[G, 64]` SVD, about 3 ms, against a 500x500 eigendecomposition,
    about 70 ms, once per process). The posterior's triangular solve then
    takes `r` columns instead of `G`.
    """
    centers = np.linspace(0.0, 1.0, BASIS_CENTERS)
    singular, left = linalg.left_singular(unit_kernel(grid, centers))
    rank = min(left.shape[1], int(np.sum(singular > 1e-15 * singular[0])) + 8)
    return np.ascontiguousarray(left[:, :rank])


def _scaled(array, factor):
    """`array * factor`, in place."""
    array *= factor
    return array


def _points(x, y, size):
    """`x` and `y` as float64 arrays, at most `size` of them (None: any)."""
    x = np.asarray(x, np.float64).reshape(-1)
    y = np.asarray(y, np.float64).reshape(-1)
    if size is not None and len(x) > size:
        raise ValueError(f"{len(x)} points do not fit a draw of {size}.")
    return x, y
