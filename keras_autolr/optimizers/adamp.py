"""AdamP: Adam that does not inflate the norm of scale-invariant weights.

Heo et al., "AdamP: Slowing Down the Slowdown for Momentum Optimizers on
Scale-invariant Weights", ICLR 2021 (arXiv 2006.08217). The update follows
the authors' PyTorch package `adamp` (0.3.0) step for step, so that a Keras
model and its PyTorch twin follow the same parameter trajectory.
"""

import math
import numbers

from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from keras_autolr._keras import ops
from keras_autolr._keras import register_serializable


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_range(name, value, low, high=None, *, low_open=False,
                 high_open=True):
    """`value` as a float in the interval; ValueError naming it otherwise."""
    low_ok = _is_real(value) and (value > low if low_open else value >= low)
    high_ok = high is None or (
        _is_real(value) and (value < high if high_open else value <= high))
    if not (low_ok and high_ok and math.isfinite(value)):
        left = "(" if low_open else "["
        right = "inf)" if high is None else (
            f"{high})" if high_open else f"{high}]")
        raise ValueError(
            f"`{name}` must be a number in {left}{low}, {right}. "
            f"Received {name}={value!r}"
        )
    return float(value)


def _check_learning_rate(value):
    schedules = keras.optimizers.schedules.LearningRateSchedule
    if isinstance(value, schedules) or callable(value):
        return value
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # a tensor or variable
        return value
    return _check_range("learning_rate", value, 0.0)


