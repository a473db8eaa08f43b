"""TensorBoard scalars of AutoLR's decision, written during `fit`.

Tags, each against the optimizer step:

- `autolr/learning_rate`: the LR of every step (warmup, then decay).
- `autolr/smoothed_loss`: at each test, the GP posterior mean of the loss at
  the newest step.
- `autolr/p_minimum_passed`: at each test, the median probability over the
  posteriors that the loss minimum lies in the past.
- `autolr/switch_step` and `autolr/peak_lr`: once, at the switch; after a
  blow-up in the decay, `autolr/peak_lr` again: the lowered peak, at that step.
- `autolr/restored_step`: the step of each copy of the weights put back, at
  the step it was put back: the rewind's (at the switch), and after a
  non-finite loss or a blow-up in the decay.

How: through `tf.summary` on TensorFlow; on JAX and PyTorch, where
TensorFlow is not needed, through the `tensorboard` package's own writer
(`tensorboard.summary.Writer`, NumPy only): `pip install tensorboard`, else
a clear error before training.

Where the scalars go: `log_dir=` (a `tf.summary` writer, or a path: like
`keras.callbacks.TensorBoard`, the run `log_dir/train`),
else the `train` run of a `keras.callbacks.TensorBoard` among the callbacks
of the same `fit` (`keras_autolr._keras.fit_callbacks`, from
`on_train_begin`). Best effort by design: when the list is not found (a
custom training loop), no scalars are written and nothing fails. AutoLR
writes through its own writer into the TensorBoard callback's `train` run
(two event files in one run, which TensorBoard merges), so it depends
neither on that callback's private writer nor on its `update_freq`.
"""

import os

import numpy as np

from keras_autolr import _keras
from keras_autolr.decision.controller import lowered_peak
from keras_autolr.decision.controller import restored_copy
from keras_autolr.training import siblings
from keras_autolr._keras import keras
from keras_autolr._keras import tf

LEARNING_RATE = "autolr/learning_rate"
SMOOTHED_LOSS = "autolr/smoothed_loss"
P_MINIMUM_PASSED = "autolr/p_minimum_passed"
SWITCH_STEP = "autolr/switch_step"
PEAK_LR = "autolr/peak_lr"
RESTORED_STEP = "autolr/restored_step"


def check_destination(log_dir):
    """`AutoLR`'s `log_dir`, validated: a path, a `tf.summary.SummaryWriter` or None.

    Without TensorFlow (JAX, PyTorch), a path needs the `tensorboard`
    package: an `ImportError` naming the `pip install` otherwise.
    """
    if log_dir is None or _is_tf_writer(log_dir):
        return log_dir
    if not isinstance(log_dir, (str, os.PathLike)):
        raise TypeError(
            "`log_dir` must be a path, a `tf.summary.SummaryWriter` (from "
            "`tf.summary.create_file_writer`) or None. Received "
            f"log_dir={log_dir!r}")
    if tf is None:
        _tensorboard_writer_class(f"log_dir={os.fspath(log_dir)!r}")
    return log_dir


def _is_tf_writer(log_dir):
    return tf is not None and isinstance(log_dir, tf.summary.SummaryWriter)


def _tensorboard_writer_class(what):
    """`tensorboard.summary.Writer`; an ImportError naming the install otherwise."""
    try:
        from tensorboard.summary import Writer
    except ImportError as error:
        raise ImportError(
            f"AutoLR's TensorBoard scalars (for {what}) need TensorFlow's "
            "`tf.summary` or the tensorboard package, and neither is installed "
            f"on the {_keras.BACKEND} backend ({error}): pip install tensorboard "
            "(or pip install keras_autolr[tensorboard])") from error
    return Writer


