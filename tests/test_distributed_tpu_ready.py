"""TPU readiness, shown without a TPU (issue 3).

On a TPU the train step is compiled by XLA, runs `steps_per_execution` steps
per host call, and cannot call back into Python. So: the traced train
function holds no host callback (`PyFunc` and kin), the LR of every step
inside one XLA-compiled execution of 32 steps follows the schedule's
formula, and the detector runs on the host CPU in float64 whatever device
scope training runs under.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

import keras_autolr
from keras_autolr import Options
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr._keras import IS_KERAS_3, keras

HOST_CALLBACK_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
TOTAL_STEPS = 64
STEPS_PER_EXECUTION = 32
BATCH = 16
MIN_LR, MAX_LR = 1e-3, 10.0


class _Log:
    """Holds the LR log outside the model, so Keras does not track it."""

    def __init__(self, size):
        self.lr = tf.Variable(tf.fill([size], -1.0), trainable=False)


def _lr_logging_model(log):
    """An MLP whose train step writes the LR it trained with into `log`."""

    class LRLoggingModel(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = keras.layers.Dense(32, activation="relu")
            self.out = keras.layers.Dense(10)

        def call(self, x):
            return self.out(self.hidden(x))

        def train_step(self, data):
            optimizer = self.optimizer
            step = tf.cast(tf.convert_to_tensor(optimizer.iterations), tf.int32)
            if IS_KERAS_3:  # the LR this step will apply
                lr = tf.convert_to_tensor(optimizer.learning_rate)
            outputs = super().train_step(data)
            if not IS_KERAS_3:  # Keras 2: the LR `apply_gradients` just used
                lr = tf.convert_to_tensor(optimizer.learning_rate)
            log.lr.scatter_nd_update([[step]], [tf.cast(lr, tf.float32)])
            return outputs

    return LRLoggingModel()


def _digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    n = TOTAL_STEPS * BATCH
    return ((data.data[:n] / 16.0).astype("float32"),
            data.target[:n].astype("int32"))


@pytest.fixture(scope="module")
def xla_run():
    """One `fit` of 64 steps: 2 XLA executions of 32 steps each."""
    keras.utils.set_random_seed(0)
    x, y = _digits()
    log = _Log(TOTAL_STEPS)
    model = _lr_logging_model(log)
    model(x[:1])  # builds the weights
    schedule = keras_autolr.AutoLRSchedule(
        total_steps=TOTAL_STEPS, min_lr=MIN_LR, max_lr=MAX_LR)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=STEPS_PER_EXECUTION, jit_compile=True)
    autolr = keras_autolr.AutoLR(schedule=schedule,
                                 options=Options(fit_points=50, predict_points=100, grid_points=100),
                                 verbose=0)
    host_calls = []
    counter = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: host_calls.append(batch))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    model.fit(dataset, epochs=1, verbose=0, callbacks=[autolr, counter])
    return dict(model=model, schedule=schedule, autolr=autolr,
                lr=log.lr.numpy().astype(np.float64), dataset=dataset,
                host_calls=len(host_calls))


def _train_tf_function(model):
    """The `tf.function` behind `model.train_function` (Keras 2 or 3)."""
    function = model.train_function
    if hasattr(function, "get_concrete_function"):  # Keras 2
        return function
    # Keras 3 wraps `multi_step_on_iterator` in a plain Python function.
    candidates = [cell.cell_contents for cell in function.__closure__ or ()
                  if hasattr(cell.cell_contents, "get_concrete_function")]
    for candidate in candidates:
        name = getattr(getattr(candidate, "python_function", None), "__name__", "")
        if name == "multi_step_on_iterator":
            return candidate
    assert candidates, "no tf.function found behind model.train_function"
    return candidates[0]


def _op_types_and_names(graph):
    """Every op of `graph` and of every function in its library."""
    graph_def = graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return {n.op for n in nodes}, [n.name for n in nodes]


def test_train_function_holds_no_host_callbacks(xla_run):
    model = xla_run["model"]
    strategy = tf.distribute.get_strategy()
    iterator = iter(strategy.experimental_distribute_dataset(xla_run["dataset"]))
    concrete = _train_tf_function(model).get_concrete_function(iterator)
    op_types, names = _op_types_and_names(concrete.graph)
    assert not op_types & HOST_CALLBACK_OPS
    # The schedule itself is in the graph (not computed on the host).
    assert any("AutoLRSchedule" in name for name in names)
    assert "Cos" in op_types and "Exp" in op_types


def _formula(steps, switch_step, peak_lr):
    """docs/algorithm.md, the paper's rule 2 and 6: exponential warmup, cosine decay."""
    warmup_steps = TOTAL_STEPS // 2
    steps = np.asarray(steps, np.float64)
    warm = MIN_LR * (MAX_LR / MIN_LR) ** (steps / warmup_steps)
    f = (steps - switch_step) / (TOTAL_STEPS - switch_step)
    decayed = peak_lr / 2.0 * (1.0 + np.cos(math.pi * f))
    return np.where(steps < switch_step, warm, decayed)


def test_switch_lands_on_an_execution_boundary(xla_run):
    # The host acts twice, once per execution of 32 steps; the cap
    # W = 32 is reached at the end of the first execution.
    assert xla_run["host_calls"] == TOTAL_STEPS // STEPS_PER_EXECUTION
    autolr = xla_run["autolr"]
    assert autolr.decision.reason == "cap"
    assert autolr.switch_step == STEPS_PER_EXECUTION
    assert 0 < autolr.peak_lr <= MAX_LR


def test_each_step_inside_an_xla_execution_follows_the_schedule(xla_run):
    autolr = xla_run["autolr"]
    logged = xla_run["lr"]
    assert np.all(logged > 0), "every step logged its LR"
    peak32 = float(np.float32(autolr.peak_lr))  # the schedule keeps float32
    expected = _formula(np.arange(TOTAL_STEPS), autolr.switch_step, peak32)
    # float32 in-graph math (XLA's exp and cos) against float64: 1e-5.
    np.testing.assert_allclose(logged, expected, rtol=1e-5, atol=1e-9)
    # And warmup grows every step inside the first execution.
    assert np.all(np.diff(logged[:STEPS_PER_EXECUTION]) > 0)


def test_detector_runs_on_the_host_cpu_in_float64():
    # Under a GPU device scope (soft placement: a machine without a GPU
    # places it anyway), the GP's factorizations still run on the host CPU.
    detector = WarmupDetector(fit_points=37, predict_points=41,
                                           grid_points=43, seed=0)
    steps = np.arange(200)
    losses = 1.0 + ((steps - 120) / 60.0) ** 2
    lr_at = lambda s: 1e-3 * 1.05 ** np.asarray(s)  # noqa: E731
    with tf.device("/GPU:0"):
        result = detector.test(steps, losses, 200, lr_at)
    assert result is not None and not result.inconclusive
    smoother = detector.smoother
    assert smoother.device.endswith("CPU:0")
    assert detector.params.dtype == np.float64
    assert detector.last_posterior_mean.dtype == np.float64
