"""`find_lr` on the backend of `KERAS_BACKEND`; prints JSON.

Run by tests/test_backends.py in a fresh process: the sweep runs, suggests
an LR, and puts the model's weights and optimizer variables back bit for bit.
"""

import json

import numpy as np

import keras
import keras_autolr


def main():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)),
                              keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:64], y[:64], epochs=1, verbose=0)  # slots to put back
    weights = [w.copy() for w in model.get_weights()]
    slots = [np.array(keras.ops.convert_to_numpy(v)) for v in model.optimizer.variables]
    result = keras_autolr.find_lr(model, x, y, batch_size=64)
    after = [np.array(keras.ops.convert_to_numpy(v)) for v in model.optimizer.variables]
    print(json.dumps({
        "backend": keras.backend.backend(),
        "suggestion": result.suggestion,
        "steps": len(result.losses),
        "weights_restored": all(np.array_equal(a, b)
                                for a, b in zip(weights, model.get_weights())),
        "optimizer_restored": len(slots) == len(after) and all(
            np.array_equal(a, b) for a, b in zip(slots, after)),
    }))


if __name__ == "__main__":
    main()
