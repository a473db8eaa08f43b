"""Small models, data and optimizers shared by the training tests.

The scripts of tests/backend_scripts import it too, on JAX and PyTorch
without TensorFlow: nothing here imports TensorFlow but through
`keras_autolr._keras` (`tf` is None off TensorFlow), and `pytest` only where
a test is skipped.
"""

import types

import numpy as np

from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from keras_autolr._keras import tf


def _ops():
    """`keras.ops` on Keras 3 (every backend); the same names over TensorFlow on Keras 2."""
    if IS_KERAS_3:
        return keras.ops
    return types.SimpleNamespace(
        convert_to_tensor=tf.convert_to_tensor, where=tf.where, equal=tf.equal, greater_equal=tf.greater_equal,
        less=tf.less, logical_and=tf.logical_and,
        reshape=tf.reshape, one_hot=tf.one_hot, cast=tf.cast, exp=tf.exp,
        mean=tf.reduce_mean, stop_gradient=tf.stop_gradient,
        full_like=lambda x, value: tf.fill(tf.shape(x), tf.constant(value, x.dtype)))


# The tensor math of the tests' losses, on the backend the suite runs on.
ops = _ops()


def skip_unless_steps_per_execution(steps):
    """Skips the test on PyTorch when `steps > 1`: Keras runs one step per execution there."""
    if steps > 1 and IS_KERAS_3 and keras.backend.backend() == "torch":
        import pytest

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


def optimizer_variables(optimizer):
    """The optimizer's variables: a method on Keras 2's `OptimizerV2`, a list else."""
    variables = optimizer.variables
    return variables() if callable(variables) else variables


def training_state(model, optimizer=None):
    """Every value training could change, as host arrays.

    The model's variables and the optimizer's (`model.optimizer` unless
    given): weights, slots, step counter, learning-rate variable.
    """
    optimizer = model.optimizer if optimizer is None else optimizer
    variables = list(model.variables) + list(optimizer_variables(optimizer))
    return [np.array(_keras.to_numpy(v), copy=True) for v in variables]


def assert_same_state(before, after):
    """Two `training_state`s are equal bit for bit (no NaN in them)."""
    assert len(before) == len(after)
    for old, new in zip(before, after):
        assert old.dtype == new.dtype and old.shape == new.shape
        assert np.array_equal(old, new)


class Interrupt(keras.callbacks.Callback):
    """Stops `fit` at a step (the first one reached) as a notebook's interrupt does."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(_keras.to_numpy(self.model.optimizer.iterations)) >= self.step:
            raise KeyboardInterrupt


def nan_where(condition, value):
    """`value`, NaN where `condition` holds: multiplied, so the gradients are NaN too."""
    return value * ops.where(condition, ops.full_like(value, np.nan),
                             ops.full_like(value, 1.0))


def fit_poisoned_digits(poison=None, options=None, seed=0, steps_per_execution=1,
                        log_dir=None):
    """The digits MLP with Adam and `AutoLR(options)`, 12 epochs of batch 64
    (264 steps, the warmup cap at 132); `poison(loss, step)` rewrites each
    step's loss in-graph (`step`: the optimizer's step counter); `log_dir`:
    the `AutoLR`'s TensorBoard destination.

    Returns:
        (the `AutoLR`, the test accuracy, whether every weight is finite).
    """
    from keras_autolr import AutoLR

    (x, y), (x_test, y_test) = digits()
    model = mlp(seed=seed)
    optimizer = keras.optimizers.Adam()
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(y_true, y_pred):
        value = base(y_true, y_pred)
        return value if poison is None else poison(value, optimizer.iterations)

    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    autolr = AutoLR(verbose=0, options=options, log_dir=log_dir)
    model.fit(x, y, batch_size=64, epochs=12, verbose=0, callbacks=[autolr])
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    finite = all(np.all(np.isfinite(np.asarray(w))) for w in model.get_weights())
    return autolr, accuracy, finite


def poisson(log_rate_scale):
    """A log-link Poisson loss on one-hot class counts, the network's output
    times `log_rate_scale` as each class's log rate: `exp` blows up once the
    LR is too large (tests/test_divergence.py, tests/test_decay_guard.py)."""
    def loss(y_true, log_rate):
        target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), 10)
        z = log_rate_scale * log_rate
        return ops.mean(ops.exp(z) - target * z, axis=-1)
    return loss


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


def compile_digits(model, optimizer, metrics=("accuracy",), **kwargs):
    """The digits' loss (logits) and `metrics`; `metrics=None` for the loss alone."""
    skip_unless_steps_per_execution(kwargs.get("steps_per_execution", 1))
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=None if metrics is None else list(metrics), **kwargs)
    return model


