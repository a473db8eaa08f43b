"""Small models, data and optimizers shared by the training tests."""

import types

import numpy as np

from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from keras_autolr._keras import tf


def _ops():
    """`keras.ops` on Keras 3 (every backend); the same names over TensorFlow on Keras 2."""
    if IS_KERAS_3:
        return keras.ops
    return types.SimpleNamespace(
        convert_to_tensor=tf.convert_to_tensor, where=tf.where, equal=tf.equal, greater_equal=tf.greater_equal,
        reshape=tf.reshape, one_hot=tf.one_hot, cast=tf.cast, exp=tf.exp,
        mean=tf.reduce_mean,
        full_like=lambda x, value: tf.fill(tf.shape(x), tf.constant(value, x.dtype)))


# The tensor math of the tests' losses, on the backend the suite runs on.
ops = _ops()


def skip_unless_steps_per_execution(steps):
    """Skips the test on PyTorch when `steps > 1`: Keras runs one step per execution there."""
    import pytest

    if steps > 1 and IS_KERAS_3 and keras.backend.backend() == "torch":
        pytest.skip("Keras on PyTorch refuses steps_per_execution > 1")


def skip_if_the_loss_reads_the_optimizer():
    """Skips on JAX a test whose loss reads `optimizer.iterations`.

    A compiled JAX step hands its loss no optimizer variable (the step is a
    pure function of the state it is given): the poisoned-step losses of
    these tests are TensorFlow and PyTorch idioms. The NaN restore on JAX is
    tested with NaN sample weights (tests/backend_scripts/nan_fit.py).
    """
    import pytest

    if IS_KERAS_3 and keras.backend.backend() == "jax":
        pytest.skip("on JAX a loss cannot read optimizer.iterations")


def nan_where(condition, value):
    """`value`, NaN where `condition` holds: multiplied, so the gradients are NaN too."""
    return value * ops.where(condition, ops.full_like(value, np.nan),
                             ops.full_like(value, 1.0))


def digits(seed=0):
    """sklearn's 1,797 real 8x8 digits, shuffled, split 1,400 / 397."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order].astype("int32")
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def lamb(**kwargs):
    """LAMB: Keras 3's own, tensorflow-addons' on Keras 2, else None."""
    if IS_KERAS_3:
        return keras.optimizers.Lamb(**kwargs)
    try:
        import tensorflow_addons as tfa
    except ImportError:
        return None
    return tfa.optimizers.LAMB(**kwargs)


def mlp(seed=0, units=128):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(10),
    ])


def compile_digits(model, optimizer, **kwargs):
    skip_unless_steps_per_execution(kwargs.get("steps_per_execution", 1))
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], **kwargs)
    return model


def label_loss(y_true, y_pred):
    """Per-sample loss equal to the label: known exactly at every step."""
    return ops.reshape(ops.cast(y_true, y_pred.dtype), (-1,)) + 0.0 * y_pred[:, 0]


def fit_small_digits(callbacks, epochs, batch_size=100, verbose=0):
    """The first 1,400 digits (unshuffled), a 32-unit MLP, Adam: a quick `fit`."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x[:1400] / 16.0).astype("float32"), y[:1400].astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
              callbacks=callbacks)
    return model


class LoggedLosses(keras.callbacks.Callback):
    """`logs[key]` after each batch, per epoch (a running mean in `fit`)."""

    def __init__(self, key="loss"):
        super().__init__()
        self.key, self.epochs = key, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1].append(float(np.asarray(logs[self.key])))
