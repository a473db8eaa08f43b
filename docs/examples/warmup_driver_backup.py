"""WarmupDriver in a loop that saves checkpoints: started again, it goes on exactly."""
import os

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
BATCH, EPOCHS = 64, 8
STEPS_PER_EPOCH = len(x) // BATCH
STEPS = EPOCHS * STEPS_PER_EPOCH
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def batch(step):
    """The batch of `step`: each epoch a fixed shuffle, so a restart sees the same data."""
    order = np.random.default_rng(step // STEPS_PER_EPOCH).permutation(len(x))
    start = (step % STEPS_PER_EPOCH) * BATCH
    index = order[start:start + BATCH]
    return x[index], y[index]


def train(directory, stop_after=None):
    """Trains from the newest checkpoint in `directory`, if any; with
    `stop_after`, the process is 'preempted' after that many steps."""
    schedule = keras_autolr.AutoLRSchedule(total_steps=STEPS)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(directory, "ckpt"),
                                         max_to_keep=1)
    checkpoint.restore(manager.latest_checkpoint)  # nothing on the first run
    # Created after the restore: from step 0 a new sweep; past it, the state
    # that `backup()` saved with the checkpoint (loss record, rewind copies).
    driver = keras_autolr.WarmupDriver(
        schedule, model=model, optimizer=optimizer, verbose=0,
        backup_dir=os.path.join(directory, "autolr"))

    @tf.function
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(inputs, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for step in range(int(optimizer.iterations), STEPS):
        driver.on_step_end(train_step(*batch(step)))
        if (step + 1) % STEPS_PER_EPOCH == 0:  # a checkpoint each epoch
            manager.save()
            driver.backup()  # AutoLR's state, beside it
        if step + 1 == stop_after:
            return driver, model
    driver.on_train_end()
    return driver, model


train("preempted", stop_after=2 * STEPS_PER_EPOCH)  # preempted during the sweep
resumed, resumed_model = train("preempted")  # started again from the checkpoint
whole, whole_model = train("uninterrupted")
print(f"started again at step {2 * STEPS_PER_EPOCH}: switch step {resumed.switch_step}, "
      f"peak LR {resumed.peak_lr:.4g}; uninterrupted: switch step {whole.switch_step}, "
      f"peak LR {whole.peak_lr:.4g}; same weights: "
      f"{all(np.array_equal(a, b) for a, b in zip(resumed_model.get_weights(), whole_model.get_weights()))}")
