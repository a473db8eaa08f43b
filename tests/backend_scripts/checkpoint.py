"""The decision in `.weights.h5` and `.keras` files on the backend of `KERAS_BACKEND`; prints JSON.

Run by tests/test_backends.py in a fresh process, as tests/test_checkpoint_state.py
does on TensorFlow: a model whose schedule switched at SWITCH with PEAK is
saved, and a fresh model with `AutoLR` set loads it and decays from there
(`.weights.h5`, `.keras`, a `.keras` file of `ModelCheckpoint`,
`BackupAndRestore`);
files written without AutoLR load into an optimizer with it, and the other
way round, with the optimizer's slots restored and no warning.

The model is one `Dense(1)` unit trained by SGD (momentum 0.9, the slots)
on the mean of its predictions: the gradient of the bias is exactly 1, so
without momentum each step moves the bias by minus the LR applied.
"""

import json
import os
import tempfile
import warnings

import numpy as np

import keras
import keras_autolr

TOTAL, SWITCH, PEAK = 200, 3, 0.02
BATCH = 8  # 4 steps per epoch of 32 samples
X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
Y = np.zeros((32, 1), "float32")


def mean_prediction(y_true, y_pred):
    return y_pred[:, 0] + 0.0 * y_true[:, 0]


def model_with(momentum=0.0):
    """Pair form (as test_checkpoint_state.py on Keras 3): SGD on an AutoLRSchedule."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    schedule = keras_autolr.AutoLRSchedule(total_steps=TOTAL)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=momentum),
                  loss=mean_prediction)
    return model


class Switch(keras.callbacks.Callback):
    """Ends warmup at SWITCH with PEAK at the first epoch end, as AutoLR would."""

    def __init__(self, autolr):
        super().__init__()
        self.autolr = autolr

    def on_epoch_end(self, epoch, logs=None):
        self.autolr.schedule.switch(SWITCH, PEAK)


class EpochBias(keras.callbacks.Callback):
    """The bias and the step counter at each epoch begin and end."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def _look(self):
        model = self.model
        bias = keras.ops.convert_to_numpy(model.layers[-1].bias)[0]
        self.seen.append((int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
                          float(bias)))

    def on_epoch_begin(self, epoch, logs=None):
        self._look()

    def on_epoch_end(self, epoch, logs=None):
        self._look()


def fit(model, callbacks=(), epochs=1, initial_epoch=0):
    model.fit(X, Y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch,
              verbose=0, shuffle=False, callbacks=list(callbacks))


def attached(model):
    """A default `AutoLR` set on `model`, as `fit` does before anything else."""
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    autolr.set_model(model)
    return autolr


def slots(model):
    """The optimizer's numbered variables as a plain optimizer saves them."""
    return [np.asarray(keras.ops.convert_to_numpy(v)).tolist()
            for v in model.optimizer.variables
            if "iteration" not in v.path and "learning_rate" not in v.path
            and v.path.split("/")[-1] not in ("switch_step", "peak_lr")]


def load(model, path):
    """Loads `path` into a built optimizer; returns the warnings given."""
    model.optimizer.build(model.trainable_variables)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(path)
    return [str(w.message) for w in caught]


