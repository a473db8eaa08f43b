"""The Gaussian process's matrix work: LAPACK on the host CPU, one thread.

The GP of a test factors matrices of at most 500 x 500 between two training
steps. It runs in SciPy's LAPACK on every backend, so that the same loss
record gives the same numbers, and the same decision, on TensorFlow, JAX
and PyTorch, and nothing here needs TensorFlow.

Its BLAS is held to one thread for the time of each call, and the
detector holds it for a whole test, its NumPy products included
(`one_thread`, with `threadpoolctl`): OpenBLAS threads keep spinning after
a call, and on a small machine they took a core from training (measured on
TensorFlow: a keras.io convnet's `fit` 17.3 s with them held to one thread,
19.8-20.8 s without; a matrix of 500 is too small to gain from more
threads). The thread limit is set and restored around each use, so the
user's own NumPy keeps its threads.

A factorization that fails, or gives non-finite numbers, raises
`NumericalError`; the detector treats the test as inconclusive, or retries
with more jitter.

Example:

```python
chol = cholesky(np.eye(3) * 2.0)
eigvals, eigvecs = eigh(np.eye(3))
```
"""

import contextlib

import numpy as np
import scipy.linalg

# Where the matrix work runs: what `GaussianProcessSmoother.device` reports.
DEVICE = "/CPU:0"


class NumericalError(ArithmeticError):
    """A factorization of the GP failed or was not finite."""


_CONTROLLER = None
_DEPTH = 0  # one_thread() contexts entered, nested


def _limit():
    """A context in which the BLAS libraries loaded in the process use one thread."""
    global _CONTROLLER
    try:
        import threadpoolctl
    except ImportError:  # a dependency; without it, the libraries' own threads
        return contextlib.nullcontext()
    if _CONTROLLER is None:
        _CONTROLLER = threadpoolctl.ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


@contextlib.contextmanager
def one_thread():
    """The BLAS libraries use one thread inside; nested uses set it once.

    The detector holds it for a whole test (its NumPy products as well as
    the factorizations); each function here holds it for its own call.
    """
    global _DEPTH
    if _DEPTH:
        yield
        return
    with _limit():
        _DEPTH += 1
        try:
            yield
        finally:
            _DEPTH -= 1


def _finite(*arrays):
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise NumericalError("The factorization is not finite.")


def eigh(matrix):
    """Eigenvalues and eigenvectors of a symmetric matrix: `(e [n], Q [n, n])`."""
    with one_thread():
        try:
            eigvals, eigvecs = scipy.linalg.eigh(matrix, check_finite=True)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise NumericalError(f"The eigendecomposition failed: {error}") from None
    _finite(eigvals, eigvecs)
    return eigvals, eigvecs


def left_singular(matrix):
    """Singular values and left singular vectors: `(s [k], U [m, k])`."""
    with one_thread():
        try:
            left, singular, _ = scipy.linalg.svd(matrix, full_matrices=False)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise NumericalError(f"The SVD failed: {error}") from None
    return singular, left


def cholesky(matrix):
    """Lower Cholesky factor `L` of a symmetric positive definite matrix, `[n, n]`.

    Raises `NumericalError` when the matrix is not positive definite or the
    factor is not finite.
    """
    with one_thread():
        try:
            chol = scipy.linalg.cholesky(matrix, lower=True, check_finite=True)
        except (ValueError, np.linalg.LinAlgError) as error:
            raise NumericalError(
                f"Cholesky decomposition was not successful: {error}") from None
    _finite(chol)
    return chol


def posterior_terms(chol, k_ng, residual, basis, rows):
    """The GP posterior's matrix work.

    Args:
        chol: lower Cholesky factor `L` of `K`, [n, n].
        k_ng: `a2 * k0(x, grid)`, [n, G].
        residual: `y - m`, [n].
        basis: the grid basis `B`, [G, r].
        rows: [G, r], whose rows `b` get `b^T S b`.

    Returns:
        `(K^-1 residual) @ k_ng` [G], `S = (L^-1 k_ng B)^T (L^-1 k_ng B)`
        [r, r], and `b^T S b` for each row of `rows` [G].
    """
    with one_thread():
        alpha = scipy.linalg.cho_solve((chol, True), residual, check_finite=False)
        offset = alpha @ k_ng
        solved = scipy.linalg.solve_triangular(
            chol, k_ng @ basis, lower=True, check_finite=False)
        gram = solved.T @ solved
        explained = np.einsum("ij,ij->i", rows @ gram, rows)
    return offset, gram, explained
