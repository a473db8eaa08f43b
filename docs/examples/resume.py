"""Resume after an interruption: AutoLR keeps its state beside BackupAndRestore."""
import tempfile

import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")


def make_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Lamb(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class Preempted(keras.callbacks.Callback):
    """Stands in for a preemption: stops the process at the end of epoch 3."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 3:
            raise RuntimeError("preempted")


backup_dir = tempfile.mkdtemp()
try:
    make_model().fit(x, y, batch_size=64, epochs=8, verbose=0, shuffle=False,
                     callbacks=[keras_autolr.AutoLR(verbose=0),
                                keras.callbacks.BackupAndRestore(backup_dir),
                                Preempted()])
except RuntimeError as error:
    print("first run:", error)

# A new process would do exactly this: the same code, the same backup_dir.
autolr = keras_autolr.AutoLR(verbose=0)
make_model().fit(x, y, batch_size=64, epochs=8, verbose=0, shuffle=False,
                 callbacks=[autolr, keras.callbacks.BackupAndRestore(backup_dir)])

uninterrupted = keras_autolr.AutoLR(verbose=0)
make_model().fit(x, y, batch_size=64, epochs=8, verbose=0, shuffle=False,
                 callbacks=[uninterrupted])
print(f"resumed:       switch {autolr.switch_step}, peak LR {autolr.peak_lr:.6g}")
print(f"uninterrupted: switch {uninterrupted.switch_step}, peak LR {uninterrupted.peak_lr:.6g}")
