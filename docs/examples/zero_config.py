"""Zero-config: AutoLR replaces the optimizer's learning rate during `fit`."""
import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.Dense(10),
])
model.compile(optimizer=keras.optimizers.Lamb(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])

autolr = keras_autolr.AutoLR()  # no arguments: budget = steps per epoch x epochs
model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)

decision = autolr.decision
print(f"warmup: {autolr.switch_step} of {decision.total_steps} steps ({decision.reason})")
print(f"peak LR: {autolr.peak_lr:.4g}")
print(f"tests run: {len(decision.probabilities)}")
print(f"steps recorded: {len(autolr.record.step)}, last LR {autolr.record.learning_rate[-1]:.2g}")
