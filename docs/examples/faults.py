"""Faults: a NaN loss is undone from a host copy and training goes on."""
import numpy as np
import keras
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
NAN_STEP = 40

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
optimizer = keras.optimizers.Adam()
cross_entropy = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def poisoned_loss(y_true, y_pred):
    """The loss of step NAN_STEP is NaN, and so are its gradients (a bad batch)."""
    value = cross_entropy(y_true, y_pred)
    bad = tf.equal(optimizer.iterations, NAN_STEP)
    return value * tf.where(bad, tf.constant(np.nan, value.dtype), 1.0)


model.compile(optimizer=optimizer, loss=poisoned_loss, metrics=["accuracy"])
autolr = keras_autolr.AutoLR(verbose=0)  # Options(restore_on_fault=True, rewind=True)
model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)

print("faults:", autolr.decision.faults)
print(f"switch {autolr.switch_step} ({autolr.decision.reason}), "
      f"rewound to the weights of step {autolr.decision.restored_step}")
print("weights finite:", all(np.isfinite(w).all() for w in model.get_weights()))
