"""A digits fit that a test SIGKILLs and restarts, on the backend of `KERAS_BACKEND`.

Run by tests/test_backends.py, as tests/workers/resume_worker.py on
TensorFlow (its `--mode default`): a default `AutoLR()` beside
`keras.callbacks.BackupAndRestore`, whose `backup_dir` AutoLR keeps its state
in (resume by default).

    KERAS_BACKEND=torch python tests/backend_scripts/resume_fit.py OUT '{"kill": [2, 5]}'

Options (a JSON object, optional): `kill` [epoch, batch], the process kills
itself with SIGKILL at the end of that batch (no cleanup, no last save).
Without it, or once restarted, the fit runs to the end.

Appends `step lr` to OUT/lr.txt before every step (the step's LR, float32
bits, from the schedule's formula and the decision at that point), so the
record survives a kill. At the end, writes OUT/result.json: the decision
(switch step, peak LR as a hex float, reason, the rewind's step, the
tests' steps) and the final weights as the
hex of their float32 bytes.
"""

import json
import os
import signal
import sys

import numpy as np

import keras
import keras_autolr
from digits_fit import digits
from tests import _training

EPOCHS, BATCH = 8, 128  # 1,408 digits: 11 steps per epoch, 88 steps


class RecordLR(keras.callbacks.Callback):
    """Each step's LR, appended before the step runs."""

    def __init__(self, autolr, path):
        super().__init__()
        self.autolr, self.path, self.step = autolr, path, None

    def on_epoch_begin(self, epoch, logs=None):
        # The optimizer's state is synced at an epoch's start on every backend.
        self.step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_begin(self, batch, logs=None):
        # On JAX, `fit` holds the state mid-epoch; a callback that reads a
        # variable syncs it first (Keras' idiom), the schedule's state too.
        getattr(self.model, "jax_state_sync", lambda: None)()
        lr = np.float32(keras.ops.convert_to_numpy(self.autolr.schedule(self.step)))
        with open(self.path, "a") as f:
            f.write(f"{self.step} {lr.view(np.uint32)}\n")

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1


class Kill(keras.callbacks.Callback):
    """SIGKILL at the end of batch `batch` of epoch `epoch`."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGKILL)


def main(out, options):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # digits_fit's digits, unshuffled: 1,408 of them (tests/_training's train split
    # has 1,400, not a whole number of batches).
    x, y = digits()
    x, y = x[:1408], y[:1408]
    # The loss alone, as this fit always ran: no accuracy, which nothing reads.
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam(), metrics=None)
    autolr = keras_autolr.AutoLR(verbose=0)
    callbacks = [keras.callbacks.BackupAndRestore(os.path.join(out, "backup")), autolr,
                 RecordLR(autolr, os.path.join(out, "lr.txt"))]
    if "kill" in options:
        callbacks.append(Kill(*options["kill"]))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=callbacks)
    weights = [np.asarray(keras.ops.convert_to_numpy(w), np.float32).tobytes().hex()
               for w in model.weights]
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump({
            "backend": keras.backend.backend(),
            "switch_step": autolr.switch_step,
            "peak_lr": float(autolr.peak_lr).hex(),
            "reason": autolr.decision.reason,
            "restored_step": autolr.decision.restored_step,
            "test_steps": [result.step for result in autolr.decision.tests],
            "weights": weights,
        }, f)


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
