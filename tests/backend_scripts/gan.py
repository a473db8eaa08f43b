"""A GAN's two optimizers with `AutoLR`, in the backend's idiom; prints JSON.

keras.io's GAN (`compile(d_optimizer=..., g_optimizer=...)` and a custom
`train_step`), tests/_training's, which tests/test_several_optimizers.py
runs on TensorFlow, on 8x8 digits. Run by tests/test_backends.py with
`KERAS_BACKEND` set, from the repository root:

    KERAS_BACKEND=torch PYTHONPATH=. python tests/backend_scripts/gan.py

The step in each backend's idiom: TensorFlow, tests/_training's
(`tf.GradientTape` and `apply_gradients`); PyTorch (keras.io's "Customizing
what happens in `fit()` with PyTorch"), `backward` and `optimizer.apply`;
JAX, `jax.value_and_grad` over `stateless_call` and
`optimizer.stateless_apply`, the two optimizers' variables read and written
back around it (`fit` hands a JAX step the compiled optimizer's variables
only, so the step runs with `jit_compile=False`).

Three fits, one key each: "unused", `AutoLR()` (it drives the compiled
optimizer, which the step never applies); "both",
`AutoLR(optimizer=[d_optimizer, g_optimizer], monitor="g_loss")`; "one",
`AutoLR(optimizer=g_optimizer, monitor="g_loss")`.
"""

import json

import numpy as np

import keras
import keras_autolr
from keras_autolr import _keras

from tests import _training

BATCH, EPOCHS = 100, 4  # 14 steps per epoch, 56 steps


class GAN(_training.GAN):
    """tests/_training's GAN; `train_step` in the backend's idiom, the noise from Keras' RNG."""

    def __init__(self, discriminator, generator):
        super().__init__(discriminator, generator)
        self.seed_generator = keras.random.SeedGenerator(1)

    def call(self, images):
        # What `fit` builds the model with on PyTorch: the discriminator's score.
        return self.discriminator(images)

    def latent(self, batch_size, draw):
        """Both draws from the model's seed generator, one after the other."""
        return keras.random.normal((batch_size, _training.GAN_LATENT),
                                   seed=self.seed_generator)

    def _labels(self, batch_size):
        ones, zeros = keras.ops.ones((batch_size, 1)), keras.ops.zeros((batch_size, 1))
        return keras.ops.concatenate([ones, zeros], axis=0), zeros

    def train_step(self, *args):
        backend = keras.backend.backend()
        return getattr(self, f"_{backend}_step")(*args)

    _tensorflow_step = _training.GAN.train_step

    def _torch_step(self, real_images):
        import torch

        batch_size = real_images.shape[0]
        labels, misleading = self._labels(batch_size)
        latent = self.latent(batch_size, 1)
        with torch.no_grad():
            fake = self.generator(latent)
        combined = torch.concat([fake, real_images], axis=0)
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        latent = self.latent(batch_size, 2)
        self.zero_grad()
        g_loss = self.loss_fn(misleading, self.discriminator(self.generator(latent)))
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        return self.track(d_loss, g_loss)

    def _jax_step(self, state, real_images):
        import jax

        trainable, non_trainable, compiled_optimizer, metrics = state
        n_d = len(self.discriminator.trainable_variables)
        d_vars, g_vars = list(trainable[:n_d]), list(trainable[n_d:])
        batch_size = real_images.shape[0]
        labels, misleading = self._labels(batch_size)

        def d_loss_fn(d_vars, fake):
            combined = keras.ops.concatenate([fake, real_images], axis=0)
            logits, _ = self.discriminator.stateless_call(d_vars, [], combined)
            return self.loss_fn(labels, logits)

        def g_loss_fn(g_vars, d_vars, latent):
            fake, _ = self.generator.stateless_call(g_vars, [], latent)
            logits, _ = self.discriminator.stateless_call(d_vars, [], fake)
            return self.loss_fn(misleading, logits)

        # The seed generator's state is the model's non-trainable variable.
        mapping = list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            latent = self.latent(batch_size, 1)
            g_latent = self.latent(batch_size, 2)
        non_trainable = [scope.get_current_value(v) for v in self.non_trainable_variables]
        fake, _ = self.generator.stateless_call(g_vars, [], latent)
        d_loss, grads = jax.value_and_grad(d_loss_fn)(d_vars, fake)
        d_vars = _stateless_apply(self.d_optimizer, grads, d_vars)
        g_loss, grads = jax.value_and_grad(g_loss_fn)(g_vars, d_vars, g_latent)
        g_vars = _stateless_apply(self.g_optimizer, grads, g_vars)
        d_count = len(self.d_loss_tracker.variables)
        d_metrics = self.d_loss_tracker.stateless_update_state(metrics[:d_count], d_loss)
        g_metrics = self.g_loss_tracker.stateless_update_state(metrics[d_count:], g_loss)
        logs = {"d_loss": self.d_loss_tracker.stateless_result(d_metrics),
                "g_loss": self.g_loss_tracker.stateless_result(g_metrics)}
        return logs, (d_vars + g_vars, non_trainable, compiled_optimizer,
                      list(d_metrics) + list(g_metrics))


