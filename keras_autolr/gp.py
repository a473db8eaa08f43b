"""Gaussian-process smoothing of a loss record and the past-minimum test.

Float64 on the host CPU, with TensorFlow Probability's RBF kernel. The
length scale is fixed (0.2 in units of `x`), so one eigendecomposition per
fit turns every Adam step into O(n) work; the test needs the posterior mean
and only the variances of `f_i - f_k` against the last grid point `k`, not
the full grid covariance. Shapes are fixed (`fit_points`, `predict_points`,
`grid_points`) and shorter draws are padded with a mask that removes the
padded points exactly, so each function traces once per process.

Model (docs/algorithm.md, "The paper's rule" 3), on standardized losses `y`:
`y = m + f(x) + eps`, `f ~ GP(0, a2 * exp(-(x - x')**2 / (2 * 0.2**2)))`,
`eps ~ N(0, s2)`, with `a2 = softplus(r_a)`, `s2 = softplus(r_s) + 1e-4`.
"""

import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

LENGTH_SCALE = 0.2
NOISE_INIT = 1e-3
NOISE_FLOOR = 1e-4  # GPyTorch's default noise constraint, GreaterThan(1e-4)
OUTPUTSCALE_INIT = math.log(2.0)  # GPyTorch's softplus(0)
DIFFERENCE_JITTER = 1e-4  # added to Var(f_i - f_k), docs/algorithm.md, rule 4
ADAM_LR = 0.01
ADAM_STEPS = 100
CPU = "/CPU:0"
SMALL_BUCKET = 128  # posterior shape for records of at most this many points

_F64 = tf.float64


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


def _unit_kernel():
    return tfp.math.psd_kernels.ExponentiatedQuadratic(
        amplitude=tf.constant(1.0, _F64),
        length_scale=tf.constant(LENGTH_SCALE, _F64),
        feature_ndims=1,
    )


@tf.function(jit_compile=True, reduce_retracing=True)
def _adam(eigvals, q_y, q_1, n_valid, n_pad, params):
    """`ADAM_STEPS` Adam steps on the GP's mean negative log-likelihood.

    In the eigenbasis of the unit kernel (`K0 = Q diag(e) Q^T`),
    `K = a2 * K0 + s2 * I` has eigenvalues `d = a2 * e + s2`, so each step
    is O(n). Compiled with XLA: the loop is small element-wise work that
    XLA fuses (~10x faster than the graph executor on a CPU).
    """
    log_2pi = math.log(2.0 * math.pi)

    def nll(theta):
        a2, s2, mean = _hyper(theta)
        d = a2 * eigvals + s2
        z = q_y - mean * q_1
        # The padded block is s2 * I and its residual is 0: remove its
        # log-determinant exactly.
        logdet = tf.reduce_sum(tf.math.log(d)) - n_pad * tf.math.log(s2)
        quad = tf.reduce_sum(z * z / d)
        return 0.5 * (quad + logdet + n_valid * log_2pi) / n_valid

    beta1, beta2, eps = 0.9, 0.999, 1e-8
    theta = params
    m = tf.zeros_like(params)
    v = tf.zeros_like(params)
    for i in tf.range(1, ADAM_STEPS + 1):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            loss = nll(theta)
        g = tape.gradient(loss, theta)
        g = tf.where(tf.math.is_finite(g), g, tf.zeros_like(g))
        m = beta1 * m + (1.0 - beta1) * g
        v = beta2 * v + (1.0 - beta2) * g * g
        step = tf.cast(i, _F64)
        m_hat = m / (1.0 - beta1**step)
        v_hat = v / (1.0 - beta2**step)
        theta = theta - ADAM_LR * m_hat / (tf.sqrt(v_hat) + eps)
    return theta


def _hyper(params):
    a2 = tf.math.softplus(params[0])
    s2 = tf.math.softplus(params[1]) + NOISE_FLOOR
    return a2, s2, params[2]


