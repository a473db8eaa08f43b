"""The other callbacks of the `fit` that runs `AutoLR`, and which ones matter.

AutoLR must know a few of its siblings: a `TensorBoard` to write its scalars
beside (summaries.py), a `BackupAndRestore` to keep its state beside (resume
by default), a `ReduceLROnPlateau` or `LearningRateScheduler` that would
fight it over the learning rate, and Keras' `ProgbarLogger`, whose bar a
printed line must not be glued onto. Keras hands a callback no handle on
the others: `AutoLR.on_train_begin` gets the list from
`keras_autolr._keras.fit_callbacks`, which finds the fit's `CallbackList`
through the params dict it shares with its callbacks (`gc.get_referrers`;
best effort: None in a custom loop, and nothing that depends on it fails);
this module picks from it.
"""

from keras_autolr._keras import keras

# Callbacks that set the optimizer's learning rate themselves.
LR_SETTERS = (keras.callbacks.ReduceLROnPlateau,
              keras.callbacks.LearningRateScheduler)


def first(callbacks, kind):
    """The first member of `callbacks` that is an instance of `kind`, or None."""
    for member in callbacks or ():
        if isinstance(member, kind):
            return member
    return None
