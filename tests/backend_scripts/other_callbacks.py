"""Keras' LR-setting callbacks beside `AutoLR` in one `fit`; prints JSON.

As tests/test_other_callbacks.py on TensorFlow, run by tests/test_backends.py
with `KERAS_BACKEND` set: `AutoLR()` with a `ReduceLROnPlateau`, then with a
`LearningRateScheduler` (halving the LR each epoch), in the same `fit` of a
digits MLP with Adam(1e-3). For each: the error, the optimizer's step
counter and learning rate after it, and the learning rate after the same
`fit` without AutoLR (one epoch).
"""

import json

import keras
import keras_autolr
from digits_fit import digits
from keras_autolr import _keras

OWN_LR = 1e-3


def others():
    return {
        "ReduceLROnPlateau": keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1),
        "LearningRateScheduler": keras.callbacks.LearningRateScheduler(
            lambda epoch, lr: lr * 0.5),
    }


def model():
    keras.utils.set_random_seed(0)
    mlp = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                            keras.layers.Dense(10)])
    mlp.compile(optimizer=keras.optimizers.Adam(OWN_LR),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return mlp


def learning_rate(optimizer):
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def main():
    x, y = digits()
    x, y = x[:256], y[:256]
    out = {"backend": keras.backend.backend()}
    for name, other in others().items():
        mlp, seen = model(), {"error": None}
        try:
            mlp.fit(x, y, batch_size=64, epochs=2, verbose=0,
                    callbacks=[keras_autolr.AutoLR(verbose=0), other])
        except ValueError as error:
            seen["error"] = str(error)
        seen["iterations"] = int(keras.ops.convert_to_numpy(mlp.optimizer.iterations))
        seen["lr_is_schedule"] = isinstance(
            _keras.raw_learning_rate(mlp.optimizer), keras_autolr.AutoLRSchedule)
        seen["lr_after_error"] = learning_rate(mlp.optimizer)
        # The same fit without AutoLR runs, the other callback setting the LR.
        mlp.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[other])
        seen["lr_after_fit_without_autolr"] = learning_rate(mlp.optimizer)
        out[name] = seen
    print(json.dumps(out))


if __name__ == "__main__":
    main()
