"""`SnapshotRing`: copies of the weights and optimizer state.

The warmup pushes the LR toward divergence on purpose. `AutoLR` keeps at
most `capacity` (2) copies of the model's weights and the optimizer's state
(moments, not the step counter), taken at the steps the `WarmupController`
plans (one per doubling of the warmup LR, a few over the decay). At the
switch it puts back the copy taken before the LR of the smoothed loss
minimum (the rewind); after a non-finite loss, the newest copy.

Where the copies live: on the accelerator that holds the variables when
the backend is JAX or PyTorch and `capacity` copies fit in half its free
memory (device_copies.py: a device-to-device copy, no transfer); else in
host memory, bounded by `capacity` copies whose buffers are reused by the
next one, so no new memory is allocated once the ring is full.
"""

import time

import numpy as np

from keras_autolr import _keras
from keras_autolr._keras import tf
from keras_autolr.training import device_copies


class SnapshotRing:
    """Takes, keeps and restores copies of a model's weights and optimizer state.

    Example:

    ```python
    ring = SnapshotRing(model, model.optimizer)
    ring.take(step=0)
    ...  # training
    ring.take(step=40, keep=[0])
    ring.restore(0)  # weights and optimizer moments as they were at step 0
    ```

    Args:
        model: the Keras model.
        optimizer: its optimizer (Keras 3, Keras 2 or a tf-addons
            `OptimizerV2`).
        capacity: int. Most copies held at once. Defaults to 2.
        place: `"auto"`, `"host"` or `"device"`. Where the copies live:
            `"auto"` (the default) chooses at the first copy, the device
            when the variables are on an accelerator of the JAX or PyTorch
            backend and the copies fit in half its free memory, else the
            host; `"device"` keeps them wherever the variables are (JAX,
            PyTorch).

    Attributes:
        seconds: float. Wall time spent copying so far.
        copies: int. Copies taken so far.
        place: `"host"` or `"device"` once chosen; `"auto"` before.
    """

    def __init__(self, model, optimizer, capacity=2, place="auto"):
        if place not in ("auto", "host", "device"):
            raise ValueError(
                f'`place` must be "auto", "host" or "device". Received place={place!r}')
        if place == "device" and device_copies.backend() is None:
            raise ValueError(
                'place="device" needs the JAX or PyTorch backend. '
                f"Received place={place!r} on {_keras.keras.backend.backend()}")
        self.model = model
        self.optimizer = optimizer
        self.capacity = capacity
        self.place = place
        self._held = {}  # step -> (weights, slots)
        self.seconds = 0.0
        self.copies = 0

    @property
    def steps(self):
        """Steps of the copies held, ascending."""
        return sorted(self._held)

    @property
    def nbytes(self):
        """Memory held by the copies (host or device), in bytes."""
        return sum(device_copies.nbytes(a)
                   for weights, slots in self._held.values() for a in weights + slots)

    def _optimizer_variables(self):
        variables = self.optimizer.variables
        variables = variables() if callable(variables) else variables
        iterations = _keras.step_counter(self.optimizer)
        # The schedule's state on JAX: the decision, never rewound.
        schedule_state = _schedule_state(self.optimizer)
        # The step counter is the schedule's clock: never rewound.
        return [v for v in variables if v is not iterations
                and not any(v is s for s in schedule_state)
                and getattr(v, "name", "") != getattr(iterations, "name", None)
                and "iteration" not in getattr(v, "name", "")]

    def take(self, step, keep=None):
        """Copies the weights and optimizer state, labelled `step`.

        Args:
            step: int. The optimizer step the copy belongs to.
            keep: iterable of int or None. Copies to keep besides the new
                one; the others are dropped first (their buffers are reused).
                None keeps the newest `capacity - 1`.

        Returns:
            True when the copy was kept; False when the weights were not
            finite (nothing was kept under `step`).
        """
        start = time.perf_counter()
        if keep is None:
            keep = self.steps[-(self.capacity - 1):] if self.capacity > 1 else []
        keep = set(keep) - {step}
        spare = None
        for old in [s for s in self.steps if s not in keep]:
            spare = self._held.pop(old)
        weights = list(self.model.weights)
        if self._choose_place(weights) == "device":
            del spare  # its device memory is free before the new copy
            weights = device_copies.copy_all([device_copies.value(v) for v in weights])
            slots = device_copies.copy_all(
                [device_copies.value(v) for v in self._optimizer_variables()])
            finite = device_copies.all_finite(weights)
        else:
            weights = _copy(weights, None if spare is None else spare[0])
            slots = _copy(self._optimizer_variables(),
                          None if spare is None else spare[1])
            finite = all(_finite(w) for w in weights)
        if finite:  # a copy of non-finite weights would restore nothing
            self._held[int(step)] = (weights, slots)
        self.seconds += time.perf_counter() - start
        self.copies += 1
        return finite

    def _choose_place(self, variables):
        """The place of the copies, chosen at the first copy (`place`)."""
        if self.place == "auto":
            device = device_copies.accelerator(variables)
            on_device = device is not None and device_copies.fits(
                variables + self._optimizer_variables(), self.capacity)
            self.place = "device" if on_device else "host"
        return self.place

    def weights_finite(self):
        """True when every floating-point weight of the model is finite."""
        if self.place == "device":  # read on the device: one boolean comes back
            return device_copies.all_finite(
                [device_copies.value(v) for v in self.model.weights])
        return all(np.all(np.isfinite(v.numpy())) for v in self.model.weights
                   if np.issubdtype(_dtype(v), np.floating))

    def restore(self, step):
        """Puts the copy labelled `step` back into the model and optimizer.

        Returns:
            True when that copy was held and restored.
        """
        if step not in self._held:
            return False
        weights, slots = (_restorable(copies) for copies in self._held[step])
        for variable, value in zip(self.model.weights, weights):
            variable.assign(value)
        variables = self._optimizer_variables()
        if len(variables) == len(slots):
            for variable, value in zip(variables, slots):
                variable.assign(value)
        else:  # slots created since the copy: start them from zero
            for variable in variables:
                variable.assign(np.zeros(variable.shape, _dtype(variable)))
        self._rephase_accumulators(step)
        return True

    def _rephase_accumulators(self, step):
        """Keras 3's `gradient_accumulation_steps=k`: the accumulators of the
        copy of step `s` hold the sum of `s % k` gradients, but the step
        counter is not rewound, and at step `t` the optimizer adds the next
        `k - t % k` before it divides by `k` and updates. They are scaled to
        `t % k` gradients' worth (of the weights just put back), so that
        update averages `k` gradients; a copy that held none leaves them at
        zero (that one update averages fewer)."""
        k = getattr(self.optimizer, "gradient_accumulation_steps", None)
        accumulators = getattr(self.optimizer, "_accumulated_gradients", None)
        if not k or not accumulators:
            return
        held = int(step) % k
        now = int(np.asarray(_keras.to_numpy(_keras.step_counter(self.optimizer)))) % k
        if held == now:
            return
        scale = now / held if held else 0.0
        for accumulator in accumulators:
            value = np.asarray(_keras.to_numpy(accumulator))
            accumulator.assign((value * scale).astype(value.dtype))

    def carry_out(self, actions, controller):
        """Takes the copies and restores that `controller` planned.

        A copy of non-finite weights is not kept, and the controller is told
        (`drop_snapshot`), so it never plans to put it back.

        Args:
            actions: the controller's `pop_actions()`: `("snapshot", step,
                keep)` and `("restore", step)`.
            controller: the `WarmupController` that planned them.

        Returns:
            True when a copy was put back.
        """
        restored = False
        for action in actions:
            if action[0] == "snapshot":
                _, step, keep = action
                if not self.take(step, keep):
                    controller.drop_snapshot(step)
            elif action[0] == "restore" and self.restore(action[1]):
                restored = True
        return restored

    def clear(self):
        self._held.clear()

    def held(self, step):
        """The copy labelled `step`: `(weights, slots)`, lists of NumPy arrays.

        Host copies are the ring's own buffers: read them, do not write
        them. Device copies come back as new host arrays.
        """
        weights, slots = self._held[step]
        return ([device_copies.to_numpy(a) for a in weights],
                [device_copies.to_numpy(a) for a in slots])

    def put(self, step, weights, slots):
        """Holds a copy made elsewhere (a saved one, snapshot_files.py) as `step`.

        Args:
            step: int. The optimizer step the copy belongs to.
            weights: list of arrays, one per `model.weights`, in order.
            slots: list of arrays, one per optimizer variable the ring
                copies (moments; not the step counter), in order.

        Raises:
            ValueError: the copy does not fit this model and optimizer (a
                count, a shape or a dtype differs); the ring is unchanged.
        """
        for what, variables, values in (
                ("weights", list(self.model.weights), weights),
                ("optimizer variables", self._optimizer_variables(), slots)):
            if len(values) != len(variables):
                raise ValueError(
                    f"The copy of step {step} has {len(values)} {what}; this "
                    f"model has {len(variables)}.")
            for variable, value in zip(variables, values):
                shape = tuple(int(d) for d in variable.shape)
                if tuple(value.shape) != shape or str(value.dtype) != _dtype_name(variable):
                    raise ValueError(
                        f"The copy of step {step} does not fit "
                        f"{getattr(variable, 'path', getattr(variable, 'name', '?'))}: "
                        f"{value.dtype}{list(value.shape)} there, "
                        f"{_dtype_name(variable)}{list(shape)} here.")
        self._held[int(step)] = (list(weights), list(slots))


