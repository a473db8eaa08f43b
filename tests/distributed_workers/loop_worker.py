"""One worker of a 2-worker custom training loop with `WarmupDriver`.

Usage (one per worker, TF_CONFIG set by the caller):

    TF_CONFIG=... python tests/distributed_workers/loop_worker.py OUT.json \
        --seeds 0,1,2,3 --disagree-seeds 3 [--try-fit]

The way to run AutoLR multi-worker on Keras 3, whose `fit` does not run
under `MultiWorkerMirroredStrategy` (keras-team/keras#20585); it runs on
Keras 2 as well. Writes, per seed, the LR of every step (read before the
step), the losses, the switch step and peak LR as exact hex floats. The
seeds in `--disagree-seeds` give the workers other than the chief other
detector options and a schedule that says warmup already ended, as in
`fit_worker.py`, and so do the seeds in `--poison-seeds` (the decay
guard). The driver gets the model and optimizer (the rewind and the copies
put back), but not for the seeds in `--bare-seeds`: there the loop owns the
weights. For the seeds in `--restart-seeds`, a new driver takes over at
step `--restart-at` (a loop started again during the sweep). The seeds in
`--backup-seeds` run once more (their `seed` written as "N-backup"), started
again at `--restart-at` as well, from the state `backup()` saved there in a
directory both workers share (the chief writes it); for the seeds in
`--bad-backup-seeds` the new driver has other options than the backup, and
the run writes the error each worker raised. With `--try-fit`
(Keras 3), also calls `model.fit` with `AutoLR` at the end and writes how it
failed.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

import tensorflow as tf  # noqa: E402

import keras_autolr  # noqa: E402
from keras_autolr.training import distributed  # noqa: E402
from keras_autolr._keras import IS_KERAS_3, keras  # noqa: E402


def train(strategy, seed, detector, epochs, skewed=False, poisoned=False,
          with_model=True, restart_at=None, backup_dir=None, bad_backup=False):
    steps = epochs * _common.STEPS_PER_EPOCH
    schedule = keras_autolr.AutoLRSchedule(total_steps=steps, **_common.SCHEDULE)
    with strategy.scope():
        model = _common.make_model(keras, seed)
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
    if skewed:  # this worker alone says warmup already ended at step 5
        schedule.build(strategy)
        schedule.switch(5, 0.01)
    def new_driver(detector=detector):
        return keras_autolr.WarmupDriver(
            schedule, strategy=strategy, verbose=0,
            options=keras_autolr.Options(**detector), backup_dir=backup_dir,
            **(dict(model=model, optimizer=optimizer) if with_model else {}))

    driver = new_driver()

    @tf.function
    def train_step(iterator):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=y, logits=logits)
                loss = tf.nn.compute_average_loss(
                    per_example, global_batch_size=_common.GLOBAL_BATCH)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        per_replica = strategy.run(step_fn, args=next(iterator))
        loss = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        if poisoned:  # the loss read 1e4 times too high, as in fit_worker.py
            step = optimizer.iterations - 1  # the step just taken
            hit = tf.logical_and(step >= _common.POISONED[0], step < _common.POISONED[1])
            loss = loss * tf.where(hit, 1e4, 1.0)
        return loss

    iterator = iter(strategy.experimental_distribute_dataset(
        _common.dataset(tf, repeat=True)))
    lrs, losses = [], []
    for index in range(steps):
        if index == restart_at:  # the loop started again: a new driver
            if backup_dir is not None:
                driver.backup()
            if bad_backup:  # other options than the backup's: refused
                try:
                    new_driver(dict(detector, seed=detector["seed"] + 1))
                except ValueError as error:
                    return dict(seed=seed, backup_error=f"{type(error).__name__}: {error}")
            driver = new_driver()
            restart_step = driver.step
        lrs.append(float(schedule(optimizer.iterations)))
        loss = train_step(iterator)
        losses.append(float(loss))
        driver.on_step_end(loss)
    driver.on_train_end()
    decision = driver.decision
    return dict(
        seed=seed,
        switch_step=decision.switch_step,
        peak_lr=None if decision.peak_lr is None else decision.peak_lr.hex(),
        reason=decision.reason,
        tests=len(decision.tests),
        overrides=driver.overridden,
        lrs=_common.hexes(lrs),
        losses=_common.hexes(losses),
        schedule_switch=schedule.switch_step,
        schedule_peak=None if schedule.peak_lr is None else schedule.peak_lr.hex(),
        form="model" if with_model else "bare",
        restored_step=decision.restored_step,
        weights=_common.weights_digest(model),
        faults=[[int(step), str(action)] for step, action in decision.faults],
        decay_peak_lr=None if driver.controller.decay_peak_lr is None
        else float(driver.controller.decay_peak_lr).hex(),
        restart_step=restart_step if restart_at is not None else None,
        steps_seen=driver.step,
    )


def try_fit(strategy):
    """Keras' own `fit` with AutoLR: how does it fail?"""
    with strategy.scope():
        model = _common.make_model(keras, 0)
        model.compile(
            optimizer=keras.optimizers.SGD(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    try:
        model.fit(_common.dataset(tf), epochs=1, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    except Exception as error:  # noqa: BLE001 - reported to the test
        return f"{type(error).__name__}: {str(error)[:2000]}"
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--disagree-seeds", default="")
    parser.add_argument("--poison-seeds", default="")
    parser.add_argument("--bare-seeds", default="")
    parser.add_argument("--restart-seeds", default="")
    parser.add_argument("--restart-at", type=int, default=12)
    parser.add_argument("--backup-seeds", default="")
    parser.add_argument("--bad-backup-seeds", default="")
    parser.add_argument("--try-fit", action="store_true")
    args = parser.parse_args()
    started = time.time()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = _common.task_index()
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        detector = dict(_common.DETECTOR, seed=seed)
        disagree = str(seed) in args.disagree_seeds.split(",") and task != 0
        if disagree:
            detector.update(seed=seed + 1000, confidence=0.5, patience=1)
        poisoned = str(seed) in args.poison_seeds.split(",")
        runs.append(train(strategy, seed, detector, args.epochs, skewed=disagree,
                          poisoned=poisoned,
                          with_model=str(seed) not in args.bare_seeds.split(","),
                          restart_at=(args.restart_at if str(seed)
                                      in args.restart_seeds.split(",") else None)))
    for seed in [int(s) for s in args.backup_seeds.split(",") if s]:
        backup_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                                  f"backup{seed}")
        run = train(strategy, seed, dict(_common.DETECTOR, seed=seed), args.epochs,
                    restart_at=args.restart_at, backup_dir=backup_dir)
        runs.append(dict(run, seed=f"{seed}-backup"))
    for seed in [int(s) for s in args.bad_backup_seeds.split(",") if s]:
        backup_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)),
                                  f"bad_backup{seed}")
        run = train(strategy, seed, dict(_common.DETECTOR, seed=seed), args.epochs,
                    restart_at=args.restart_at, backup_dir=backup_dir, bad_backup=True)
        runs.append(dict(run, seed=f"{seed}-bad-backup"))
    fit_error = try_fit(strategy) if args.try_fit else None
    _common.write(args.out, dict(
        task=task, keras_3=IS_KERAS_3, tf=tf.__version__,
        num_workers=distributed.num_workers(strategy),
        seconds=time.time() - started, runs=runs, fit_error=fit_error))


if __name__ == "__main__":
    main()
