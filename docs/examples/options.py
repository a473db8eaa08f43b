"""The decision policy: one frozen Options object, and the PAPER preset."""
import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")


def train(options):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    autolr = keras_autolr.AutoLR(options=options, verbose=0)
    model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)
    return autolr


default = keras_autolr.Options()            # what AutoLR() uses
print(default)
# Frozen: replace() returns a changed copy.
adam_options = default.replace(peak_factor=1.0, patience=4)
print("changed:", adam_options.peak_factor, adam_options.patience)
# Options round-trip through a config dict (e.g. to log them).
assert keras_autolr.Options.from_config(adam_options.get_config()) == adam_options

for name, options in [("default", default), ("peak_factor=1.0", adam_options),
                      ("PAPER", keras_autolr.PAPER)]:
    autolr = train(options)
    print(f"{name:>16}: switch {autolr.switch_step}, peak LR {autolr.peak_lr:.4g}, "
          f"{autolr.decision.reason}")