class JointOptimizers:
    """Several optimizers seen as one by `SnapshotRing`: their state, one clock.

    Example:

    ```python
    # A GAN's two optimizers, copied and restored together.
    ring = SnapshotRing(model, JointOptimizers([d_optimizer, g_optimizer]))
    ```

    Args:
        optimizers: list of optimizers. The first one's step counter is the
            clock (`iterations`); no step counter is in `variables`.
    """

    def __init__(self, optimizers):
        self.iterations = _keras.step_counter(optimizers[0])
        self._optimizers = optimizers

    @property
    def variables(self):
        # Read anew each time: Keras builds an optimizer's slots at its first step.
        variables = []
        for optimizer in self._optimizers:
            own = optimizer.variables
            own = own() if callable(own) else own
            schedule_state = _schedule_state(optimizer)
            # Each optimizer's step counter is a clock: never rewound.
            counter = _keras.step_counter(optimizer)
            variables.extend(v for v in own if v is not counter
                             and not any(v is s for s in schedule_state))
        return variables

    @property
    def autolr_schedule_variables(self):
        """The schedule's state among the optimizers' variables (not rewound)."""
        return tuple(v for o in self._optimizers for v in _schedule_state(o))


def _schedule_state(optimizer):
    """The schedule's state variables among `optimizer`'s (JAX), a tuple."""
    joint = getattr(optimizer, "autolr_schedule_variables", None)
    if joint is not None:  # JointOptimizers
        return joint
    return _keras.optimizer_state_tracked(optimizer)


