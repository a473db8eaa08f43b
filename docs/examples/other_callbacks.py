"""Other LR callbacks and LR schedules next to AutoLR."""
import warnings

import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")


def make_model(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


# A callback that also sets the LR is refused before the first step.
model = make_model(keras.optimizers.Adam())
try:
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[keras_autolr.AutoLR(verbose=0),
                         keras.callbacks.ReduceLROnPlateau(monitor="loss")])
except ValueError as error:
    print("refused:", str(error).splitlines()[0])
print("optimizer steps taken:", int(model.optimizer.iterations))

# An optimizer whose LR is already a schedule: AutoLR replaces it, with a warning.
cosine = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=100)
model = make_model(keras.optimizers.Adam(learning_rate=cosine))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[keras_autolr.AutoLR(verbose=0)])
print("warned:", [str(w.message).splitlines()[0] for w in caught
                  if issubclass(w.category, UserWarning)][:1])
