"""Trains digits with AutoLR in a process that a test may SIGKILL and resume.

    python -m tests.workers.resume_worker OUT_DIR [--kill-epoch E]
        [--kill-batch B] [--mode backup|checkpoint|default] [--resume]

`--mode default`: a default `AutoLR()` (no option at all) beside
`keras.callbacks.BackupAndRestore`, which AutoLR finds by itself.

Appends `step lr` to OUT_DIR/lr.txt before every step (the LR that step
trains with, read from the schedule's state), so the record survives a kill.
At the end, writes the decision (switch step, peak LR, reason, the
rewind's step) to OUT_DIR/decision.txt and the final weights to
OUT_DIR/weights.npz.
"""

import argparse
import os
import signal
import sys

import numpy as np

import keras_autolr  # noqa: E402
from keras_autolr import Options  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
from keras_autolr._keras import tf  # noqa: E402

if tf is not None:  # JAX and torch on CPU are deterministic as they are
    tf.config.experimental.enable_op_determinism()
from tests import _training  # noqa: E402

EPOCHS, BATCH = 8, 128  # 11 steps per epoch, 88 steps


class RecordLR(keras.callbacks.Callback):
    def __init__(self, autolr, path):
        super().__init__()
        self.autolr, self.path = autolr, path

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        lr = np.float32(self.autolr.schedule(step))
        with open(self.path, "a") as f:
            f.write(f"{step} {lr.view(np.uint32)}\n")


class Kill(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.batch is not None and self.current == self.epoch and batch == self.batch:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_end(self, epoch, logs=None):
        if self.batch is None and epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--kill-epoch", type=int, default=None)
    parser.add_argument("--kill-batch", type=int, default=None)
    parser.add_argument("--mode", choices=["backup", "checkpoint", "default"], default="backup")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    (x, y), _ = _training.digits()
    state_dir = os.path.join(args.out, "backup")
    checkpoint = os.path.join(args.out, "model.keras")
    initial_epoch = 0
    if args.mode == "checkpoint" and args.resume:
        model = keras.models.load_model(checkpoint)
        with open(os.path.join(args.out, "epoch.txt")) as f:
            initial_epoch = int(f.read())
    else:
        model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    if args.mode == "default":
        autolr = keras_autolr.AutoLR()
    else:
        autolr = keras_autolr.AutoLR(backup_dir=state_dir,
                                     options=Options(check_every=2), verbose=0)
    callbacks = [autolr]
    if args.mode in ("backup", "default"):
        callbacks.insert(0, keras.callbacks.BackupAndRestore(state_dir))
    else:
        class SaveEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                with open(os.path.join(args.out, "epoch.txt"), "w") as f:
                    f.write(str(epoch + 1))

        callbacks += [keras.callbacks.ModelCheckpoint(checkpoint), SaveEpoch()]
    callbacks.insert(0, RecordLR(autolr, os.path.join(args.out, "lr.txt")))
    if args.kill_epoch is not None:
        callbacks.append(Kill(args.kill_epoch, args.kill_batch))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=callbacks, initial_epoch=initial_epoch)
    with open(os.path.join(args.out, "decision.txt"), "w") as f:
        f.write(f"{autolr.switch_step} {np.float64(autolr.peak_lr).hex()} "
                f"{autolr.decision.reason} {autolr.decision.restored_step}\n")
    # The final weights, bit for bit (a file per run: weights.npz).
    np.savez(os.path.join(args.out, "weights.npz"),
             *[np.asarray(w.numpy()) for w in model.weights])
    return 0


if __name__ == "__main__":
    sys.exit(main())
