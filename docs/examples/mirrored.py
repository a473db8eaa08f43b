"""MirroredStrategy with fit: here on two logical CPU devices."""
import tensorflow as tf

# Split the CPU into two devices (must happen before TensorFlow starts).
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_autolr  # noqa: E402

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Lamb(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
autolr = keras_autolr.AutoLR(verbose=0)
model.fit(x, y, batch_size=128, epochs=8, callbacks=[autolr], verbose=0)
print(f"{strategy.num_replicas_in_sync} replicas: switch step {autolr.switch_step}, "
      f"peak LR {autolr.peak_lr:.4g}")
