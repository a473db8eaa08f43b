"""Saving and restoring a model around `find_lr`'s sweep.

The sweep trains the model for real: its weights, the optimizer's slots,
step counter and learning rate all move. `build_optimizer` first makes the
optimizer's state exist (as `fit` would), so that `kept` can copy all of it
to the host and put it back bit for bit afterwards, even when the sweep
fails.
"""

import contextlib

import numpy as np

from keras_autolr import _keras


def build_optimizer(model):
    """Builds the model's optimizer for its trainable variables, as `fit` would.

    Under the model's distribution strategy; nothing when it is built.

    Returns:
        The optimizer whose LR the sweep sets (`_keras.optimizer_of`: the
        inner one of a Keras 2 mixed-precision wrapper).
    """
    _keras.build_model_optimizer(model)
    return _keras.optimizer_of(model)


@contextlib.contextmanager
def kept(model, optimizer, swept=None):
    """Puts back on exit everything the block changes in `model` (see `ModelState`).

    Also on an error, and with the train function made anew, so that the
    next `fit` traces the model's own learning rate again.
    """
    saved = ModelState(model, optimizer, swept)
    try:
        yield saved
    finally:
        saved.restore()
        model.make_train_function(force=True)


class ModelState:
    """Host copies of everything a sweep changes; `restore()` puts them back.

    The model's and the optimizer's variables (weights, non-trainable state,
    random-seed state, slots, `iterations`, the learning-rate variable, Keras
    2's train counter and current-LR variable), the object the optimizer
    reads its LR from (a variable or a schedule), `model.stop_training` and
    `model.history`.

    Args:
        model: a built Keras model.
        optimizer: its optimizer (the inner one of a mixed-precision wrapper),
            built.
        swept: list of optimizers or None. Those whose LR the sweep sets,
            when not `optimizer` (the sub-optimizers of a `MultiOptimizer`).
    """

    def __init__(self, model, optimizer, swept=None):
        self.model, self.optimizer = model, optimizer
        self.learning_rate = _keras.raw_learning_rate(optimizer)
        self.learning_rates = [(o, _keras.raw_learning_rate(o))
                               for o in swept or () if o is not optimizer]
        current_lr = _keras.keras2_current_learning_rate(optimizer)
        self.had_current_lr = current_lr is not None
        self.stop_training = getattr(model, "stop_training", False)
        self.history = getattr(model, "history", None)
        candidates = list(_variables(model)) + list(_variables(model.optimizer))
        candidates += list(_variables(optimizer)) + [_keras.step_counter(optimizer)]
        candidates += [_keras.train_counter(model), current_lr]
        candidates += [lr for _, lr in [(optimizer, self.learning_rate)] + self.learning_rates
                       if hasattr(lr, "assign")]
        self.variables, seen = [], set()
        for variable in candidates:
            if variable is not None and id(variable) not in seen:
                seen.add(id(variable))
                self.variables.append(variable)
        self.values = [np.array(v.numpy(), copy=True) for v in self.variables]

    def restore(self):
        """Puts every saved value and object back."""
        _keras.set_raw_learning_rate(self.optimizer, self.learning_rate)
        for optimizer, learning_rate in self.learning_rates:
            _keras.set_raw_learning_rate(optimizer, learning_rate)
        if not self.had_current_lr:
            _keras.forget_keras2_current_learning_rate(self.optimizer)
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)
        self.model.stop_training = self.stop_training
        if hasattr(self.model, "history"):
            self.model.history = self.history


def _variables(obj):
    variables = getattr(obj, "variables", None)
    if variables is None:
        return []
    return variables() if callable(variables) else variables