def _copy(variables, buffers):
    """Host copies of `variables`, written into `buffers` when they fit.

    One copy per variable: the value is read as a tensor and viewed as a
    NumPy array without a copy (`variable.numpy()` would copy it once more),
    then copied into the buffer of the copy it replaces (memory already
    touched: no page faults) or into a new array.
    """
    out = []
    for i, variable in enumerate(variables):
        value = _host_view(variable)
        if (buffers is not None and i < len(buffers)
                and buffers[i].shape == value.shape
                and buffers[i].dtype == value.dtype):
            np.copyto(buffers[i], value)
            out.append(buffers[i])
        else:
            out.append(np.array(value, copy=True))
    return out


def _restorable(values):
    """Values to assign from a copy, which the assignment must not consume.

    JAX: assigning an array makes it the variable's buffer, and the next
    train step donates (deletes) it; device copies of device copies keep
    the snapshot usable for another restore.
    """
    values = list(values)
    device = [i for i, v in enumerate(values) if not isinstance(v, np.ndarray)]
    if not device or device_copies.backend() != "jax":
        return values
    for i, copied in zip(device, device_copies.copy_all([values[i] for i in device])):
        values[i] = copied
    return values


def _host_view(variable):
    """The variable's current value as a NumPy array, copied at most once.

    Under a `tf.distribute` strategy, the local replica's value.
    """
    if tf is None:  # JAX, torch: Keras' own read, on the host
        return np.asarray(variable.numpy())
    try:
        return np.asarray(tf.convert_to_tensor(variable))
    except (TypeError, ValueError):  # no tensor conversion: plain read
        return np.asarray(variable.numpy())


def _finite(array):
    """True when every value is finite (two reductions, no temporary array)."""
    if array.size == 0 or not np.issubdtype(array.dtype, np.floating):
        return True
    return bool(np.isfinite(np.max(array)) and np.isfinite(np.min(array)))


def _dtype_name(variable):
    """The dtype's name (`"float32"`) of a Keras 3 variable or a tf.Variable."""
    dtype = variable.dtype
    return str(getattr(dtype, "name", dtype))


def _dtype(variable):
    """NumPy dtype of a Keras 3 variable (dtype is a string) or a tf.Variable."""
    dtype = variable.dtype
    return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
