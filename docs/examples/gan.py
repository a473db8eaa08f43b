"""Several optimizers in one train_step (keras.io's GAN), one schedule."""
import keras
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_autolr

LATENT = 8
images, _ = load_digits(return_X_y=True)
dataset = tf.data.Dataset.from_tensor_slices((images / 16.0).astype("float32")).batch(128)


class GAN(keras.Model):
    def __init__(self, discriminator, generator):
        super().__init__()
        self.discriminator, self.generator = discriminator, generator
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def train_step(self, real):
        batch = tf.shape(real)[0]
        fake = self.generator(tf.random.normal((batch, LATENT)))
        labels = tf.concat([tf.ones((batch, 1)), tf.zeros((batch, 1))], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(tf.concat([fake, real], 0)))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        with tf.GradientTape() as tape:
            fooled = self.discriminator(self.generator(tf.random.normal((batch, LATENT))))
            g_loss = self.loss_fn(tf.zeros((batch, 1)), fooled)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}


keras.utils.set_random_seed(0)
discriminator = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(1)])
generator = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(64, activation="sigmoid")])
gan = GAN(discriminator, generator)
d_optimizer, g_optimizer = keras.optimizers.Adam(), keras.optimizers.Adam()
gan.compile(d_optimizer, g_optimizer, keras.losses.BinaryCrossentropy(from_logits=True))

# The optimizers the step applies share one schedule; the generator's loss drives it.
autolr = keras_autolr.AutoLR(optimizer=[d_optimizer, g_optimizer], monitor="g_loss",
                             verbose=0)
gan.fit(dataset, epochs=10, callbacks=[autolr], verbose=0)
print(f"switch step {autolr.switch_step}, peak LR {autolr.peak_lr:.4g} "
      f"({autolr.decision.reason}), both optimizers at step "
      f"{int(d_optimizer.iterations)} / {int(g_optimizer.iterations)}")
