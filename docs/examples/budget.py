"""The budget: total_steps with EarlyStopping, and training in chunks."""
import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
x_train, y_train, x_val, y_val = x[:1400], y[:1400], x[1400:], y[1400:]
steps_per_epoch = 22  # 1,400 samples, batch 64


def make_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(optimizer=keras.optimizers.Lamb(),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


# 1. EarlyStopping may end fit before the budget (here 20 epochs from fit):
#    the LR is then on its way down, not yet 0. To have the decay end where
#    you expect training to stop, give that many steps: AutoLR(total_steps=...).
model = make_model()
autolr = keras_autolr.AutoLR(verbose=0)
stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                     restore_best_weights=True)
history = model.fit(x_train, y_train, batch_size=64, epochs=20,
                    validation_data=(x_val, y_val),
                    callbacks=[autolr, stop], verbose=0)
print(f"budget {autolr.decision.total_steps} steps, stopped after "
      f"{len(history.epoch) * steps_per_epoch}, switch at {autolr.switch_step}, "
      f"LR at the stop {autolr.record.learning_rate[-1]:.2g}")

# 2. Chunks: give the budget of all chunks, and the same AutoLR to each fit.
model = make_model()
autolr = keras_autolr.AutoLR(total_steps=6 * steps_per_epoch, verbose=0)
model.fit(x_train, y_train, batch_size=64, epochs=3, callbacks=[autolr], verbose=0)
model.fit(x_train, y_train, batch_size=64, epochs=6, initial_epoch=3,
          callbacks=[autolr], verbose=0)
print(f"two chunks, one schedule: switch at {autolr.switch_step}, "
      f"last LR {autolr.record.learning_rate[-1]:.2g}")

# 3. BatchNormalization on a short budget: its moving statistics (momentum
#    0.99, about 100 steps) lag the weights at the end of fit, and evaluate
#    uses them. AutoLR sees no data; set them from the training data after fit.


def batch_norms(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        yield layer
    for inner in getattr(layer, "layers", []):
        yield from batch_norms(inner)


def refresh_batch_norm(model, x):
    """Sets each BatchNormalization's moving statistics to those of `x`."""
    norms = list(batch_norms(model))
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.momentum = 0.0
    model(x, training=True)  # one pass, a few thousand examples at most
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(64, activation="relu"),
    keras.layers.BatchNormalization(),
    keras.layers.Dense(10),
])
model.compile(optimizer=keras.optimizers.RMSprop(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=64, epochs=6,
          callbacks=[keras_autolr.AutoLR(verbose=0)], verbose=0)
before = model.evaluate(x_val, y_val, verbose=0)[1]
refresh_batch_norm(model, x_train)
after = model.evaluate(x_val, y_val, verbose=0)[1]
print(f"BatchNormalization, 132 steps: accuracy {before:.3f} as trained, "
      f"{after:.3f} with its statistics refreshed")
