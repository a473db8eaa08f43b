"""AutoLR with MultiWorkerMirroredStrategy: 2 worker processes, one decision.

Run the two workers of a local cluster (ports 12345 and 12346), each in
its own shell, or both from one line:

    # Keras 2 `model.fit` with the AutoLR callback (tf-keras on TF >= 2.16):
    TF_USE_LEGACY_KERAS=1 python examples/multi_worker.py --worker 0 & TF_USE_LEGACY_KERAS=1 python examples/multi_worker.py --worker 1; wait

    # A custom training loop with WarmupDriver (Keras 3, or Keras 2):
    python examples/multi_worker.py --worker 0 --loop & python examples/multi_worker.py --worker 1 --loop; wait

On a real cluster, set `TF_CONFIG` on each host instead of `--worker`.
Keras 3's `model.fit` does not run under MultiWorkerMirroredStrategy
(keras-team/keras#20585): on Keras 3 use `--loop` (the default there).

Every worker trains on its shard of each global batch, reads the same
global mean loss, and tests at the same steps; after each test every worker
takes the chief's decision (`keras_autolr.training.distributed.agree`), so both print
the same switch step and peak LR and train with the same LR at every step.
Data: scikit-learn's 8x8 digits (no download).
"""

import argparse
import json
import os


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, default=None,
                        help="index of this worker in the local cluster")
    parser.add_argument("--ports", default="12345,12346",
                        help="ports of the local workers on 127.0.0.1")
    parser.add_argument("--loop", action="store_true",
                        help="a custom training loop with WarmupDriver")
    parser.add_argument("--epochs", type=int, default=10)
    return parser.parse_args()


ARGS = parse_args()
if ARGS.worker is not None:  # must be set before TensorFlow starts
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ARGS.ports.split(",")]},
        "task": {"type": "worker", "index": ARGS.worker},
    })

import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import keras_autolr  # noqa: E402
from keras_autolr._keras import IS_KERAS_3  # noqa: E402

keras = tf.keras
PER_WORKER_BATCH = 32


def digits(global_batch, repeat=False):
    data = load_digits()
    x = (data.data / 16.0).astype("float32")
    y = data.target.astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(global_batch, drop_remainder=True)
    options = tf.data.Options()  # each worker takes its part of each batch
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return dataset.with_options(options), len(x) // global_batch


def make_model():
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])


def train_with_fit(strategy, global_batch):
    """Keras 2 `fit` with the AutoLR callback."""
    dataset, _ = digits(global_batch)
    with strategy.scope():
        model = make_model()
        model.compile(
            optimizer=keras.optimizers.SGD(momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    autolr = keras_autolr.AutoLR(schedule=keras_autolr.AutoLRSchedule(min_lr=1e-4, max_lr=10.0))
    model.fit(dataset, epochs=ARGS.epochs, callbacks=[autolr], verbose=2)
    return autolr.switch_step, autolr.peak_lr


def train_with_loop(strategy, global_batch):
    """A custom loop: `strategy.run`, the global loss, `WarmupDriver`."""
    dataset, steps_per_epoch = digits(global_batch, repeat=True)
    total_steps = steps_per_epoch * ARGS.epochs
    schedule = keras_autolr.AutoLRSchedule(total_steps=total_steps,
                                           min_lr=1e-4, max_lr=10.0)
    with strategy.scope():
        model = make_model()
        optimizer = keras.optimizers.SGD(learning_rate=schedule, momentum=0.9)
    # With the model and optimizer: the rewind and the copies, as in `fit`.
    driver = keras_autolr.WarmupDriver(schedule, strategy=strategy,
                                       model=model, optimizer=optimizer)

    @tf.function
    def train_step(iterator):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                logits = model(x, training=True)
                per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    labels=y, logits=logits)
                loss = tf.nn.compute_average_loss(
                    per_example, global_batch_size=global_batch)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        per_replica = strategy.run(step_fn, args=next(iterator))
        # The global mean loss, the same on every worker.
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    for step in range(total_steps):
        loss = train_step(iterator)
        driver.on_step_end(loss)
        if (step + 1) % steps_per_epoch == 0:
            print(f"epoch {(step + 1) // steps_per_epoch}: loss {float(loss):.4f}, "
                  f"next LR {driver.learning_rate():.4g}")
    driver.on_train_end()  # never end on non-finite weights
    return driver.switch_step, driver.peak_lr


def main():
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    global_batch = PER_WORKER_BATCH * strategy.num_replicas_in_sync
    use_loop = ARGS.loop or IS_KERAS_3
    train = train_with_loop if use_loop else train_with_fit
    switch_step, peak_lr = train(strategy, global_batch)
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    print(f"worker {task.get('index', 0)}: warmup ended at step {switch_step}, "
          f"peak LR {peak_lr!r} ({'custom loop' if use_loop else 'fit'})")


if __name__ == "__main__":
    main()
