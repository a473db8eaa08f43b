"""The Keras that `tf.keras` resolves to, and the few helpers that differ.

The package is written once against the API that both lanes share:
Keras 3 (TensorFlow 2.16+), Keras 2 through `tf-keras` with
`TF_USE_LEGACY_KERAS=1`, and tf.keras 2.15.
"""

import sys

import tensorflow as tf

keras = tf.keras

IS_KERAS_3 = getattr(keras, "__version__", "2").startswith("3.")

register_serializable = keras.utils.register_keras_serializable(
    package="keras_autolr"
)


def print_msg(message):
    """Prints one line the way Keras' own callbacks do (`io_utils.print_msg`)."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


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
