"""Copies of variables kept on the accelerator that holds them (JAX, PyTorch).

A snapshot of a large model taken to host memory stops training for a
device-to-host transfer of every weight and moment: on an H200, 0.9 to 1.1 s
for a 54.6M-parameter model with Adam, two thirds of its fit
(benchmarks/results/backend_speed_gpu.json). A copy on the same device is a
device-to-device copy, queued like a training step. `SnapshotRing` keeps its
copies here when the variables live on a GPU (or another accelerator) of the
JAX or PyTorch backend and the copies fit in half the device's free memory;
otherwise, and on TensorFlow, in host memory.

Every function takes the backend's own arrays: `jax.Array`, `torch.Tensor`.
"""

import numpy as np

from keras_autolr._keras import keras

# Share of the device's free memory the copies may take.
FREE_SHARE = 0.5


def backend():
    """The Keras backend whose arrays this module handles, or None."""
    name = keras.backend.backend()
    return name if name in ("jax", "torch") else None


def value(variable):
    """The variable's current value, the backend's own array (no copy)."""
    return variable.value


def accelerator(variables):
    """The accelerator holding `variables` (e.g. `"cuda:0"`), or None on the CPU.

    Args:
        variables: list of Keras 3 variables of the JAX or PyTorch backend.
    """
    name = backend()
    if name is None or not variables:
        return None
    array = value(variables[0])
    if name == "jax":
        devices = array.devices() if hasattr(array, "devices") else set()
        platforms = {d.platform for d in devices}
        if not platforms or platforms == {"cpu"}:
            return None
        return ",".join(sorted(str(d) for d in devices))
    device = getattr(array, "device", None)
    if device is None or device.type == "cpu":
        return None
    return str(device)


def free_bytes(variables):
    """Free memory of the accelerator holding `variables`, in bytes, or None.

    None when it cannot be read (the copies then go to host memory).
    """
    name = backend()
    array = value(variables[0])
    if name == "jax":
        free = []
        for device in array.devices():
            stats = device.memory_stats() if hasattr(device, "memory_stats") else None
            if not stats or "bytes_limit" not in stats:
                return None
            free.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
        return min(free) if free else None
    import torch  # the torch backend

    if array.device.type == "cuda":
        return int(torch.cuda.mem_get_info(array.device)[0])
    return None


def fits(variables, capacity):
    """Whether `capacity` copies of `variables` fit in the device's free share."""
    free = free_bytes(variables)
    if free is None:
        return False
    return capacity * sum(nbytes(value(v)) for v in variables) <= FREE_SHARE * free


def copy_all(arrays):
    """Copies of `arrays` on their own devices (queued, not waited for).

    JAX: one compiled function for the whole list (compiled once per list of
    shapes), not a compilation and a dispatch per array.
    """
    if backend() == "jax":
        return _jax_functions()[0](list(arrays))
    return [a.detach().clone() for a in arrays]


def all_finite(arrays):
    """True when every floating-point value of `arrays` is finite (one host read)."""
    floats = [a for a in arrays if _is_float(a)]
    if not floats:
        return True
    if backend() == "jax":
        return bool(_jax_functions()[1](floats))
    import torch

    return bool(torch.stack([torch.isfinite(a).all() for a in floats]).all())


_JAX = []


def _jax_functions():
    """The compiled copy and finiteness check of a list of JAX arrays."""
    if not _JAX:
        import jax
        import jax.numpy as jnp

        def copies(arrays):
            return [jnp.array(a, copy=True) for a in arrays]

        def finite(arrays):
            return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))

        _JAX.extend([jax.jit(copies), jax.jit(finite)])
    return _JAX


def to_numpy(array):
    """A host copy of a device array, as NumPy."""
    if isinstance(array, np.ndarray):
        return array
    if backend() == "torch":
        return array.detach().cpu().numpy()
    return np.asarray(array)


def nbytes(array):
    """Bytes held by `array`."""
    if hasattr(array, "nbytes"):
        return int(array.nbytes)
    return int(array.numel() * array.element_size())  # older torch


def _is_float(array):
    if backend() == "torch":
        return array.is_floating_point()
    import jax.numpy as jnp

    return jnp.issubdtype(array.dtype, jnp.floating)
