"""find_lr: look at the LR range test before training, then train with its suggestion."""
import math
import os
import tempfile

import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Lamb(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])

# 100 sweep steps by default (fastai's and Lightning's); the data repeats when shorter.
result = keras_autolr.find_lr(model, x, y, batch_size=64)
print(f"suggestion {result.suggestion:.3g}, GP minimum {result.minimum:.3g}, "
      f"fastai valley {result.valley:.3g}, Lightning steepest "
      f"{result.lightning_steepest:.3g}, {len(result.losses)} sweep steps")
result.plot().savefig(os.path.join(tempfile.mkdtemp(), "lr_finder.png"))

# The model is as it was before the sweep; train with a warmup + cosine from the suggestion.
epochs = 8
total = epochs * math.ceil(len(x) / 64)
model.compile(optimizer=keras.optimizers.Lamb(result.schedule(total)),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0)
print(f"training accuracy after {epochs} epochs: {history.history['accuracy'][-1]:.3f}")
