"""`MirroredStrategy` on 2 logical CPU devices against one device, with AutoLR.

Usage: `python tests/distributed_workers/mirrored_worker.py OUT.json`

Logical devices must be configured before TensorFlow initializes its
devices, so this runs as its own process (started by
`tests/test_distributed_mirrored.py`). Every run trains the same MLP from
the same weights on the same global batches (64 digits, in order, 3 epochs
of 24 steps), with the same AutoLR options, and records the LR of every step
(read before the step), the losses AutoLR recorded and its decision:

- `single`: no strategy, one device.
- `mirrored`: MirroredStrategy over /cpu:0 and /cpu:1, a finite dataset
  (the budget comes from its size).
- `distributed_steps`: the same, on a repeated dataset distributed by the
  strategy (`experimental_distribute_dataset`), with `steps_per_epoch`.
- `distributed_finite` (Keras 3): a finite dataset distributed by the
  strategy, without `steps_per_epoch` (the budget comes from its size).
- `resumed`: `mirrored` stopped after 2 epochs, saved with
  `tf.train.Checkpoint` (model, optimizer, schedule state), restored into
  a fresh strategy-scoped model and trained for the last epoch.
"""

import os
import sys
import tempfile
import time

import tensorflow as tf

_CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _CPU, [tf.config.LogicalDeviceConfiguration()] * 2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import numpy as np  # noqa: E402

import keras_autolr  # noqa: E402
from keras_autolr.training import distributed  # noqa: E402
from keras_autolr._keras import IS_KERAS_3, keras  # noqa: E402

EPOCHS = 3
SEED = 0


class StepLR(keras.callbacks.Callback):
    """The LR each step trains with, read before the step."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.lrs = []

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(float(self.schedule(self.model.optimizer.iterations)))


def build(strategy, weights):
    schedule = keras_autolr.AutoLRSchedule(**_common.SCHEDULE)
    with strategy.scope():
        model = _common.make_model(keras, SEED)
        model.set_weights(weights)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model, schedule


def fit(model, schedule, data, total_steps=None, **kwargs):
    autolr = keras_autolr.AutoLR(schedule=schedule, total_steps=total_steps,
                                 verbose=0,
                                 options=keras_autolr.Options(**_common.DETECTOR))
    step_lr = StepLR(schedule)
    model.fit(data, verbose=0, callbacks=[autolr, step_lr], **kwargs)
    decision = autolr.decision
    return dict(
        switch_step=decision.switch_step, peak_lr=decision.peak_lr,
        reason=decision.reason, tests=len(decision.tests),
        total_steps=schedule.total_steps,
        lrs=step_lr.lrs, losses=[float(v) for v in autolr.record.loss],
    )


def main():
    out = sys.argv[1]
    started = time.time()
    weights = _common.make_model(keras, SEED).get_weights()
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    runs = {}

    model, schedule = build(tf.distribute.get_strategy(), weights)
    runs["single"] = fit(model, schedule, _common.dataset(tf), epochs=EPOCHS)

    model, schedule = build(mirrored, weights)
    runs["mirrored"] = fit(model, schedule, _common.dataset(tf), epochs=EPOCHS)

    model, schedule = build(mirrored, weights)
    data = mirrored.experimental_distribute_dataset(
        _common.dataset(tf, repeat=True))
    runs["distributed_steps"] = fit(
        model, schedule, data, epochs=EPOCHS,
        steps_per_epoch=_common.STEPS_PER_EPOCH)

    if IS_KERAS_3:  # Keras 2 needs `steps_per_epoch` for a distributed
        # dataset, and does not iterate a finite one again after epoch 1.
        model, schedule = build(mirrored, weights)
        data = mirrored.experimental_distribute_dataset(_common.dataset(tf))
        runs["distributed_finite"] = fit(model, schedule, data, epochs=EPOCHS)

    runs["resumed"] = resumed(mirrored, weights)

    # The all-reduce behind `agree`, on 2 replicas: only replica 0 counts.
    sent = np.array([1.0, 32.0, 0.1234567890123, 1.0, 0.0456789012345, 1.0])
    received = distributed._broadcaster(mirrored)(tf.constant(sent)).numpy()
    _common.write(out, dict(
        keras_3=IS_KERAS_3, tf=tf.__version__,
        replicas=mirrored.num_replicas_in_sync,
        num_workers=distributed.num_workers(mirrored),
        broadcast=dict(sent=_common.hexes(sent),
                       received=_common.hexes(received)),
        seconds=time.time() - started, runs=runs))


def resumed(strategy, weights):
    """2 epochs, checkpoint, restore into fresh objects, 1 more epoch."""
    total_steps = EPOCHS * _common.STEPS_PER_EPOCH
    model, schedule = build(strategy, weights)
    first = fit(model, schedule, _common.dataset(tf), epochs=2,
                total_steps=total_steps)
    saved_weights = model.get_weights()
    state = schedule._state  # the schedule keeps its decision in 2 variables
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer,
        switch_step=state["switch_step"], peak_lr=state["peak_lr"])
    path = checkpoint.save(os.path.join(tempfile.mkdtemp(), "ckpt"))

    fresh = [w * 0 for w in weights]
    model, schedule = build(strategy, fresh)
    # The schedule needs the same budget; its variables and the optimizer's
    # are built under the strategy before the restore fills them.
    schedule.total_steps = total_steps
    schedule.build(strategy)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    state = schedule._state
    status = tf.train.Checkpoint(
        model=model, optimizer=model.optimizer,
        switch_step=state["switch_step"], peak_lr=state["peak_lr"],
    ).restore(path)
    status.assert_existing_objects_matched()
    restored = dict(
        iterations=int(model.optimizer.iterations.numpy()),
        switch_step=schedule.switch_step, peak_lr=schedule.peak_lr,
        variables_mirrored=all(
            isinstance(v, tf.distribute.DistributedValues)
            for v in state.values()),
        weights_equal=all(
            (a == b).all() for a, b in zip(saved_weights, model.get_weights())),
    )
    last = fit(model, schedule, _common.dataset(tf), epochs=EPOCHS,
               initial_epoch=2)
    return dict(first=first, restored=restored, last=last)


if __name__ == "__main__":
    main()
