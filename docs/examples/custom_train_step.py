"""A custom train_step: AutoLR reads the loss the step reports."""
import keras
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")


class Classifier(keras.Model):
    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(64, activation="relu")
        self.logits = keras.layers.Dense(10)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        # AutoLR reads this tracker: a Mean metric named "loss".
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs):
        return self.logits(self.hidden(inputs))

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        inputs, labels = data
        with tf.GradientTape() as tape:
            loss = self.loss_fn(labels, self(inputs, training=True))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


keras.utils.set_random_seed(0)
model = Classifier()
model.compile(optimizer=keras.optimizers.Lamb())
autolr = keras_autolr.AutoLR(verbose=0)
model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)
print(f"switch step {autolr.switch_step}, peak LR {autolr.peak_lr:.4g}")
