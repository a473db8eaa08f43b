"""Several optimizers in one `train_step` (keras.io's GAN: `compile(d_optimizer, g_optimizer)`)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

LATENT, BATCH, EPOCHS = 8, 100, 4  # 14 steps per epoch, 56 steps


class GAN(keras.Model):
    """The keras.io GAN, on 8x8 digits."""

    def __init__(self, discriminator, generator):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, real_images):
        batch_size = tf.shape(real_images)[0]
        latent = tf.random.normal((batch_size, LATENT), seed=1)
        combined = tf.concat([self.generator(latent), real_images], axis=0)
        labels = tf.concat([tf.ones((batch_size, 1)), tf.zeros((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        latent = tf.random.normal((batch_size, LATENT), seed=2)
        with tf.GradientTape() as tape:
            fooled = self.discriminator(self.generator(latent))
            g_loss = self.loss_fn(tf.zeros((batch_size, 1)), fooled)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result()}


def _gan():
    keras.utils.set_random_seed(0)
    discriminator = keras.Sequential([keras.Input((64,)),
                                      keras.layers.Dense(32, activation="relu"),
                                      keras.layers.Dense(1)])
    generator = keras.Sequential([keras.Input((LATENT,)),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(64, activation="sigmoid")])
    gan = GAN(discriminator, generator)
    d_optimizer = keras.optimizers.Adam(3e-4)
    g_optimizer = keras.optimizers.Adam(3e-4)
    gan.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer,
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True))
    return gan, d_optimizer, g_optimizer


def _images():
    (x, _), _ = _training.digits()
    return tf.data.Dataset.from_tensor_slices(x).batch(BATCH)


def test_the_unused_compiled_optimizer_fails_at_the_end_of_the_first_step():
    gan, d_optimizer, _ = _gan()
    with pytest.raises(ValueError, match="did not take a step") as error:
        gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[AutoLR(verbose=0)])
    assert "AutoLR(optimizer=[d_optimizer, g_optimizer]" in str(error.value)
    assert int(d_optimizer.iterations.numpy()) == 1  # one step, then the error
    assert not isinstance(_keras.raw_learning_rate(gan.optimizer), AutoLRSchedule)


def test_both_optimizers_share_one_schedule_driven_by_the_monitored_loss():
    gan, d_optimizer, g_optimizer = _gan()
    autolr = AutoLR(optimizer=[d_optimizer, g_optimizer], monitor="g_loss",
                    options=Options(check_every=4), verbose=0)
    logged = _training.LoggedLosses("g_loss")
    gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[autolr, logged])
    for optimizer in (d_optimizer, g_optimizer):
        assert _keras.raw_learning_rate(optimizer) is autolr.schedule
        assert int(optimizer.iterations.numpy()) == EPOCHS * 14
    expected = np.concatenate([
        np.diff(np.asarray(means, np.float64) * np.arange(1, len(means) + 1),
                prepend=0.0)
        for means in logged.epochs])
    # The logged running means are float32: undoing the mean multiplies
    # their rounding by the step count (up to 14 ulps of the largest mean).
    largest = max(abs(m) for means in logged.epochs for m in means)
    atol = 14 * float(np.spacing(np.float32(largest)))
    np.testing.assert_allclose(autolr.record.loss, expected, rtol=1e-4, atol=atol)
    assert autolr.decision.tests
    assert autolr.schedule.total_steps == EPOCHS * 14


def test_one_optimizer_given_leaves_the_other_at_its_own_lr():
    gan, d_optimizer, g_optimizer = _gan()
    autolr = AutoLR(optimizer=g_optimizer, monitor="g_loss",
                    options=Options(check_every=4), verbose=0)
    gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[autolr])
    assert _keras.raw_learning_rate(g_optimizer) is autolr.schedule
    assert float(np.asarray(d_optimizer.learning_rate)) == pytest.approx(3e-4)
    assert len(autolr.record.loss) == EPOCHS * 14
    assert np.all(np.isfinite(autolr.record.loss))


@pytest.mark.parametrize("optimizer, error", [
    ("adam", TypeError), ([], ValueError), ([1.0], TypeError)])
def test_bad_optimizer_arguments_are_refused(optimizer, error):
    with pytest.raises(error, match=r"`optimizer` .*Received optimizer="):
        AutoLR(optimizer=optimizer)


def test_the_same_optimizer_twice_is_refused():
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="twice"):
        AutoLR(optimizer=[optimizer, optimizer])


@pytest.mark.parametrize("monitor", ["", 3, None])
def test_bad_monitor_is_refused(monitor):
    with pytest.raises(TypeError, match=r"Received monitor="):
        AutoLR(monitor=monitor)