def open_for(callback, fit_callbacks):
    """The `DecisionSummaries` of `callback` for this `fit`, or None.

    `callback.log_dir` (a writer, used as it is, or a path), then a
    TensorBoard callback among `fit_callbacks` (the callbacks of the same
    `fit`, or None when unknown). Call from `on_train_begin`.
    """
    log_dir = callback.log_dir
    if _is_tf_writer(log_dir):
        return DecisionSummaries(log_dir, owned=False)
    if log_dir is None:
        tensorboard = find_tensorboard(fit_callbacks)
        if tensorboard is None:
            return None
        log_dir = _keras.tensorboard_log_dir(tensorboard)
    run = os.path.join(os.fspath(log_dir), "train")
    if tf is not None:
        writer = tf.summary.create_file_writer(run)
    else:
        writer = _tensorboard_writer_class(f"log_dir={run!r}")(run)
    return DecisionSummaries(writer, owned=True)


def find_tensorboard(fit_callbacks):
    """The first `keras.callbacks.TensorBoard` among `fit_callbacks`, or None."""
    return siblings.first(fit_callbacks, keras.callbacks.TensorBoard)


class DecisionSummaries:
    """Writes AutoLR's scalars to one writer (`tf.summary`, else `tensorboard`'s).

    Writing is unconditional (`tf.summary.record_if(True)`): a TensorBoard
    callback with an integer `update_freq` installs its own recording
    condition for the whole of `fit`, which would otherwise drop most steps.

    Args:
        writer: `tf.summary.SummaryWriter`, or `tensorboard.summary.Writer`
            (without TensorFlow).
        owned: bool. True when created by AutoLR: closed at the end of `fit`.
            A writer the user gave is only flushed.
    """

    def __init__(self, writer, owned=False):
        self.writer = writer
        self.owned = owned

    def learning_rates(self, schedule, start, stop):
        """`autolr/learning_rate` of steps `start .. stop - 1` under `schedule`."""
        if stop <= start:
            return
        steps = np.arange(start, stop, dtype=np.int64)
        values = np.asarray(_keras.to_numpy(schedule(steps)), np.float64).reshape(-1)
        self._scalars(LEARNING_RATE, steps, values)

    def test(self, result, detector):
        """`autolr/p_minimum_passed` and `autolr/smoothed_loss` of one test."""
        if result.inconclusive:
            return
        self._scalars(P_MINIMUM_PASSED, [result.step], [result.probability])
        smoothed = detector.last_posterior_mean
        if smoothed is not None:
            self._scalars(SMOOTHED_LOSS, [result.step], [smoothed[-1]])
        self.writer.flush()

    def switch(self, step, peak_lr, restored_step=None):
        """`autolr/switch_step` (value and step: the switch), `autolr/peak_lr`,
        and `autolr/restored_step` when the rewind put back a copy."""
        self._scalars(SWITCH_STEP, [step], [step])
        self._scalars(PEAK_LR, [step], [peak_lr])
        if restored_step is not None:
            self._scalars(RESTORED_STEP, [step], [restored_step])
        self.writer.flush()

    def fault(self, step, action):
        """After a fault (`Decision.faults`' `(step, action)`): the copy put
        back, and the lowered peak after a blow-up in the decay."""
        restored, lowered = restored_copy(action), lowered_peak(action)
        if restored is not None:
            self._scalars(RESTORED_STEP, [step], [restored])
        if lowered is not None:
            self._scalars(PEAK_LR, [step], [lowered[1]])
        self.writer.flush()

    def close(self):
        """Flushes; closes the writer when AutoLR created it."""
        self.writer.flush()
        if self.owned:
            self.writer.close()

    def _scalars(self, tag, steps, values):
        if not _is_tf_writer(self.writer):  # tensorboard's own writer
            for step, value in zip(steps, values):
                self.writer.add_scalar(tag, float(value), int(step))
            return
        with tf.device("/CPU:0"), self.writer.as_default(), \
                tf.summary.record_if(True):
            for step, value in zip(steps, values):
                tf.summary.write(tag, tf.constant(float(value), tf.float32),
                                 step=int(step), metadata=_scalar_metadata())


def _scalar_metadata():
    """What `tf.summary.scalar` writes (TensorBoard's scalars plugin, version 0).

    Built here so that writing needs TensorFlow only, not the tensorboard
    package.
    """
    from tensorflow.core.framework import summary_pb2

    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