@register_serializable
class AdamP(_keras.WithoutBaseWeightDecay, keras.optimizers.Optimizer):
    """Adam with projection for scale-invariant weights (AdamP).

    Weights followed by a normalisation layer (a convolution before batch
    normalisation, for example) are scale-invariant: the loss does not depend
    on their norm, their gradient is orthogonal to them, and momentum
    optimizers grow their norm quickly, which shrinks the effective step size.
    AdamP detects such weights at each step and removes the radial component
    of the Adam update, so that their norm stays put (Heo et al., ICLR 2021,
    [arXiv 2006.08217](https://arxiv.org/abs/2006.08217)).

    The test is the one of the authors' PyTorch package `adamp`: for a weight
    with two or more dimensions, if the largest absolute cosine similarity
    between the gradient and the weight, taken per output channel, is below
    `delta / sqrt(fan)` (with `fan` the number of entries per channel), the
    update is projected per channel; otherwise, the same test on the whole
    weight (`fan` = its size) projects it as one vector. Channels are the last
    axis of a Keras kernel (`Dense`: `(in, out)`, `Conv2D`: `(h, w, in, out)`),
    PyTorch's first, so the two group the same numbers. Biases and other 1-D
    weights are never projected.

    Weight decay is decoupled as in the reference:
    `w <- w * (1 - learning_rate * weight_decay * r)` before the update, with
    `r = wd_ratio` on projected weights and 1 otherwise. Variables excluded
    with `exclude_from_weight_decay` are not decayed. Keras' own
    `weight_decay` mechanism is not used.

    Example:

    ```python
    schedule = keras_autolr.AutoLRSchedule()
    model.compile(
        optimizer=keras_autolr.optimizers.AdamP(
            learning_rate=schedule, weight_decay=1e-2),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x, y, epochs=10,
              callbacks=[keras_autolr.AutoLR(schedule=schedule)])
    ```

    Args:
        learning_rate: float >= 0, a
            `keras.optimizers.schedules.LearningRateSchedule` (such as
            `keras_autolr.AutoLRSchedule`) or a callable without arguments.
            Defaults to 1e-3.
        beta_1: float in [0, 1). Decay rate of the first moment. Defaults
            to 0.9 (PyTorch's `betas[0]`).
        beta_2: float in [0, 1). Decay rate of the second moment. Defaults
            to 0.999 (PyTorch's `betas[1]`).
        epsilon: float > 0. Added to the bias-corrected root second moment,
            and the `eps` of the cosine similarity and of the weight
            normalisation in the projection. Defaults to 1e-8.
        weight_decay: float >= 0. Decoupled weight decay, multiplied by the
            learning rate. Defaults to 0.
        delta: float >= 0. Threshold of the cosine-similarity test, scaled by
            `1 / sqrt(fan)`; 0 never projects (AdamW). Defaults to 0.1.
        wd_ratio: float >= 0. Factor of the weight decay on projected
            weights. Defaults to 0.1.
        nesterov: bool. Nesterov momentum in the update direction. Defaults
            to False.
        name: str or None. Name of the optimizer.
        **kwargs: the other arguments of `keras.optimizers.Optimizer`:
            `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`,
            `ema_momentum`, `ema_overwrite_frequency`; Keras 3 also
            `loss_scale_factor` and `gradient_accumulation_steps`,
            tf.keras 2 also `jit_compile`.
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        delta=0.1,
        wd_ratio=0.1,
        nesterov=False,
        name=None,
        **kwargs,
    ):
        learning_rate = _check_learning_rate(learning_rate)
        beta_1 = _check_range("beta_1", beta_1, 0.0, 1.0)
        beta_2 = _check_range("beta_2", beta_2, 0.0, 1.0)
        epsilon = _check_range("epsilon", epsilon, 0.0, low_open=True)
        # `None` is what Keras' own optimizers take for "no weight decay".
        weight_decay = 0.0 if weight_decay is None else _check_range(
            "weight_decay", weight_decay, 0.0)
        delta = _check_range("delta", delta, 0.0)
        wd_ratio = _check_range("wd_ratio", wd_ratio, 0.0)
        if not isinstance(nesterov, bool):
            raise ValueError(
                f"`nesterov` must be True or False. Received nesterov={nesterov!r}"
            )
        # The base class would decay every weight by `learning_rate *
        # weight_decay` before `update_step`, without `wd_ratio` and before
        # the projection test: keep it off (here, and by the mixin
        # `WithoutBaseWeightDecay` once `self.weight_decay` is set) and decay
        # in `update_step`.
        kwargs["weight_decay"] = None
        if IS_KERAS_3:
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        else:
            super().__init__(name=name or "AdamP", **kwargs)
            _keras.keras2_init_learning_rate(self, learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay
        self.delta = delta
        self.wd_ratio = wd_ratio
        self.nesterov = nesterov

    def build(self, var_list):
        """Creates the first- and second-moment slots of each variable."""
        if IS_KERAS_3:
            if self.built:
                return
            super().build(var_list)
        else:
            super().build(var_list)
            if _keras.optimizer_built(self):
                return
            _keras.mark_optimizer_built(self)
        self._momentums = []
        self._velocities = []
        for variable in var_list:
            if _keras.overwrites_with_gradient(self, variable):  # float8
                self._momentums.append(None)
                self._velocities.append(None)
                continue
            self._momentums.append(self._slot(variable, "momentum"))
            self._velocities.append(self._slot(variable, "velocity"))

    def _slot(self, variable, name):
        if IS_KERAS_3:
            return self.add_variable_from_reference(variable, name=name)
        return self.add_variable_from_reference(variable, variable_name=name)

    def _index(self, variable):
        return _keras.optimizer_variable_index(self, variable)

    def _assign(self, variable, value):
        if IS_KERAS_3:
            self.assign(variable, value)
        else:
            variable.assign(value)

    def update_step(self, gradient, variable, learning_rate=None):
        """One AdamP step of `variable` (Keras 3 passes the learning rate)."""
        if learning_rate is None:  # tf.keras 2
            learning_rate = self.learning_rate
        dtype = variable.dtype

        def const(value):
            return ops.convert_to_tensor(value, dtype)

        lr = ops.cast(learning_rate, dtype)
        grad = ops.cast(ops.convert_to_tensor(gradient), dtype)
        index = self._index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        m_prev = ops.convert_to_tensor(m)
        v_prev = ops.convert_to_tensor(v)
        step = ops.cast(self.iterations + 1, dtype)
        bias_correction1 = 1 - ops.power(const(self.beta_1), step)
        bias_correction2 = 1 - ops.power(const(self.beta_2), step)

        m_t = m_prev * const(self.beta_1) + grad * const(1 - self.beta_1)
        v_t = (v_prev * const(self.beta_2)
               + grad * grad * const(1 - self.beta_2))
        self._assign(m, m_t)
        self._assign(v, v_t)

        denom = ops.sqrt(v_t) / ops.sqrt(bias_correction2) + const(self.epsilon)
        step_size = lr / bias_correction1
        if self.nesterov:
            perturb = (const(self.beta_1) * m_t
                       + const(1 - self.beta_1) * grad) / denom
        else:
            perturb = m_t / denom

        weight = ops.convert_to_tensor(variable)
        ratio = const(1.0)
        if len(variable.shape) > 1:
            perturb, ratio = self._projection(weight, grad, perturb)

        if self.weight_decay > 0 and _keras.uses_weight_decay(self, variable):
            weight = weight * (
                1 - lr * const(self.weight_decay) * ratio)
        self._assign(variable, weight - step_size * perturb)

    def _projection(self, weight, grad, perturb):
        """Removes the radial part of `perturb`, per channel or whole.

        Returns the direction and the weight-decay factor (`wd_ratio` when
        projected, else 1), as the reference's `_projection`.
        """
        dtype = weight.dtype
        eps = ops.convert_to_tensor(self.epsilon, dtype)
        shape = tuple(int(d) for d in weight.shape)
        size = math.prod(shape)
        channels = shape[-1]
        fan_in = size // channels
        # Channel view: one column per output channel (Keras' last axis).
        # Layer view: a single column.
        views = ((fan_in, channels), (size, 1))
        projected = []
        for rows, cols in views:
            w = ops.reshape(weight, (rows, cols))
            g = ops.reshape(grad, (rows, cols))
            u = ops.reshape(perturb, (rows, cols))
            w_norm = ops.norm(w, axis=0, keepdims=True)
            g_norm = ops.norm(g, axis=0, keepdims=True)
            # torch.nn.functional.cosine_similarity (PyTorch >= 1.12).
            cosine = ops.abs(ops.sum(
                (g / ops.maximum(g_norm, eps)) * (w / ops.maximum(w_norm, eps)),
                axis=0))
            invariant = ops.max(cosine) < ops.convert_to_tensor(
                self.delta / math.sqrt(rows), dtype)
            w_unit = w / (w_norm + eps)
            u = u - w_unit * ops.sum(w_unit * u, axis=0, keepdims=True)
            projected.append((invariant, ops.reshape(u, shape)))
        (by_channel, channel_perturb), (by_layer, layer_perturb) = projected
        perturb = ops.where(
            by_channel, channel_perturb,
            ops.where(by_layer, layer_perturb, perturb))
        ratio = ops.where(
            ops.logical_or(by_channel, by_layer),
            ops.convert_to_tensor(self.wd_ratio, dtype),
            ops.convert_to_tensor(1.0, dtype))
        return perturb, ratio

    def get_config(self):
        config = super().get_config()
        if not IS_KERAS_3:
            config["learning_rate"] = _keras.keras2_learning_rate_config(self)
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
            "delta": self.delta,
            "wd_ratio": self.wd_ratio,
            "nesterov": self.nesterov,
        })
        return config
