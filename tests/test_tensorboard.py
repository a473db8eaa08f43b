"""AutoLR's TensorBoard scalars, read back from the event files."""

import glob
import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_autolr import AutoLR
from keras_autolr import _keras
from keras_autolr.training import summaries
from keras_autolr._keras import keras
from keras_autolr import Options
from keras_autolr.decision import controller as controller_lib
from tests import _training
from tests import test_decay_guard

BATCH = 100
EPOCHS = 6  # 14 steps per epoch: 84 steps, warmup cap 42
CHECK_EVERY = 6


def _fit(callbacks, epochs=EPOCHS):
    return _training.fit_small_digits(callbacks, epochs, batch_size=BATCH)


def _scalars(run_dir):
    """{tag: (steps, values)} of the `autolr/` scalars in the event files of `run_dir`."""
    found = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if not value.tag.startswith("autolr/"):
                    continue  # the TensorBoard callback's own summaries
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                found.setdefault(value.tag, []).append((event.step, number))
    return {tag: tuple(np.array(column) for column in zip(*sorted(rows)))
            for tag, rows in found.items()}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One run with `log_dir=`: the callback and its scalars."""
    log_dir = tmp_path_factory.mktemp("logs")
    autolr = AutoLR(options=Options(check_every=CHECK_EVERY), log_dir=str(log_dir),
                    verbose=0)
    _fit([autolr])
    return autolr, _scalars(os.path.join(log_dir, "train"))


def test_every_step_has_its_learning_rate(logged):
    autolr, scalars = logged
    steps, values = scalars[summaries.LEARNING_RATE]
    record = autolr.record
    np.testing.assert_array_equal(steps, record.step)
    np.testing.assert_allclose(values, record.learning_rate, rtol=1e-6)


def test_each_test_has_its_probability_and_smoothed_loss(logged):
    autolr, scalars = logged
    tests = [t for t in autolr.decision.tests if not t.inconclusive]
    assert tests
    steps, values = scalars[summaries.P_MINIMUM_PASSED]
    np.testing.assert_array_equal(steps, [t.step for t in tests])
    np.testing.assert_allclose(values, [t.probability for t in tests], rtol=1e-6)
    steps, values = scalars[summaries.SMOOTHED_LOSS]
    np.testing.assert_array_equal(steps, [t.step for t in tests])
    losses = autolr.record.loss
    assert np.all(values > 0.5 * np.nanmin(losses))
    assert np.all(values < 1.5 * np.nanmax(losses))


def test_the_switch_is_written_once(logged):
    autolr, scalars = logged
    steps, values = scalars[summaries.SWITCH_STEP]
    assert list(steps) == [autolr.switch_step]
    assert list(values) == [autolr.switch_step]
    steps, values = scalars[summaries.PEAK_LR]
    assert list(steps) == [autolr.switch_step]
    assert values[0] == pytest.approx(autolr.peak_lr, rel=1e-6)
    restored = autolr.decision.restored_step
    assert restored is not None  # this run's rewind
    steps, values = scalars[summaries.RESTORED_STEP]
    assert (list(steps), list(values)) == ([autolr.switch_step], [restored])


def test_a_blowup_in_the_decay_writes_the_copy_put_back_and_the_lower_peak(tmp_path):
    _training.skip_if_the_loss_reads_the_optimizer()
    autolr, _, _ = test_decay_guard._fit_poisoned(230, length=3, log_dir=str(tmp_path))
    ((at, action),) = autolr.decision.faults
    scalars = _scalars(os.path.join(tmp_path, "train"))
    switch = autolr.switch_step
    steps, values = scalars[summaries.RESTORED_STEP]
    assert list(steps) == [switch, at]
    assert list(values) == [autolr.decision.restored_step,
                            controller_lib.restored_copy(action)]
    steps, values = scalars[summaries.PEAK_LR]
    assert list(steps) == [switch, at]
    np.testing.assert_allclose(
        values, [autolr.peak_lr, autolr.controller.decay_peak_lr], rtol=1e-6)


@pytest.mark.parametrize("update_freq", ["epoch", 5])
def test_a_tensorboard_callback_in_the_same_fit_is_found(tmp_path, update_freq):
    """No argument: the scalars go into the TensorBoard callback's `train` run,
    every step, whatever its `update_freq`."""
    pytest.importorskip("tensorboard")  # the TensorBoard callback needs it
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(tmp_path),
                                              update_freq=update_freq)
    autolr = AutoLR(options=Options(check_every=CHECK_EVERY), verbose=0)
    _fit([tensorboard, autolr], epochs=2)
    scalars = _scalars(os.path.join(tmp_path, "train"))
    steps, _ = scalars[summaries.LEARNING_RATE]
    np.testing.assert_array_equal(steps, np.arange(2 * 14))
    assert summaries.P_MINIMUM_PASSED in scalars


def test_the_tensorboard_callback_is_found_in_a_real_fit_without_tensorboard(tmp_path):
    """The lookup itself needs no tensorboard package: a TensorBoard callback
    that writes nothing of its own still receives AutoLR's scalars."""

    class Quiet(keras.callbacks.TensorBoard):
        def on_train_batch_end(self, batch, logs=None):  # its own scalars
            pass  # need the tensorboard package

        def on_epoch_end(self, epoch, logs=None):
            pass

    autolr = AutoLR(options=Options(check_every=CHECK_EVERY), verbose=0)
    _fit([autolr, Quiet(log_dir=str(tmp_path), write_graph=False)], epochs=1)
    steps, _ = _scalars(os.path.join(tmp_path, "train"))[summaries.LEARNING_RATE]
    np.testing.assert_array_equal(steps, np.arange(14))


