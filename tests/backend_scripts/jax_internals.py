"""The JAX trainer internals `keras_autolr._keras` relies on; prints JSON.

Run by tests/test_backends.py with `KERAS_BACKEND=jax`. A `Dense(1)` unit
trained by SGD (LR 0.1) on the mean of its predictions: the bias' gradient
is 1, so each step moves it by -0.1. A callback writes the bias on the host
after the second step of an epoch of four:

- after `_keras.sync_model_state` (`Model.jax_state_sync`, and the flag
  `_jax_state_synced` it sets): the next compiled step starts from the
  written value;
- without it: the write is lost (the step is handed the trainer's state).

`_keras.track_optimizer_state` adds a variable to `optimizer.variables`
(`Optimizer._track_variable`), and a weights file saved then has the
numbered variables of the optimizer without it, through a
`LossScaleOptimizer` too.
"""

import json
import os
import tempfile

import numpy as np

import keras
from keras_autolr import _keras

X = np.ones((32, 3), "float32")
Y = np.zeros((32, 1), "float32")


def mean_prediction(y_true, y_pred):
    return y_pred[:, 0] + 0.0 * y_true[:, 0]


class WriteBias(keras.callbacks.Callback):
    def __init__(self, model, sync):
        super().__init__()
        self.target, self.sync = model, sync  # not `self.model`: it syncs
        self.flag = None

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            if self.sync:
                _keras.sync_model_state(self.target)
                self.flag = getattr(self.target, "_jax_state_synced", None)
            self.target.layers[-1].bias.assign(np.array([5.0], "float32"))


def model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=mean_prediction)
    return m


def main():
    out = {"backend": keras.backend.backend(),
           "has_jax_state_sync": hasattr(keras.Model, "jax_state_sync")}
    for sync in (True, False):
        m = model()
        writer = WriteBias(m, sync)
        m.fit(X, Y, batch_size=8, epochs=1, verbose=0, callbacks=[writer])
        out[f"bias_sync_{sync}"] = float(np.asarray(m.layers[-1].bias.numpy())[0])
        out[f"flag_sync_{sync}"] = writer.flag
    m = model()
    m.optimizer.build(m.trainable_variables)
    before = len(m.optimizer.variables)
    extra = keras.Variable(3, dtype="int32", trainable=False, name="extra")
    _keras.track_optimizer_state(m.optimizer, [extra])
    out["tracked"] = (len(m.optimizer.variables) == before + 1
                      and any(v is extra for v in m.optimizer.variables))
    path = os.path.join(tempfile.mkdtemp(), "w.weights.h5")
    m.save_weights(path)
    import h5py

    with h5py.File(path) as f:
        out["saved_numbered"] = len(f["optimizer"]["vars"].keys())
    out["numbered_without"] = before
    # Mixed precision: the model's optimizer wraps the one AutoLR drives, and
    # saves the wrapped one's variables with its own.
    m = model()
    wrapper = keras.optimizers.LossScaleOptimizer(m.optimizer)
    wrapper.build(m.trainable_variables)
    before = len(wrapper.variables)
    extra = keras.Variable(3, dtype="int32", trainable=False, name="extra")
    _keras.track_optimizer_state(wrapper.inner_optimizer, [extra], wrapper)
    out["wrapper_tracked"] = any(v is extra for v in wrapper.variables)
    wrapper.save_own_variables(store := {})
    out["wrapper_saved_numbered"] = len(store)
    out["wrapper_numbered_without"] = before
    print(json.dumps(out))


if __name__ == "__main__":
    main()
