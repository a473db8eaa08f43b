"""WarmupDriver: AutoLR in a training loop you write yourself."""
import keras
import tensorflow as tf
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
BATCH, EPOCHS = 64, 8
dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(2048, seed=0).batch(
    BATCH, drop_remainder=True)
steps = EPOCHS * (len(x) // BATCH)

strategy = tf.distribute.get_strategy()  # or MultiWorkerMirroredStrategy(), ...
schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    optimizer = keras.optimizers.Lamb(learning_rate=schedule)
loss_fn = keras.losses.SparseCategoricalCrossentropy(
    from_logits=True, reduction="none")
# With the model and optimizer, the switch rewinds the overshoot, as in `fit`.
driver = keras_autolr.WarmupDriver(schedule, strategy=strategy, verbose=0,
                                   model=model, optimizer=optimizer)


@tf.function
def train_step(inputs, labels):
    def step_fn(inputs, labels):
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(loss_fn(labels, model(inputs, training=True)),
                                              global_batch_size=BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    per_replica = strategy.run(step_fn, args=(inputs, labels))
    return strategy.reduce("SUM", per_replica, axis=None)


for epoch in range(EPOCHS):
    for inputs, labels in dataset:
        driver.on_step_end(train_step(inputs, labels))  # the global mean loss
driver.on_train_end()  # never end on non-finite weights
print(f"switch step {driver.switch_step}, peak LR {driver.peak_lr:.4g}, "
      f"{int(optimizer.iterations)} steps of {steps}")
