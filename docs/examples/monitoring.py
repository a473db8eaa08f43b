"""Logs: the LR in History and CSVLogger, AutoLR's scalars in TensorBoard, progress lines."""
import csv
import os
import tempfile

import keras
from sklearn.datasets import load_digits

import keras_autolr

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
logs = tempfile.mkdtemp()

keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.Lamb(),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
csv_path = os.path.join(logs, "log.csv")
history = model.fit(
    x, y, batch_size=64, epochs=6, verbose=0,
    callbacks=[
        keras_autolr.AutoLR(verbose=1),   # 1: a line when the LR is replaced and at the switch
        keras.callbacks.CSVLogger(csv_path),
        # AutoLR writes autolr/* scalars into this callback's "train" run
        # (needs the tensorboard package).
        keras.callbacks.TensorBoard(os.path.join(logs, "tb")),
    ])

print("LR at each epoch end (History):", [f"{lr:.3g}" for lr in history.history["learning_rate"]])
with open(csv_path) as f:
    print("CSVLogger columns:", next(csv.reader(f)))
print("TensorBoard files:", sorted(os.listdir(os.path.join(logs, "tb"))))