GAN_LATENT, GAN_LR = 8, 3e-4  # the generator's noise size; both optimizers' LR


class GAN(keras.Model):
    """keras.io's GAN on 8x8 digits: two optimizers in one `train_step`.

    `train_step` is TensorFlow's (`tf.GradientTape`, `apply_gradients`),
    with each step's two draws of noise from `latent`.
    tests/backend_scripts/gan.py adds the JAX and PyTorch steps.
    """

    def __init__(self, discriminator, generator):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def latent(self, batch_size, draw):
        """The noise of draw 1 (the discriminator's) or 2 (the generator's) of a step."""
        return tf.random.normal((batch_size, GAN_LATENT), seed=draw)

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        latent = self.latent(batch_size, 1)
        combined = tf.concat([self.generator(latent), real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        latent = self.latent(batch_size, 2)
        with tf.GradientTape() as tape:
            fooled = self.discriminator(self.generator(latent))
            g_loss = self.loss_fn(tf.zeros((batch_size, 1)), fooled)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        return self.track(d_loss, g_loss)

    def track(self, d_loss, g_loss):
        """The step's losses into the two Means; the logs."""
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result()}


def gan(model_class=GAN, **compile_kwargs):
    """A seeded `model_class` GAN, Adam at `GAN_LR` each: `(model, d_optimizer, g_optimizer)`."""
    keras.utils.set_random_seed(0)
    discriminator = keras.Sequential([keras.Input((64,)),
                                      keras.layers.Dense(32, activation="relu"),
                                      keras.layers.Dense(1)])
    generator = keras.Sequential([keras.Input((GAN_LATENT,)),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(64, activation="sigmoid")])
    model = model_class(discriminator, generator)
    d_optimizer = keras.optimizers.Adam(GAN_LR)
    g_optimizer = keras.optimizers.Adam(GAN_LR)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer,
                  loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
                  **compile_kwargs)
    return model, d_optimizer, g_optimizer


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


def nan_weight_batches(x, y, batch_size, nan_step):
    """The batches of every epoch in order, with sample weights; those of step
    `nan_step` (counted over the whole fit) are NaN, so that step's loss and
    gradients are NaN, and the weights with them. None: no NaN.

    NaN sample weights, not NaN inputs: TensorFlow's ReLU turns a NaN into 0.
    """
    step = 0
    while True:
        for start in range(0, len(x), batch_size):
            batch = slice(start, start + batch_size)
            weights = np.full(len(x[batch]), np.nan if step == nan_step else 1.0, "float32")
            yield x[batch], y[batch], weights
            step += 1


class WeightsAtEachStep(keras.callbacks.Callback):
    """The weights every train step starts from (after AutoLR's restores), by
    the schedule's clock (`_keras.step_counter`)."""

    def __init__(self):
        super().__init__()
        self.at = {}

    def on_train_batch_begin(self, batch, logs=None):
        step = int(_keras.to_numpy(_keras.step_counter(self.model.optimizer)))
        self.at[step] = [np.array(w.numpy()) for w in self.model.weights]
