"""`AdamP` under `tf.distribute.MirroredStrategy` on 2 logical CPUs (issue 7).

Logical devices must be configured before TensorFlow initializes its
devices, so this module configures them when it is imported. When an
earlier test of the same session has already initialized TensorFlow, the
test runs itself again in a fresh interpreter instead.

The same float64 model (a convolution followed by layer normalisation, so
that its kernel is scale-invariant, then a dense layer), from the same
weights, on the same global batches, with `AdamP` driven by
`AutoLRSchedule` and the `AutoLR` callback, trained on one device and
mirrored on /cpu:0 and /cpu:1, ends with the same
weights, optimizer slots and AutoLR decision as the one-device run under
`jit_compile=True` (XLA cannot compile a step whose variables live on two
devices, with Keras' own Adam as well, so the mirrored run is a graph).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

try:
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0],
        [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # TensorFlow already initialized by an earlier test
    pass

import keras_autolr  # noqa: E402
from keras_autolr._keras import IS_KERAS_3  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
from keras_autolr.optimizers import AdamP  # noqa: E402

_IN_SUBPROCESS = "KERAS_AUTOLR_ADAMP_MIRRORED_SUBPROCESS"
EPOCHS = 4
GLOBAL_BATCH = 16  # 6 steps per epoch, 24 in all
# float64 weights, but AutoLRSchedule's LR is float32, computed by XLA on one
# side and by TF kernels on the other: a few float32 ulps of the LR per step.
RTOL, ATOL = 1e-5, 1e-7


def _two_cpus():
    return len(tf.config.list_logical_devices("CPU")) >= 2


def _rerun_in_subprocess(test_name):
    env = dict(os.environ, **{_IN_SUBPROCESS: "1"})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"{os.path.abspath(__file__)}::{test_name}"],
        env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


def _model():
    return keras.Sequential([
        keras.Input((6, 6, 2), dtype="float64"),
        keras.layers.Conv2D(4, 3, use_bias=False, dtype="float64"),
        keras.layers.LayerNormalization(dtype="float64"),
        keras.layers.ReLU(dtype="float64"),
        keras.layers.GlobalAveragePooling2D(dtype="float64"),
        keras.layers.Dense(3, dtype="float64"),
    ])


def _train(strategy, weights, x, y, jit_compile):
    with strategy.scope():
        model = _model()
        model.set_weights(weights)
        schedule = keras_autolr.AutoLRSchedule(min_lr=1e-3, max_lr=0.3)
        model.compile(
            optimizer=AdamP(learning_rate=schedule, weight_decay=0.05,
                            nesterov=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            jit_compile=jit_compile)
    autolr = keras_autolr.AutoLR(schedule=schedule, verbose=0)
    history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=EPOCHS,
                        shuffle=False, verbose=0, callbacks=[autolr])
    return model, history.history["loss"], autolr


def test_mirrored_fit_matches_one_device():
    if not _two_cpus():
        if os.environ.get(_IN_SUBPROCESS):
            pytest.fail("could not configure 2 logical CPU devices")
        _rerun_in_subprocess("test_mirrored_fit_matches_one_device")
        return
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 6, 2))
    y = rng.integers(0, 3, size=96).astype("int32")
    keras.utils.set_random_seed(0)
    weights = _model().get_weights()

    single, single_losses, single_autolr = _train(
        tf.distribute.get_strategy(), weights, x, y, jit_compile=True)
    mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored_strategy.num_replicas_in_sync == 2
    # XLA does not compile a step whose variables live on two devices
    # (Keras' own Adam fails the same way): the mirrored run is a graph.
    mirrored, mirrored_losses, mirrored_autolr = _train(
        mirrored_strategy, weights, x, y, jit_compile=False)

    assert int(mirrored.optimizer.iterations.numpy()) == 24
    np.testing.assert_allclose(mirrored_losses, single_losses, rtol=RTOL)
    assert mirrored_autolr.switch_step == single_autolr.switch_step
    for a, b in zip(mirrored.weights, single.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL,
                                   atol=ATOL, err_msg=a.name)
    assert not np.allclose(mirrored.get_weights()[0], weights[0])
    # Slots (moments) are mirrored: the same on both replicas, and equal
    # to the single-device ones.
    slots = [v for v in mirrored.optimizer.variables if v.dtype == "float64"]
    references = [v for v in single.optimizer.variables if v.dtype == "float64"]
    assert len(slots) == len(references) == 2 * len(mirrored.trainable_weights)
    for slot, reference in zip(slots, references):
        values = (slot.value if IS_KERAS_3 else slot).values  # Keras 3 wraps it
        assert len(values) == 2
        for value in values:
            np.testing.assert_allclose(np.asarray(value), np.asarray(reference),
                                       rtol=RTOL, atol=ATOL)
