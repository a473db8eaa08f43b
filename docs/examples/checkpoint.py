"""The decision is saved with the optimizer: a .keras file carries it."""
import os
import tempfile

import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
budget = 8 * 29  # 8 epochs of 29 steps (1,797 samples, batch 64)

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Lamb(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
first = keras_autolr.AutoLR(total_steps=budget, verbose=0)
model.fit(x, y, batch_size=64, epochs=6, callbacks=[first], verbose=0)
print(f"first fit: switch {first.switch_step}, peak LR {first.peak_lr:.4g}")

path = os.path.join(tempfile.mkdtemp(), "model.keras")
model.save(path)

# Later, maybe in another process: load, and finish the budget.
model = keras.models.load_model(path)
second = keras_autolr.AutoLR(total_steps=budget, verbose=0)
model.fit(x, y, batch_size=64, epochs=8, initial_epoch=6, callbacks=[second], verbose=0)
print(f"second fit: switch {second.switch_step}, peak LR {second.peak_lr:.4g} "
      f"(no new warmup), last LR {second.record.learning_rate[-1]:.2g}")