def _stateless_apply(optimizer, grads, variables):
    """One step of `optimizer`, its own variables read and written back."""
    values = [v.value for v in optimizer.variables]
    variables, values = optimizer.stateless_apply(values, grads, variables)
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return list(variables)


def images():
    """The first 1,400 digits, in [0, 1] (14 batches of 100)."""
    from sklearn.datasets import load_digits

    x, _ = load_digits(return_X_y=True)
    return (x[:1400] / 16.0).astype("float32")


def gan():
    jax = keras.backend.backend() == "jax"
    model, d_optimizer, g_optimizer = _training.gan(
        GAN, **({"jit_compile": False} if jax else {}))
    if jax:  # stateless_apply needs built optimizers
        d_optimizer.build(model.discriminator.trainable_variables)
        g_optimizer.build(model.generator.trainable_variables)
    return model, d_optimizer, g_optimizer


def iterations(optimizer):
    return int(keras.ops.convert_to_numpy(optimizer.iterations))


def weights_finite(model):
    return all(bool(np.isfinite(keras.ops.convert_to_numpy(w)).all())
               for w in model.weights)


def unused_compiled_optimizer():
    """`AutoLR()`: it drives the compiled optimizer, which the step never applies."""
    model, d_optimizer, _ = gan()
    out = {"error": None}
    try:
        model.fit(images(), batch_size=BATCH, epochs=EPOCHS, verbose=0,
                  shuffle=False, callbacks=[keras_autolr.AutoLR(verbose=0)])
    except ValueError as error:
        out["error"] = str(error)
    out["d_iterations"] = iterations(d_optimizer)
    out["compiled_lr_is_schedule"] = isinstance(
        _keras.raw_learning_rate(model.optimizer), keras_autolr.AutoLRSchedule)
    out["compiled_lr"] = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    return out


def driven(case):
    """`AutoLR(optimizer=..., monitor="g_loss")` with both optimizers or `g_optimizer`."""
    model, d_optimizer, g_optimizer = gan()
    autolr = keras_autolr.AutoLR(
        optimizer=[d_optimizer, g_optimizer] if case == "both" else g_optimizer,
        monitor="g_loss", options=keras_autolr.Options(check_every=4), verbose=0)
    logged = _training.LoggedLosses("g_loss")
    model.fit(images(), batch_size=BATCH, epochs=EPOCHS, verbose=0,
              shuffle=False, callbacks=[autolr, logged])
    return {
        "d_lr_is_schedule": _keras.raw_learning_rate(d_optimizer) is autolr.schedule,
        "g_lr_is_schedule": _keras.raw_learning_rate(g_optimizer) is autolr.schedule,
        "d_lr": (None if case == "both"
                 else float(keras.ops.convert_to_numpy(d_optimizer.learning_rate))),
        "d_iterations": iterations(d_optimizer),
        "g_iterations": iterations(g_optimizer),
        "record_loss": [float(v) for v in autolr.record.loss],
        "logged_g_loss": logged.epochs,
        "tests": len(autolr.decision.tests),
        "total_steps": autolr.schedule.total_steps,
        "weights_finite": weights_finite(model),
    }


def main():
    print(json.dumps({
        "backend": keras.backend.backend(),
        "unused": unused_compiled_optimizer(),
        "both": driven("both"),
        "one": driven("one"),
    }))


if __name__ == "__main__":
    main()