def test_a_summary_writer_given_as_log_dir_is_used_as_given(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    autolr = AutoLR(options=Options(check_every=CHECK_EVERY), log_dir=writer, verbose=0)
    _fit([autolr], epochs=1)
    writer.flush()
    steps, _ = _scalars(str(tmp_path))[summaries.LEARNING_RATE]
    np.testing.assert_array_equal(steps, np.arange(14))


def test_the_sibling_tensorboard_is_found_in_the_calling_callback_list(tmp_path):
    """What `on_train_begin` sees: the CallbackList that holds the callback."""
    class Unstarted(keras.callbacks.TensorBoard):
        def on_train_begin(self, logs=None):  # needs a model; not under test
            pass

    tensorboard = Unstarted(log_dir=str(tmp_path))
    found = {}

    class Probe(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            found["tensorboard"] = summaries.find_tensorboard(
                _keras.fit_callbacks(self))

    probe = Probe()
    keras.callbacks.CallbackList([probe, tensorboard]).on_train_begin()
    assert found["tensorboard"] is tensorboard
    keras.callbacks.CallbackList([probe]).on_train_begin()
    assert found["tensorboard"] is None


def test_without_a_destination_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    autolr = AutoLR(options=Options(check_every=CHECK_EVERY), verbose=0)
    _fit([autolr], epochs=1)
    assert os.listdir(tmp_path) == []


def test_log_dir_is_a_path_or_a_writer(tmp_path):
    with pytest.raises(TypeError, match="`log_dir` must be a path, a "
                       r"`tf.summary.SummaryWriter`.*Received log_dir=3"):
        AutoLR(log_dir=3)
    assert AutoLR(log_dir=tmp_path).log_dir == tmp_path


def test_without_the_tensorboard_package_a_tensorboard_callback_fails_before_training(
        tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # not installed
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    weights = [w.copy() for w in model.get_weights()]
    with pytest.raises(ImportError, match=r"pip install tensorboard"):
        model.fit(x[:64], y[:64], batch_size=32, epochs=1, verbose=0,
                  callbacks=[AutoLR(verbose=0),
                             keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    assert int(model.optimizer.iterations.numpy()) == 0
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-3)
