"""The other callbacks of the `fit` that runs `AutoLR`.

A Keras callback cannot see its siblings: `fit` hands each callback the
model and the params, never the `CallbackList` (Keras 2 and 3 alike), and no
attribute of the model points at the callbacks. Yet AutoLR must know a few
of them: a `TensorBoard` to write its scalars beside (summaries.py), a
`BackupAndRestore` to keep its state beside (resume by default), a
`ReduceLROnPlateau` or `LearningRateScheduler` that would fight it over the
learning rate, and Keras' `ProgbarLogger`, whose bar a printed line must not
be glued onto. In `on_train_begin`, `of(callback)` walks up the call stack to
the `CallbackList` that is calling it (the `self` of
`CallbackList.on_train_begin`, or the `callbacks` local of `fit`). Best
effort by design: when the list is not found (a custom training loop calls
the callback itself), it returns None and nothing that depends on it fails.
"""

import sys

from keras_autolr._keras import keras

_STACK_DEPTH = 12  # frames searched above the caller for the CallbackList

# Callbacks that set the optimizer's learning rate themselves.
LR_SETTERS = (keras.callbacks.ReduceLROnPlateau,
              keras.callbacks.LearningRateScheduler)


def of(callback, frame=None):
    """The callbacks of the `fit` that is calling `callback`, or None.

    Call from one of `callback`'s `on_*` methods (`on_train_begin`).

    Args:
        callback: the `keras.callbacks.Callback` asking.
        frame: the frame to start from. Defaults to the caller's.

    Returns:
        The list of callbacks (`callback` among them), or None.
    """
    frame = sys._getframe(1) if frame is None else frame
    for _ in range(_STACK_DEPTH):
        if frame is None:
            return None
        for name in ("self", "callbacks"):
            members = _callbacks_holding(frame.f_locals.get(name), callback)
            if members is not None:
                return list(members)
        frame = frame.f_back
    return None


def first(callbacks, kind):
    """The first member of `callbacks` that is an instance of `kind`, or None."""
    for member in callbacks or ():
        if isinstance(member, kind):
            return member
    return None


def _callbacks_holding(candidate, callback):
    """`candidate.callbacks` when `candidate` is a CallbackList holding `callback`."""
    if not isinstance(candidate, keras.callbacks.CallbackList):
        return None
    members = getattr(candidate, "callbacks", None) or []
    if any(member is callback for member in members):
        return members
    return None
