"""AutoLR on a Cloud TPU, the way a Colab or TPU-VM notebook writes it.

    python examples/tpu.py

Connects to the TPU (Colab, a TPU VM, or `TPU_NAME`), builds the model
under `TPUStrategy`, and trains with `steps_per_execution=32`: the TPU runs
32 steps per host call, with the learning rate of each step computed
in-graph by the `AutoLRSchedule`; the `AutoLR` callback reads the losses of
each execution, tests on the host CPU (float64), and sets the switch step
and peak LR between executions. Where no TPU is found (this machine, a
laptop) it says so and runs the same code under the default strategy.

Data: scikit-learn's 8x8 digits (no download).
"""

import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_autolr

keras = tf.keras

STEPS_PER_EXECUTION = 32
PER_REPLICA_BATCH = 32
EPOCHS = 30


def tpu_strategy():
    """`TPUStrategy` on the TPU this host sees, else the default strategy."""
    for tpu in (None, "local"):  # Colab / TPU_NAME, then a TPU VM
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
            return tf.distribute.TPUStrategy(resolver)
        except (ValueError, tf.errors.NotFoundError, tf.errors.UnavailableError):
            continue
    print("No TPU found: training under the default strategy.")
    return tf.distribute.get_strategy()


def datasets(global_batch):
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=0)
    # TPUs need static shapes: every batch full.
    train = (tf.data.Dataset.from_tensor_slices((x_train, y_train))
             .shuffle(len(x_train), seed=0)
             .batch(global_batch, drop_remainder=True)
             .prefetch(tf.data.AUTOTUNE))
    test = (tf.data.Dataset.from_tensor_slices((x_test, y_test))
            .batch(global_batch, drop_remainder=True))
    return train, test


def main():
    strategy = tpu_strategy()
    global_batch = PER_REPLICA_BATCH * strategy.num_replicas_in_sync
    train, test = datasets(global_batch)
    with strategy.scope():
        model = keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ])
        # AutoLR replaces the optimizer's learning rate with its schedule.
        model.compile(
            optimizer=keras.optimizers.SGD(momentum=0.9),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            steps_per_execution=STEPS_PER_EXECUTION,
        )
    autolr = keras_autolr.AutoLR(schedule=keras_autolr.AutoLRSchedule(min_lr=1e-4, max_lr=10.0))
    model.fit(train, epochs=EPOCHS, callbacks=[autolr], verbose=2)
    _, accuracy = model.evaluate(test, verbose=0)
    print(f"strategy: {type(strategy).__name__}, "
          f"{strategy.num_replicas_in_sync} replica(s)")
    print(f"warmup ended at step {autolr.switch_step} "
          f"({autolr.decision.reason}), peak LR {autolr.peak_lr:.4g}; "
          f"test accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
