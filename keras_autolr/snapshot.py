"""`WeightSnapshot`: a host-memory copy of the weights and optimizer state.

The warmup pushes the LR toward divergence on purpose. `AutoLR` copies the
model's weights and the optimizer's state (moments, not the step counter) to
host memory at each test, so that weights that turn NaN or Inf can be put
back as they were at the last test. The copy costs host memory equal to the
model's weights plus the optimizer's slots (3x the weights for Adam or LAMB).
"""

import numpy as np


class WeightSnapshot:
    """Takes and restores a copy of a model's weights and optimizer state.

    Example:

    ```python
    snapshot = WeightSnapshot(model, model.optimizer)
    snapshot.take()
    ...  # training diverges
    if not snapshot.weights_finite():
        snapshot.restore()
    ```

    Args:
        model: the Keras model.
        optimizer: its optimizer (Keras 3, Keras 2 or a tf-addons
            `OptimizerV2`).
    """

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.step = None
        self._weights = None
        self._slots = None

    def _optimizer_variables(self):
        variables = self.optimizer.variables
        variables = variables() if callable(variables) else variables
        iterations = self.optimizer.iterations
        # The step counter is the schedule's clock: never rewound.
        return [v for v in variables if v is not iterations
                and getattr(v, "name", "") != getattr(iterations, "name", None)
                and "iteration" not in getattr(v, "name", "")]

    def take(self):
        """Copies the weights and the optimizer state to host memory."""
        self._weights = [np.array(v.numpy()) for v in self.model.weights]
        self._slots = [np.array(v.numpy()) for v in self._optimizer_variables()]
        self.step = int(self.optimizer.iterations.numpy())

    def weights_finite(self):
        """True when every weight of the model is finite."""
        return all(np.all(np.isfinite(v.numpy())) for v in self.model.weights
                   if np.issubdtype(_dtype(v), np.floating))

    def restore(self):
        """Puts the copied weights and optimizer state back.

        Returns:
            True when a copy existed and was restored.
        """
        if self._weights is None:
            return False
        for variable, value in zip(self.model.weights, self._weights):
            variable.assign(value)
        slots = self._optimizer_variables()
        if len(slots) == len(self._slots):
            for variable, value in zip(slots, self._slots):
                variable.assign(value)
        else:  # slots created since the copy: start them from zero
            for variable in slots:
                variable.assign(np.zeros(variable.shape, _dtype(variable)))
        return True


def _dtype(variable):
    """NumPy dtype of a Keras 3 variable (dtype is a string) or a tf.Variable."""
    dtype = variable.dtype
    return np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
