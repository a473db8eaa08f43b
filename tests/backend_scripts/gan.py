"""A GAN's two optimizers with `AutoLR`, in the backend's idiom; prints JSON.

keras.io's GAN (`compile(d_optimizer=..., g_optimizer=...)` and a custom
`train_step`), as tests/test_several_optimizers.py runs it on TensorFlow,
on 8x8 digits. Run by tests/test_backends.py with `KERAS_BACKEND` set:

    KERAS_BACKEND=torch python tests/backend_scripts/gan.py

The step in each backend's idiom: TensorFlow, `tf.GradientTape` and
`apply_gradients`; PyTorch (keras.io's "Customizing what happens in `fit()`
with PyTorch"), `backward` and `optimizer.apply`; JAX, `jax.value_and_grad`
over `stateless_call` and `optimizer.stateless_apply`, the two optimizers'
variables read and written back around it (`fit` hands a JAX step the
compiled optimizer's variables only, so the step runs with
`jit_compile=False`).

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

LATENT, BATCH, EPOCHS, OWN_LR = 8, 100, 4, 3e-4  # 14 steps per epoch, 56 steps


class GAN(keras.Model):
    """The keras.io GAN; `train_step` in the backend's idiom."""

    def __init__(self, discriminator, generator):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.seed_generator = keras.random.SeedGenerator(1)

    def compile(self, d_optimizer, g_optimizer, loss_fn, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def call(self, images):
        # What `fit` builds the model with on PyTorch: the discriminator's score.
        return self.discriminator(images)

    def _labels(self, batch_size):
        ones, zeros = keras.ops.ones((batch_size, 1)), keras.ops.zeros((batch_size, 1))
        return keras.ops.concatenate([ones, zeros], axis=0), zeros

    def train_step(self, *args):
        backend = keras.backend.backend()
        return getattr(self, f"_{backend}_step")(*args)

    def _tensorflow_step(self, real_images):
        import tensorflow as tf

        batch_size = tf.shape(real_images)[0]
        labels, misleading = self._labels(batch_size)
        latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
        combined = tf.concat([self.generator(latent), real_images], axis=0)
        with tf.GradientTape() as tape:
            d_loss = self.loss_fn(labels, self.discriminator(combined))
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
        with tf.GradientTape() as tape:
            g_loss = self.loss_fn(misleading, self.discriminator(self.generator(latent)))
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result()}

    def _torch_step(self, real_images):
        import torch

        batch_size = real_images.shape[0]
        labels, misleading = self._labels(batch_size)
        latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
        with torch.no_grad():
            fake = self.generator(latent)
        combined = torch.concat([fake, real_images], axis=0)
        self.zero_grad()
        d_loss = self.loss_fn(labels, self.discriminator(combined))
        d_loss.backward()
        grads = [v.value.grad for v in self.discriminator.trainable_weights]
        with torch.no_grad():
            self.d_optimizer.apply(grads, self.discriminator.trainable_weights)
        latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
        self.zero_grad()
        g_loss = self.loss_fn(misleading, self.discriminator(self.generator(latent)))
        g_loss.backward()
        grads = [v.value.grad for v in self.generator.trainable_weights]
        with torch.no_grad():
            self.g_optimizer.apply(grads, self.generator.trainable_weights)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(),
                "g_loss": self.g_loss_tracker.result()}

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
            latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
            g_latent = keras.random.normal((batch_size, LATENT), seed=self.seed_generator)
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


class LoggedGLoss(keras.callbacks.Callback):
    """`logs["g_loss"]` after each batch, per epoch (a running mean in `fit`)."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append([])

    def on_train_batch_end(self, batch, logs=None):
        self.epochs[-1].append(float(logs["g_loss"]))


def images():
    """The first 1,400 digits, in [0, 1] (14 batches of 100)."""
    from sklearn.datasets import load_digits

    x, _ = load_digits(return_X_y=True)
    return (x[:1400] / 16.0).astype("float32")


def gan():
    keras.utils.set_random_seed(0)
    discriminator = keras.Sequential([keras.Input((64,)),
                                      keras.layers.Dense(32, activation="relu"),
                                      keras.layers.Dense(1)])
    generator = keras.Sequential([keras.Input((LATENT,)),
                                  keras.layers.Dense(32, activation="relu"),
                                  keras.layers.Dense(64, activation="sigmoid")])
    model = GAN(discriminator, generator)
    d_optimizer = keras.optimizers.Adam(OWN_LR)
    g_optimizer = keras.optimizers.Adam(OWN_LR)
    jax = keras.backend.backend() == "jax"
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer,
                  loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
                  **({"jit_compile": False} if jax else {}))
    if jax:  # stateless_apply needs built optimizers
        d_optimizer.build(discriminator.trainable_variables)
        g_optimizer.build(generator.trainable_variables)
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
    logged = LoggedGLoss()
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