def main():
    out = {"backend": keras.backend.backend()}
    tmp = tempfile.mkdtemp()

    # 1. With AutoLR -> with AutoLR: the decision, the slots, the next fit's LR.
    saved = model_with(momentum=0.9)
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    fit(saved, [autolr, Switch(autolr)])
    with_state = os.path.join(tmp, "with.weights.h5")
    saved.save_weights(with_state)
    model = model_with(momentum=0.9)
    loaded = attached(model)
    out["with_to_with_warnings"] = load(model, with_state)
    out["with_to_with_slots_equal"] = slots(model) == slots(saved)
    out["with_to_with_iterations"] = int(keras.ops.convert_to_numpy(
        model.optimizer.iterations))
    fit(model, [loaded], epochs=2, initial_epoch=1)  # the state applies at build
    out["with_to_with_switch"] = [loaded.schedule.switch_step, loaded.schedule.peak_lr]
    # The next fit decays from the loaded switch (no momentum: bias moves by -LR).
    plain_sgd = model_with(momentum=0.0)
    fit(plain_sgd, [keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)])
    path = os.path.join(tmp, "sgd.weights.h5")
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    fit(plain_sgd, [autolr, Switch(autolr)], epochs=2, initial_epoch=1)
    plain_sgd.save_weights(path)
    model = model_with(momentum=0.0)
    attached(model)
    load(model, path)
    autolr, bias = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0), EpochBias()
    fit(model, [autolr, bias], epochs=3, initial_epoch=2)
    out["next_fit_switch"] = [autolr.switch_step, autolr.peak_lr]
    out["next_fit_bias"] = bias.seen

    # A `.keras` file (the schedule's config keeps the decision) and
    # BackupAndRestore (the optimizer's checkpoint, AutoLR's own state file
    # removed): the next fit decays from the saved switch.
    keras_path = os.path.join(tmp, "model.keras")
    plain_sgd.save(keras_path)
    model = keras.models.load_model(
        keras_path, custom_objects={"mean_prediction": mean_prediction})
    autolr, bias = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0), EpochBias()
    fit(model, [autolr, bias], epochs=3, initial_epoch=2)
    out["keras_file_switch"] = [autolr.switch_step, autolr.peak_lr]
    out["keras_file_bias"] = bias.seen
    # `keras.callbacks.ModelCheckpoint` writing a `.keras` file at each epoch
    # end, loaded by `load_model` for the next fit.
    checkpoint = os.path.join(tmp, "checkpoint.keras")
    saved_checkpoint = model_with(momentum=0.0)
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    fit(saved_checkpoint, [autolr, Switch(autolr),
                           keras.callbacks.ModelCheckpoint(checkpoint)], epochs=2)
    model = keras.models.load_model(
        checkpoint, custom_objects={"mean_prediction": mean_prediction})
    autolr, bias = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0), EpochBias()
    fit(model, [autolr, bias], epochs=3, initial_epoch=2)
    out["model_checkpoint_switch"] = [autolr.switch_step, autolr.peak_lr]
    out["model_checkpoint_bias"] = bias.seen
    backup = os.path.join(tmp, "backup")
    saved_backup = model_with(momentum=0.0)
    autolr = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0)
    fit(saved_backup, [autolr, Switch(autolr), keras.callbacks.BackupAndRestore(
        backup, delete_checkpoint=False)], epochs=2)
    from keras_autolr.training import state as state_lib

    os.remove(state_lib.state_path(backup))
    model = model_with(momentum=0.0)
    autolr, bias = keras_autolr.AutoLR(total_steps=TOTAL, verbose=0), EpochBias()
    fit(model, [autolr, bias, keras.callbacks.BackupAndRestore(backup)], epochs=3)
    out["backup_switch"] = [autolr.switch_step, autolr.peak_lr]
    out["backup_bias"] = bias.seen

    # 2. Without AutoLR -> with AutoLR, and 3. with AutoLR -> without.
    plain = model_with(momentum=0.9)
    fit(plain)  # the schedule, but no AutoLR: no state in the file
    without_state = os.path.join(tmp, "without.weights.h5")
    plain.save_weights(without_state)
    model = model_with(momentum=0.9)
    loaded = attached(model)
    out["without_to_with_warnings"] = load(model, without_state)
    out["without_to_with_slots_equal"] = slots(model) == slots(plain)
    out["without_to_with_switch"] = loaded.schedule.switch_step
    model = model_with(momentum=0.9)  # no AutoLR set
    out["with_to_without_warnings"] = load(model, with_state)
    out["with_to_without_slots_equal"] = slots(model) == slots(saved)
    out["slot_count"] = len(slots(saved))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
