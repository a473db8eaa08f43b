"""AdamP (Heo et al., ICLR 2021), the optimizer of the paper's ImageNet results."""
import keras
from sklearn.datasets import load_digits

import keras_autolr
from keras_autolr.optimizers import AdamP

x, y = load_digits(return_X_y=True)
x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")

keras.utils.set_random_seed(0)
# A convolution before batch normalization is scale-invariant: AdamP removes
# the radial part of its update.
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(16, 3, use_bias=False),
    keras.layers.BatchNormalization(),
    keras.layers.ReLU(),
    keras.layers.Flatten(),
    keras.layers.Dense(10),
])
schedule = keras_autolr.AutoLRSchedule()
model.compile(optimizer=AdamP(learning_rate=schedule, weight_decay=1e-2),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
autolr = keras_autolr.AutoLR(schedule=schedule, verbose=0)
history = model.fit(x, y, batch_size=64, epochs=6, callbacks=[autolr], verbose=0)
print(f"switch step {autolr.switch_step}, peak LR {autolr.peak_lr:.4g}, "
      f"training accuracy {history.history['accuracy'][-1]:.3f}")
