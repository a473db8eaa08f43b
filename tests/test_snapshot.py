"""`SnapshotRing`: copies held, restored exactly, bounded, buffers reused."""

import numpy as np
import pytest

from keras_autolr._keras import keras
from keras_autolr.training.snapshot import JointOptimizers
from keras_autolr.training.snapshot import SnapshotRing
from tests import _training


def _backend():
    return keras.backend.backend() if hasattr(keras.backend, "backend") else "tensorflow"


needs_device_copies = pytest.mark.skipif(
    _backend() not in ("jax", "torch"),
    reason="copies on the variables' device: the JAX and PyTorch backends")


def _trained_model():
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(units=16), keras.optimizers.Adam())
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    return model, (x, y)


def _values(variables):
    return [np.array(v.numpy()) for v in variables]


def test_restore_puts_back_weights_and_moments_but_not_the_step():
    model, (x, y) = _trained_model()
    ring = SnapshotRing(model, model.optimizer)
    weights, slots = _values(model.weights), _values(ring._optimizer_variables())
    assert ring.take(2)
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4
    assert ring.restore(2)
    for now, then in zip(_values(model.weights), weights):
        np.testing.assert_array_equal(now, then)
    for now, then in zip(_values(ring._optimizer_variables()), slots):
        np.testing.assert_array_equal(now, then)
    assert int(model.optimizer.iterations.numpy()) == 4


def test_the_ring_keeps_what_it_is_told_and_reuses_the_dropped_buffers():
    model, _ = _trained_model()
    ring = SnapshotRing(model, model.optimizer, capacity=2)
    ring.take(0)
    ring.take(5)
    first = [id(a) for a in ring._held[5][0]]
    ring.take(9, keep=[0])  # drops 5, whose buffers hold 9 now
    assert ring.steps == [0, 9]
    assert [id(a) for a in ring._held[9][0]] == first
    ring.take(12)  # default: keep the newest
    assert ring.steps == [9, 12]
    assert not ring.restore(5)


@pytest.mark.parametrize("place", ["host", pytest.param("device", marks=needs_device_copies)])
def test_non_finite_weights_are_never_kept(place):
    model, _ = _trained_model()
    ring = SnapshotRing(model, model.optimizer, place=place)
    ring.take(0)
    model.weights[0].assign(np.full(model.weights[0].shape, np.nan, "float32"))
    assert not ring.weights_finite()
    assert not ring.take(3, keep=[0])
    assert ring.steps == [0]
    assert ring.restore(0) and ring.weights_finite()


class _Planner:
    """What `carry_out` reads of a controller: the copies it drops."""

    def __init__(self):
        self.dropped = []

    def drop_snapshot(self, step):
        self.dropped.append(step)


def test_carry_out_takes_restores_and_tells_the_controller_what_it_dropped():
    model, _ = _trained_model()
    ring, planner = SnapshotRing(model, model.optimizer), _Planner()
    weights = _values(model.weights)
    assert not ring.carry_out([("snapshot", 0, ())], planner)
    model.weights[0].assign(np.full(model.weights[0].shape, np.nan, "float32"))
    assert not ring.carry_out([("snapshot", 4, (0,)), ("restore", 4)], planner)
    assert planner.dropped == [4] and ring.steps == [0]
    assert ring.carry_out([("restore", 0)], planner)
    for now, then in zip(_values(model.weights), weights):
        np.testing.assert_array_equal(now, then)


def _step(optimizer, model):
    optimizer.apply_gradients(  # backend tensors (PyTorch takes no NumPy array)
        [(_training.ops.convert_to_tensor(np.ones_like(v.numpy())), v)
         for v in model.trainable_weights])


def test_joint_optimizers_are_restored_together_on_the_first_ones_clock():
    model, (x, y) = _trained_model()
    other = keras.optimizers.Adam()
    _step(other, model)
    joint = JointOptimizers([model.optimizer, other])
    assert joint.iterations is model.optimizer.iterations
    clocks = (model.optimizer.iterations, other.iterations)
    assert not any(v is c for v in joint.variables for c in clocks)
    ring = SnapshotRing(model, joint)
    slots = _values(joint.variables)
    assert ring.take(2)
    _step(other, model)
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    assert ring.restore(2)
    for now, then in zip(_values(joint.variables), slots):
        np.testing.assert_array_equal(now, then)
    assert int(other.iterations.numpy()) == 2  # neither clock is rewound


def test_put_holds_a_copy_that_fits_and_refuses_one_that_does_not():
    model, (x, y) = _trained_model()
    ring = SnapshotRing(model, model.optimizer)
    ring.take(2)
    weights, slots = ring.held(2)
    other = SnapshotRing(model, model.optimizer)
    other.put(2, [w.copy() for w in weights], [s.copy() for s in slots])
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    assert other.restore(2)
    for now, then in zip(_values(model.weights), weights):
        np.testing.assert_array_equal(now, then)
    with pytest.raises(ValueError, match="has 1 weights; this model has"):
        other.put(3, weights[:1], slots)
    with pytest.raises(ValueError, match=r"does not fit .*float64"):
        other.put(3, [weights[0].astype("float64")] + weights[1:], slots)
    with pytest.raises(ValueError, match="optimizer variables"):
        other.put(3, weights, slots[:-1])
    assert other.steps == [2]  # unchanged


@needs_device_copies
def test_device_copies_restore_exactly_and_survive_a_second_restore():
    model, (x, y) = _trained_model()
    ring = SnapshotRing(model, model.optimizer, place="device")
    weights, slots = _values(model.weights), _values(ring._optimizer_variables())
    assert ring.take(2)
    assert not isinstance(ring._held[2][0][0], np.ndarray)  # the backend's array
    for _ in range(2):  # JAX donates an assigned buffer: the copy must survive
        model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
        assert ring.restore(2)
        for now, then in zip(_values(model.weights), weights):
            np.testing.assert_array_equal(now, then)
        for now, then in zip(_values(ring._optimizer_variables()), slots):
            np.testing.assert_array_equal(now, then)
    held_weights, held_slots = ring.held(2)  # as NumPy, for the files
    for now, then in zip(held_weights + held_slots, weights + slots):
        assert isinstance(now, np.ndarray)
        np.testing.assert_array_equal(now, then)
    assert ring.nbytes == sum(a.nbytes for a in weights + slots)


def test_auto_place_is_host_memory_on_the_cpu():
    model, _ = _trained_model()
    ring = SnapshotRing(model, model.optimizer)
    assert ring.place == "auto"
    ring.take(0)
    assert ring.place == "host"
    assert isinstance(ring._held[0][0][0], np.ndarray)


def test_bad_place_is_refused_with_the_value():
    model, _ = _trained_model()
    with pytest.raises(ValueError, match="Received place='gpu'"):
        SnapshotRing(model, model.optimizer, place="gpu")
    if _backend() not in ("jax", "torch"):
        with pytest.raises(ValueError, match="needs the JAX or PyTorch backend"):
            SnapshotRing(model, model.optimizer, place="device")
