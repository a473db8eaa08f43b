"""The Keras that `tf.keras` resolves to, and the few helpers that differ.

The package is written once against the API that both lanes share:
Keras 3 (TensorFlow 2.16+), Keras 2 through `tf-keras` with
`TF_USE_LEGACY_KERAS=1`, and tf.keras 2.15.
"""

import importlib
import sys

import tensorflow as tf

keras = tf.keras

IS_KERAS_3 = getattr(keras, "__version__", "2").startswith("3.")

register_serializable = keras.utils.register_keras_serializable(
    package="keras_autolr"
)


def _io_utils():
    """Keras' `io_utils` module (Keras 3, tf-keras, tf.keras 2.15), or None."""
    root = keras.callbacks.Callback.__module__.split(".")[0]
    try:
        module = importlib.import_module(f"{root}.src.utils.io_utils")
    except ImportError:
        return None
    return module if hasattr(module, "print_msg") else None


_IO_UTILS = _io_utils()


def print_msg(message):
    """Prints one line through Keras' own `io_utils.print_msg`.

    As Keras' callbacks do: to stdout, or to absl logging when the user
    turned interactive logging off (`keras.config.disable_interactive_logging()`).
    """
    if _IO_UTILS is not None:
        _IO_UTILS.print_msg(message)
        return
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def progress_bar_mid_line(callbacks):
    """True when a Keras progress bar among `callbacks` has printed part of a line.

    `fit(verbose=1)` redraws its bar in place (`\\r`, no newline) until the
    epoch ends: a line printed meanwhile would be glued onto the bar. Reads
    `ProgbarLogger.progbar` and `Progbar._seen_so_far` (Keras 2 and 3; tested
    in tests/test_progress.py).
    """
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.ProgbarLogger):
            continue
        bar = getattr(callback, "progbar", None)
        if (bar is not None and getattr(bar, "verbose", 0) == 1
                and getattr(bar, "_seen_so_far", 0) > 0):
            return True
    return False


def optimizer_of(model):
    optimizer = getattr(model, "optimizer", None)
    # Keras 2 wraps optimizers for mixed precision; the schedule lives inside.
    return getattr(optimizer, "inner_optimizer", optimizer)


def raw_learning_rate(optimizer):
    """The object the optimizer reads its LR from: a variable or a schedule."""
    if hasattr(optimizer, "_learning_rate"):  # Keras 3 and Keras 2 optimizers
        return optimizer._learning_rate
    return optimizer._get_hyper("learning_rate")  # OptimizerV2 (tf-addons)


def loss_tracker(model):
    """The `Mean` metric `fit` averages the training loss in, or None.

    Keras keeps its sum and count as two variables that reset at each epoch;
    their increments over one execution give the weighted mean loss of that
    execution's steps exactly, even for a partial last batch.
    """
    tracker = getattr(model, "_loss_tracker", None)  # Keras 3
    if tracker is None:  # Keras 2
        compiled = getattr(model, "compiled_loss", None)
        tracker = getattr(compiled, "_total_loss_mean", None)
    if tracker is None or not hasattr(tracker, "total"):
        return None
    if not hasattr(tracker, "count"):
        return None
    return tracker


def set_raw_learning_rate(optimizer, value):
    """Puts `value` (what `raw_learning_rate` returned) back as the optimizer's LR.

    The public setter refuses a variable once the LR is a schedule (Keras 2
    and 3 raise a TypeError), so the attribute is set directly.
    """
    if hasattr(optimizer, "_learning_rate"):  # Keras 3 and Keras 2 optimizers
        optimizer._learning_rate = value
    else:  # OptimizerV2 (tf-addons)
        optimizer._set_hyper("learning_rate", value)
