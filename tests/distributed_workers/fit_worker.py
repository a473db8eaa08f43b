"""One worker of a 2-worker `model.fit` with AutoLR (Keras 2 `fit`).

Usage (one per worker, TF_CONFIG set by the caller):

    TF_CONFIG=... python tests/distributed_workers/fit_worker.py OUT.json \
        --seeds 0,1,2,3 --disagree-seeds 3

Trains one model per seed under `MultiWorkerMirroredStrategy` and writes,
per seed, what this worker saw and decided: the LR of every step (read
before the step), the loss record, the switch step and peak LR, as exact
hex floats. For the seeds in `--disagree-seeds`, workers other than the chief
run a detector with other options (seed, confidence, patience) and start
from a schedule that says warmup already ended, so their own decisions
differ from the chief's and only the agreement keeps them on the chief's
LR. Seed 1 runs zero-config (AutoLR installs its schedule), the others the
pair form. For the seeds in `--poison-seeds`, the loss of the steps in
`_common.POISONED` reads 1e4 times its value on every worker (the gradient
left as it is), after the switch: the decay guard must act on both workers
alike.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_autolr  # noqa: E402
from keras_autolr.training import distributed  # noqa: E402
from keras_autolr._keras import IS_KERAS_3, keras  # noqa: E402

def poisoned_loss(optimizer):
    """The digits' loss, read 1e4 times its value on the `POISONED` steps;
    its gradient is the loss's own (as a loss spike that damages nothing)."""
    base = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="none")

    def loss(y_true, y_pred):
        value = base(y_true, y_pred)
        step = optimizer.iterations
        hit = tf.logical_and(step >= _common.POISONED[0], step < _common.POISONED[1])
        return value + tf.stop_gradient(value * tf.where(hit, 1e4 - 1.0, 0.0))

    return loss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--disagree-seeds", default="")
    parser.add_argument("--poison-seeds", default="")
    args = parser.parse_args()
    started = time.time()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = _common.task_index()

    overrides = [0]
    agree_controller = distributed.agree_controller

    def counting(strategy, controller):  # counts replaced local decisions
        changed = agree_controller(strategy, controller)
        overrides[0] += int(changed)
        return changed

    distributed.agree_controller = counting

    class StepLR(keras.callbacks.Callback):
        """The LR each step trains with, read before the step."""

        def __init__(self, autolr):
            super().__init__()
            self.autolr = autolr
            self.lrs = []

        def on_train_batch_begin(self, batch, logs=None):
            schedule = self.autolr.schedule
            self.lrs.append(float(schedule(self.model.optimizer.iterations)))

    x, y = _common.digits()
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        overrides[0] = 0
        detector = dict(_common.DETECTOR, seed=seed)
        disagree = str(seed) in args.disagree_seeds.split(",") and task != 0
        if disagree:
            detector.update(seed=seed + 1000, confidence=0.5, patience=1)
        # Seed 1: zero-config (AutoLR installs its own schedule); the others:
        # the pair form (the schedule given to the optimizer).
        paired = seed != 1
        schedule = keras_autolr.AutoLRSchedule(**_common.SCHEDULE) if paired else None
        poisoned = str(seed) in args.poison_seeds.split(",")
        with strategy.scope():
            model = _common.make_model(keras, seed)
            optimizer = keras.optimizers.SGD(learning_rate=schedule if paired else 0.01)
            model.compile(
                optimizer=optimizer,
                loss=poisoned_loss(optimizer) if poisoned else
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # The mean loss of the first global batch, on one device: what the
        # detector must see at step 0 (not one worker's half of the batch).
        logits = model(x[:_common.GLOBAL_BATCH])
        first_loss = float(tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=y[:_common.GLOBAL_BATCH], logits=logits)))
        if disagree and paired:
            # A schedule that says warmup already ended at step 5, on this
            # worker only (as a stale restore could leave it; the variables
            # are created from the chief's values, the assignment is
            # local): the chief's state wins when `fit` starts.
            schedule.build(strategy)
            schedule.switch(5, 0.01)
        if not paired:  # zero-config with the shape: installed by AutoLR
            schedule = keras_autolr.AutoLRSchedule(**_common.SCHEDULE)
        autolr = keras_autolr.AutoLR(schedule=schedule, verbose=0,
                                     options=keras_autolr.Options(**detector))
        step_lr = StepLR(autolr)
        model.fit(_common.dataset(tf), epochs=args.epochs, verbose=0,
                  callbacks=[autolr, step_lr])
        decision = autolr.decision
        schedule = autolr.schedule
        runs.append(dict(
            seed=seed,
            form="pair" if paired else "zero-config",
            schedule_mirrored=all(
                isinstance(v, tf.distribute.DistributedValues)
                for v in schedule._state.values()),
            switch_step=decision.switch_step,
            peak_lr=None if decision.peak_lr is None else decision.peak_lr.hex(),
            reason=decision.reason,
            tests=len(decision.tests),
            overrides=overrides[0],
            first_global_batch_loss=first_loss,
            lrs=_common.hexes(step_lr.lrs),
            losses=_common.hexes(autolr.record.loss),
            schedule_switch=schedule.switch_step,
            schedule_peak=None if schedule.peak_lr is None else schedule.peak_lr.hex(),
            faults=[[int(step), str(action)] for step, action in decision.faults],
            decay_peak_lr=None if autolr.controller.decay_peak_lr is None
            else float(autolr.controller.decay_peak_lr).hex(),
            weights=_common.weights_digest(model),
            weights_finite=all(bool(np.all(np.isfinite(w))) for w in model.get_weights()),
        ))
    _common.write(args.out, dict(
        task=task, keras_3=IS_KERAS_3, tf=tf.__version__,
        num_workers=distributed.num_workers(strategy),
        seconds=time.time() - started, runs=runs))


if __name__ == "__main__":
    main()
