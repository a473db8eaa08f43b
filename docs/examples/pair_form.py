"""Pair form: the same AutoLRSchedule on the optimizer and on the callback."""
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

# The schedule's shape is given here, and only here.
schedule = keras_autolr.AutoLRSchedule(min_lr=1e-4, max_lr=1.0, decay="linear")
model.compile(optimizer=keras.optimizers.Lamb(learning_rate=schedule),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
autolr = keras_autolr.AutoLR(schedule=schedule, verbose=0)
model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)

print(f"switch step {autolr.switch_step}, peak LR {autolr.peak_lr:.4g}")
# The schedule is an ordinary LearningRateSchedule: its LR at any step.
for step in (0, autolr.switch_step, schedule.total_steps - 1):
    print(f"LR at step {step}: {float(schedule(step)):.4g}")