class GaussianProcessSmoother:
    """Compiled GP fit and posterior test with fixed shapes.

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
        fit_points: int. Points the hyperparameters are fitted on (100).
        predict_points: int. Points one posterior conditions on (500).
        grid_points: int. Grid of [0, 1] the posterior is evaluated on (500).
    """

    def __init__(self, fit_points=100, predict_points=500, grid_points=500):
        self.fit_points = fit_points
        self.predict_points = predict_points
        self.grid_points = grid_points
        self.device = None
        with tf.device(CPU):
            self._grid = tf.linspace(
                tf.constant(0.0, _F64), tf.constant(1.0, _F64), grid_points
            )
        vec = lambda n: tf.TensorSpec([n], _F64)  # noqa: E731
        self._fit_fn = tf.function(
            self._fit_graph,
            input_signature=[vec(fit_points)] * 3 + [vec(3)],
            autograph=True,
        )
        # Two fixed shapes: a short record pads to SMALL_BUCKET points, not
        # to `predict_points` (the early tests of a short warmup are ~16x
        # cheaper); each is traced once.
        self.buckets = sorted({min(SMALL_BUCKET, predict_points), predict_points})
        self._posterior_fns = {
            size: tf.function(
                self._posterior_graph,
                input_signature=[vec(size)] * 3 + [vec(3), tf.TensorSpec([], _F64)],
            )
            for size in self.buckets
        }

    @property
    def tracing_count(self):
        """Traces so far of the fit and posterior functions (one per shape, never more)."""
        return self._fit_fn.experimental_get_tracing_count() + (
            _adam.experimental_get_tracing_count()) + sum(
            fn.experimental_get_tracing_count()
            for fn in self._posterior_fns.values())

    # ------------------------------------------------------------ host API
    def fit(self, x, y, params):
        """Adam on the negative marginal log-likelihood; returns new params."""
        x, y, mask = _pad(x, y, self.fit_points)
        with tf.device(CPU):
            out = self._fit_fn(x, y, mask, tf.constant(params, _F64))
        self.device = out.device  # where the fit ran: the host CPU
        return out.numpy()

    def posterior(self, x, y, params, jitter=0.0):
        """Posterior mean on the grid, past-minimum probability, argmin, descent.

        `descent` is `P(f_argmin < f_0)`: that the smoothed minimum lies below
        the smoothed loss at the start of the record.

        Raises `tf.errors.InvalidArgumentError` when the Cholesky
        factorization fails; the caller retries with more `jitter`.
        """
        size = next(b for b in self.buckets if b >= len(x))
        x, y, mask = _pad(x, y, size)
        with tf.device(CPU):
            mean, prob, argmin, descent = self._posterior_fns[size](
                x, y, mask, tf.constant(params, _F64), tf.constant(jitter, _F64)
            )
        return mean.numpy(), float(prob), int(argmin), float(descent)

    def posterior_band(self, x, y, params, jitter=0.0):
        """Posterior mean and pointwise variance of the latent curve on the grid.

        For plots (the 2-sigma band): the posterior of `posterior`, with
        `Var(f_i) = a2 - |L^-1 k_i|^2` at each grid point, which the test
        itself does not need. Eager and unpadded (any number of points);
        noise-free, in the units of `y`. Raises
        `tf.errors.InvalidArgumentError` when the Cholesky factorization
        fails; the caller retries with more `jitter`.

        Returns:
            `(mean, variance)`: float64 arrays of shape `[grid_points]`.
        """
        with tf.device(CPU):
            x = tf.constant(np.asarray(x, np.float64).reshape(-1, 1))  # [n, 1]
            y = tf.constant(np.asarray(y, np.float64).reshape(-1))  # [n]
            a2, s2, mean = _hyper(tf.constant(params, _F64))
            kernel = _unit_kernel()
            n = int(x.shape[0])
            k_nn = a2 * kernel.matrix(x, x)
            k_nn += (s2 + jitter) * tf.eye(n, dtype=_F64)
            chol = tf.linalg.cholesky(k_nn)  # [n, n]
            alpha = tf.linalg.cholesky_solve(chol, (y - mean)[:, None])  # [n, 1]
            k_gn = a2 * kernel.matrix(self._grid[:, None], x)  # [G, n]
            post_mean = mean + tf.linalg.matvec(k_gn, alpha[:, 0])  # [G]
            solved = tf.linalg.triangular_solve(
                chol, tf.transpose(k_gn), lower=True)  # [n, G]
            var = tf.maximum(a2 - tf.reduce_sum(solved * solved, axis=0), 0.0)
            if not bool(tf.reduce_all(tf.math.is_finite(chol))):
                raise tf.errors.InvalidArgumentError(
                    None, None, "Cholesky decomposition was not successful.")
        return post_mean.numpy(), var.numpy()

    @property
    def grid(self):
        return self._grid.numpy()

    # -------------------------------------------------------------- graphs
    def _fit_graph(self, x, y, mask, params):
        n_valid = tf.reduce_sum(mask)
        n_pad = tf.cast(self.fit_points, _F64) - n_valid
        both = mask[:, None] * mask[None, :]
        k0 = _unit_kernel().matrix(x[:, None], x[:, None]) * both
        eigvals, eigvecs = tf.linalg.eigh(k0)
        eigvals = tf.maximum(eigvals, 0.0)
        q_y = tf.linalg.matvec(eigvecs, mask * y, adjoint_a=True)
        q_1 = tf.linalg.matvec(eigvecs, mask, adjoint_a=True)
        return _adam(eigvals, q_y, q_1, n_valid, n_pad, params)

    def _posterior_graph(self, x, y, mask, params, jitter):
        a2, s2, mean = _hyper(params)
        kernel = _unit_kernel()
        n = int(x.shape[0])
        both = mask[:, None] * mask[None, :]
        k_nn = a2 * kernel.matrix(x[:, None], x[:, None]) * both
        k_nn += (s2 + jitter) * tf.eye(n, dtype=_F64)
        chol = tf.linalg.cholesky(k_nn)
        residual = (mask * (y - mean))[:, None]
        alpha = tf.linalg.cholesky_solve(chol, residual)  # [n, 1]
        grid = self._grid[:, None]
        k_gn = a2 * kernel.matrix(grid, x[:, None]) * mask[None, :]  # [G, n]
        post_mean = mean + tf.linalg.matvec(k_gn, alpha[:, 0])
        # Var(f_i - f_k) = a2 * (2 - 2 k0(g_i, g_k)) - |L^-1 (k_i - k_k)|^2
        last = self.grid_points - 1
        diff = k_gn - k_gn[last:, :]  # [G, n]
        solved = tf.linalg.triangular_solve(chol, tf.transpose(diff), lower=True)
        prior = 2.0 * a2 * (1.0 - kernel.matrix(grid, grid[last:])[:, 0])
        var = tf.maximum(prior - tf.reduce_sum(solved * solved, axis=0), 0.0)
        var += DIFFERENCE_JITTER
        normal = tfp.distributions.Normal(
            tf.constant(0.0, _F64), tf.constant(1.0, _F64))
        z = (post_mean[last] - post_mean[:last]) / tf.sqrt(var[:last])
        prob = tf.reduce_max(normal.cdf(z))
        argmin = tf.argmin(post_mean, output_type=tf.int32)
        # The descent guard: P(f_argmin < f_0), the smoothed minimum below
        # the smoothed start, with Var(f_a - f_0) written as above for the
        # one column a = argmin (O(n^2)).
        diff0 = (tf.gather(k_gn, argmin) - k_gn[0])[:, None]  # [n, 1]
        solved0 = tf.linalg.triangular_solve(chol, diff0, lower=True)
        prior0 = 2.0 * a2 * (1.0 - kernel.apply(
            tf.gather(grid, argmin)[None, :], grid[:1])[0])
        var0 = tf.maximum(prior0 - tf.reduce_sum(solved0 * solved0), 0.0)
        var0 += DIFFERENCE_JITTER
        descent = normal.cdf(
            (post_mean[0] - tf.gather(post_mean, argmin)) / tf.sqrt(var0))
        return post_mean, prob, argmin, descent


def _pad(x, y, size):
    """Pads `x`, `y` to `size` and returns them with a 0/1 mask."""
    count = len(x)
    if count > size:
        raise ValueError(f"{count} points do not fit a draw of {size}.")
    out_x = np.zeros(size, np.float64)
    out_y = np.zeros(size, np.float64)
    mask = np.zeros(size, np.float64)
    out_x[:count] = x
    out_y[:count] = y
    mask[:count] = 1.0
    return out_x, out_y, mask
