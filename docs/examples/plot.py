"""Plots: the decision after fit, and a replayed decision."""
import os
import tempfile

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
out = tempfile.mkdtemp()

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Lamb(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
autolr = keras_autolr.AutoLR(verbose=0)
model.fit(x, y, batch_size=64, epochs=8, callbacks=[autolr], verbose=0)

# After fit: loss against LR with the GP of the deciding test, and the schedule.
autolr.plot().savefig(os.path.join(out, "decision.png"))

# The same picture for a decision taken offline on the recorded losses.
losses = np.asarray(autolr.record.loss)
decision = keras_autolr.replay(losses, total_steps=autolr.decision.total_steps,
                               steps_per_epoch=29)
figure = keras_autolr.plot_decision(losses, decision)
figure.savefig(os.path.join(out, "replayed.png"))
print("wrote", sorted(os.listdir(out)), "in", out)
