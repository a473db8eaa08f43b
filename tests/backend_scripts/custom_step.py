"""A custom `train_step` in the backend's idiom with `AutoLR`; prints JSON.

keras.io, "Customizing what happens in `fit()`", "Going lower-level", with
JAX and with PyTorch. Run by tests/test_backends.py with `KERAS_BACKEND`
set. On JAX the step is a pure function of the state `fit` hands it: the
optimizer's variables, among them the schedule's state, go through
`optimizer.stateless_apply`; on PyTorch it calls `backward` and
`optimizer.apply`. The model carries the loss probe of digits_fit.py (a
scalar weight whose gradient is the constant `PROBE_SCALE`), so the test
checks the LR the step applied against the schedule.
"""

import json

import keras
import keras_autolr
from digits_fit import PROBE_SCALE
from digits_fit import EpochEnds
from digits_fit import LossProbe
from digits_fit import digits


class JaxStepModel(keras.Sequential):
    """compile(optimizer) only; its own `Mean` loss tracker."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def compute_loss_and_updates(self, trainable_variables,
                                 non_trainable_variables, x, y):
        y_pred, non_trainable_variables, losses = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=True,
            return_losses=True)
        loss = self.loss_fn(y, y_pred) + sum(losses)
        return loss, non_trainable_variables

    def train_step(self, state, data):
        import jax

        (trainable_variables, non_trainable_variables, optimizer_variables,
         metrics_variables) = state
        x, y = data
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, non_trainable_variables), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, y)
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables)
        metrics_variables = self.loss_tracker.stateless_update_state(
            metrics_variables, loss)
        logs = {"loss": self.loss_tracker.stateless_result(metrics_variables)}
        return logs, (trainable_variables, non_trainable_variables,
                      optimizer_variables, metrics_variables)

    @property
    def metrics(self):
        return [self.loss_tracker]


class TorchStepModel(keras.Sequential):
    """compile(optimizer) only; its own `Mean` loss tracker."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(self, data):
        import torch

        x, y = data
        self.zero_grad()
        y_pred = self(x, training=True)
        loss = self.loss_fn(y, y_pred) + sum(self.losses)
        loss.backward()
        variables = list(self.trainable_weights)
        gradients = [v.value.grad for v in variables]
        with torch.no_grad():
            self.optimizer.apply(gradients, variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


def main():
    x, y = digits()
    keras.utils.set_random_seed(0)
    kind = JaxStepModel if keras.backend.backend() == "jax" else TorchStepModel
    model = kind([
        keras.Input((64,)), LossProbe(name="probe"),
        keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    autolr, ends = keras_autolr.AutoLR(verbose=0), EpochEnds()
    model.fit(x, y, batch_size=64, epochs=9, shuffle=False, verbose=0,
              callbacks=[autolr, ends])
    schedule = autolr.schedule
    print(json.dumps({
        "backend": keras.backend.backend(),
        "switch_step": autolr.switch_step,
        "peak_lr": autolr.peak_lr,
        "restored_step": autolr.controller.restored_step,
        "total_steps": schedule.total_steps,
        "warmup_steps": schedule.warmup_steps,
        "min_lr": schedule.min_lr,
        "max_lr": schedule.max_lr,
        "probe_scale": PROBE_SCALE,
        "b": ends.b,
        "steps": ends.steps,
    }))


if __name__ == "__main__":
    main()
