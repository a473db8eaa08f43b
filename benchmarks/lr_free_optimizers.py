"""Learning-rate-free contenders of the quality benchmark, for Keras 3.

Users who want no tuning also reach for Prodigy and Schedule-Free AdamW;
Keras has neither. Both are written here step for step after their authors'
PyTorch packages, so that a Keras model and its PyTorch twin follow the same
parameter trajectory (tests/test_lr_free_optimizers.py checks it against the
packages themselves):

- `Prodigy`: Mishchenko and Defazio, "Prodigy: An Expeditiously Adaptive
  Parameter-Free Learner", ICML 2024 (arXiv 2306.06101), after `prodigyopt`
  1.1.2 (`prodigyopt.Prodigy`).
- `ScheduleFreeAdamW`: Defazio et al., "The Road Less Scheduled",
  NeurIPS 2024 (arXiv 2405.15682), after `schedulefree` 1.4.1
  (`schedulefree.AdamWScheduleFree`), with `ScheduleFreeEval`, the callback
  that puts the weights the method evaluates (x) into the model for
  `evaluate` and `predict`.

Both optimizers keep quantities that are global to the model, not per
variable: Prodigy's step-size estimate `d` depends on all variables at once,
and Schedule-Free's averaging weight on the step count and the largest LR.
Keras' per-variable `update_step` cannot see all gradients before it updates
the first variable, so both override `_backend_update_step(grads,
trainable_variables, learning_rate)`, the hook (private, in Keras 3 since
3.0, on every backend) that `Optimizer.apply` calls once per step with all
the gradients after clipping, loss-scale unscaling and gradient
accumulation. Consequence: they run on one device (no `tf.distribute`
strategy with more than one replica; `build` refuses it).

The global scalars are float64 variables, as the references keep them in
Python floats; the per-variable arithmetic runs in the variable's dtype.
Keras 3 only (the TensorFlow backend is tested; the math is `keras.ops`).
"""

import math
import numbers

import numpy as np
import tensorflow as tf

from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras

ops = getattr(keras, "ops", None)  # Keras 3; None on Keras 2 (not supported)

register = keras.utils.register_keras_serializable(
    package="keras_autolr_benchmarks")

_F64 = "float64"


# --------------------------------------------------------------------------
# Argument checks: ValueError naming the argument and the value received.


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_range(name, value, low, high=None, *, low_open=False,
                 high_open=True, allow_inf=False):
    low_ok = _is_real(value) and (value > low if low_open else value >= low)
    high_ok = high is None or (
        _is_real(value) and (value < high if high_open else value <= high))
    finite = _is_real(value) and (
        math.isfinite(value) or (allow_inf and value == math.inf))
    if not (low_ok and high_ok and finite):
        left = "(" if low_open else "["
        right = "inf)" if high is None else (
            f"{high})" if high_open else f"{high}]")
        if allow_inf and high is None:
            right = "inf]"
        raise ValueError(
            f"`{name}` must be a number in {left}{low}, {right}. "
            f"Received {name}={value!r}")
    return float(value)


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise ValueError(
            f"`{name}` must be True or False. Received {name}={value!r}")
    return value


def _check_learning_rate(value):
    """A float > 0, a `LearningRateSchedule`, a callable or a variable."""
    schedules = keras.optimizers.schedules.LearningRateSchedule
    if isinstance(value, schedules) or callable(value):
        return value
    if isinstance(value, (tf.Tensor, tf.Variable)) or (
            IS_KERAS_3 and isinstance(value, keras.Variable)):
        return value
    return _check_range("learning_rate", value, 0.0, low_open=True)


def _f64(value):
    """`value` as a float64 tensor; a Python number exactly.

    Keras ops round a Python float to float32 first (`ops.cast(0.999,
    "float64")` is 0.99900001287): the references keep theirs in doubles.
    """
    if isinstance(value, numbers.Real):
        return ops.convert_to_tensor(value, dtype=_F64)
    return ops.cast(value, _F64)


def _cast(value, dtype):
    """`value` (a Python number or a float64 tensor) in the variable's dtype.

    As PyTorch does with a Python scalar multiplying a tensor: the double
    rounded once to the tensor's dtype.
    """
    return ops.cast(_f64(value), dtype)


def _torch_lerp(start, end, weight):
    """`torch.lerp(start, end, weight)` with a scalar weight, as PyTorch rounds.

    PyTorch computes `start + w (end - start)` for |w| < 0.5 and
    `end - (end - start) (1 - w)` otherwise.
    """
    diff = end - start
    return ops.where(ops.abs(weight) < 0.5, start + weight * diff,
                     end - diff * (1 - weight))


class _GlobalStepOptimizer(_keras.WithoutBaseWeightDecay,
                           keras.optimizers.Optimizer):
    """Shared plumbing: float64 global scalars, one update over all variables."""

    def _init_base(self, learning_rate, weight_decay, name, kwargs):
        if not IS_KERAS_3:
            raise NotImplementedError(
                f"{type(self).__name__} is written for Keras 3; found Keras "
                f"{getattr(keras, '__version__', '2')}.")
        # The base class would decay every weight by `learning_rate *
        # weight_decay` before the update: keep it off (here, and by the
        # mixin once `self.weight_decay` is set) and decay in the update.
        kwargs["weight_decay"] = None
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.weight_decay = weight_decay

    def _check_single_replica(self):
        if keras.backend.backend() != "tensorflow":
            return
        strategy = tf.distribute.get_strategy()
        if strategy.num_replicas_in_sync > 1:
            raise NotImplementedError(
                f"{type(self).__name__} updates all variables at once from "
                "a global step size and supports a single replica only. "
                f"Received a strategy with num_replicas_in_sync="
                f"{strategy.num_replicas_in_sync}")

    def _scalar(self, name, value):
        # Not `keras.initializers.Constant`: it rounds the value to float32
        # first (1e-6 would not equal the float `d0` any more).
        return self.add_variable(
            shape=(), dtype=_F64, name=name,
            initializer=lambda shape, dtype: np.full(shape, value, np.float64))

    def _slots(self, var_list, name):
        return [None if _keras.overwrites_with_gradient(self, v)
                else self.add_variable_from_reference(v, name=name)
                for v in var_list]

    def _index(self, variable):
        return _keras.optimizer_variable_index(self, variable)

    def _decays(self, variable):
        return self.weight_decay > 0 and _keras.uses_weight_decay(
            self, variable)

    @staticmethod
    def _dense(grads):
        """Gradients as dense tensors: an `Embedding`'s comes as IndexedSlices,
        and the global sums over every element need it whole."""
        return [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                for g in grads]

    def update_step(self, gradient, variable, learning_rate):
        raise NotImplementedError(
            f"{type(self).__name__} updates all variables at once "
            "(`_backend_update_step`); it has no per-variable update_step.")


# --------------------------------------------------------------------------
# Prodigy


@register
class Prodigy(_GlobalStepOptimizer):
    """Adam with a step size estimated on the fly (Prodigy).

    Prodigy estimates the distance `d` from the initial weights to the
    solution and uses `d * learning_rate` as Adam's step size, so
    `learning_rate` stays at 1 (Mishchenko and Defazio, ICML 2024,
    [arXiv 2306.06101](https://arxiv.org/abs/2306.06101)). The update is the
    one of the authors' PyTorch package `prodigyopt` (1.1.2, `slice_p=1`),
    step for step.

    `d`, its running maximum, the numerator of its estimate and the step
    count `k` are global: one value for the whole model, computed from all
    variables at each step (in float64). The moments `m`, `v`, the
    accumulator `s` and the initial weights `x0` are per variable. At each
    step, with `g` the gradients (plus `weight_decay * x` when
    `decouple=False`), sums running over all variables and `d` the estimate
    before the step:

    ```
    dlr = d * learning_rate * c,   c = sqrt(1 - beta_2^(k+1)) / (1 - beta_1^(k+1))
                                       if use_bias_correction else 1
    r   = beta_3 r + (d / d0) dlr sum <g, x0 - x>
    s   = beta_3 s + (d / d0) (d if safeguard_warmup else dlr) g
    d_hat = d_coef r / sum |s|_1
    d'  = min(d_max', (max(d, d_hat) if d == d0 else d) * growth_rate),
          d_max' = max(d_max, d_hat)
    m   = beta_1 m + d (1 - beta_1) g
    v   = beta_2 v + d^2 (1 - beta_2) g^2
    x   = x - dlr weight_decay x                   (decouple=True)
    x   = x - dlr m / (sqrt(v) + d' epsilon)       (beta_1 = 0: d' g for m)
    ```

    A step whose `sum |s|_1` is 0 (all gradients zero so far) or whose
    learning rate is 0 changes nothing, as in the reference.

    Weight decay applies to every variable except those excluded with
    `exclude_from_weight_decay`; Keras' own `weight_decay` mechanism is not
    used. One device only (see the module docstring).

    Example:

    ```python
    model.compile(
        optimizer=Prodigy(),  # learning_rate=1.0: leave it
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x, y, epochs=10)
    print(float(model.optimizer.d))  # the step size it found
    ```

    Args:
        learning_rate: float > 0, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable
            without arguments. Multiplies the estimated step size. Defaults
            to 1.0 (the reference's `lr`).
        beta_1: float in [0, 1). Decay rate of the first moment. Defaults
            to 0.9 (`betas[0]`).
        beta_2: float in [0, 1). Decay rate of the second moment. Defaults
            to 0.999 (`betas[1]`).
        beta_3: float in [0, 1) or None. Decay rate of the running sums of
            the `d` estimate; None takes `sqrt(beta_2)`. Defaults to None.
        epsilon: float > 0. Added to the root second moment, times `d`.
            Defaults to 1e-8.
        weight_decay: float >= 0. Defaults to 0.
        decouple: bool. True: AdamW-style decay `x -= dlr * weight_decay * x`;
            False: L2, `weight_decay * x` added to the gradient. Defaults to
            True.
        use_bias_correction: bool. Adam's bias correction in `dlr`.
            Defaults to False.
        safeguard_warmup: bool. Leaves the learning rate out of the `s`
            accumulator (for LR warmup schedules). Defaults to False.
        d0: float > 0. Initial `d`. Defaults to 1e-6.
        d_coef: float > 0. Multiplies the `d` estimate. Defaults to 1.0.
        growth_rate: float >= 1 or `inf`. Largest factor by which `d` grows
            per step. Defaults to `inf` (unrestricted).
        name: str or None. Name of the optimizer.
        **kwargs: the other arguments of `keras.optimizers.Optimizer`
            (`clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`,
            `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`).
    """

    def __init__(
        self,
        learning_rate=1.0,
        beta_1=0.9,
        beta_2=0.999,
        beta_3=None,
        epsilon=1e-8,
        weight_decay=0.0,
        decouple=True,
        use_bias_correction=False,
        safeguard_warmup=False,
        d0=1e-6,
        d_coef=1.0,
        growth_rate=math.inf,
        name="prodigy",
        **kwargs,
    ):
        learning_rate = _check_learning_rate(learning_rate)
        checked = dict(
            beta_1=_check_range("beta_1", beta_1, 0.0, 1.0),
            beta_2=_check_range("beta_2", beta_2, 0.0, 1.0),
            beta_3=None if beta_3 is None else _check_range(
                "beta_3", beta_3, 0.0, 1.0),
            epsilon=_check_range("epsilon", epsilon, 0.0, low_open=True),
            decouple=_check_bool("decouple", decouple),
            use_bias_correction=_check_bool(
                "use_bias_correction", use_bias_correction),
            safeguard_warmup=_check_bool("safeguard_warmup",
                                         safeguard_warmup),
            d0=_check_range("d0", d0, 0.0, low_open=True),
            d_coef=_check_range("d_coef", d_coef, 0.0, low_open=True),
            growth_rate=_check_range("growth_rate", growth_rate, 1.0,
                                     allow_inf=True),
        )
        weight_decay = 0.0 if weight_decay is None else _check_range(
            "weight_decay", weight_decay, 0.0)
        self._init_base(learning_rate, weight_decay, name, kwargs)
        for key, value in checked.items():
            setattr(self, key, value)

    def build(self, var_list):
        """Creates the global scalars and the per-variable slots."""
        if self.built:
            return
        self._check_single_replica()
        super().build(var_list)
        self._d = self._scalar("d", self.d0)
        self._d_max = self._scalar("d_max", self.d0)
        self._d_numerator = self._scalar("d_numerator", 0.0)
        self._k = self._scalar("k", 0.0)  # steps that updated the weights
        self._started = self._scalar("started", 0.0)  # x0 recorded
        self._exp_avgs = (self._slots(var_list, "exp_avg")
                          if self.beta_1 > 0 else [None] * len(var_list))
        self._exp_avg_sqs = self._slots(var_list, "exp_avg_sq")
        self._s = self._slots(var_list, "s")
        self._x0 = self._slots(var_list, "x0")

    @property
    def d(self):
        """The current step-size estimate `d` (a float64 variable)."""
        return self._d

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        grads = self._dense(grads)
        beta_1, beta_2 = self.beta_1, self.beta_2
        beta_3 = math.sqrt(beta_2) if self.beta_3 is None else self.beta_3
        one = _f64(1.0)
        lr = _f64(learning_rate)
        d0 = _f64(self.d0)
        d = ops.convert_to_tensor(self._d)
        d_max = ops.convert_to_tensor(self._d_max)
        k = ops.convert_to_tensor(self._k)
        first = ops.equal(ops.convert_to_tensor(self._started), _f64(0.0))
        if self.use_bias_correction:
            correction = (ops.sqrt(one - ops.power(_f64(beta_2), k + one))
                          / (one - ops.power(_f64(beta_1), k + one)))
        else:
            correction = one
        dlr = d * lr * correction
        s_scale = (d / d0) * (d if self.safeguard_warmup else dlr)

        # Pass 1, over all variables: the sums behind the new `d`.
        delta_numerator = ops.zeros((), _F64)
        d_denom = ops.zeros((), _F64)
        entries = []
        for grad, variable in zip(grads, trainable_variables):
            i = self._index(variable)
            dtype = variable.dtype
            x = ops.convert_to_tensor(variable)
            g = ops.cast(ops.convert_to_tensor(grad), dtype)
            decays = self._decays(variable)
            if decays and not self.decouple:
                g = g + x * _cast(self.weight_decay, dtype)
            x0 = ops.where(first, x, self._x0[i])
            dot = _f64(ops.sum(g * (x0 - x)))
            delta_numerator = delta_numerator + (d / d0) * dlr * dot
            s = (ops.convert_to_tensor(self._s[i]) * _cast(beta_3, dtype)
                 + g * _cast(s_scale, dtype))
            d_denom = d_denom + _f64(ops.sum(ops.abs(s)))
            entries.append((i, variable, dtype, x, g, x0, s, decays))

        active = ops.logical_and(lr > _f64(0.0), d_denom > _f64(0.0))
        d_numerator = (_f64(beta_3) * ops.convert_to_tensor(self._d_numerator)
                       + delta_numerator)
        d_hat = (_f64(self.d_coef) * d_numerator
                 / ops.where(active, d_denom, one))
        d_new = ops.where(ops.equal(d, d0), ops.maximum(d, d_hat), d)
        d_max_new = ops.maximum(d_max, d_hat)
        d_new = ops.minimum(d_max_new, d_new * _f64(self.growth_rate))

        # Pass 2, per variable: Adam with step size dlr and epsilon d' eps.
        for i, variable, dtype, x, g, x0, s, decays in entries:
            v = (ops.convert_to_tensor(self._exp_avg_sqs[i])
                 * _cast(beta_2, dtype)
                 + g * g * _cast(d * d * _f64(1.0 - beta_2), dtype))
            denom = ops.sqrt(v) + _cast(d_new * _f64(self.epsilon), dtype)
            x_new = x
            if decays and self.decouple:
                x_new = x_new + x_new * _cast(
                    -_f64(self.weight_decay) * dlr, dtype)
            if beta_1 > 0:
                m = (ops.convert_to_tensor(self._exp_avgs[i])
                     * _cast(beta_1, dtype)
                     + g * _cast(d * _f64(1.0 - beta_1), dtype))
                x_new = x_new + _cast(-dlr, dtype) * (m / denom)
                self.assign(self._exp_avgs[i],
                            ops.where(active, m, self._exp_avgs[i]))
            else:
                x_new = x_new + _cast(-dlr * d_new, dtype) * (g / denom)
            self.assign(self._exp_avg_sqs[i],
                        ops.where(active, v, self._exp_avg_sqs[i]))
            self.assign(self._s[i], ops.where(active, s, self._s[i]))
            self.assign(self._x0[i], x0)
            self.assign(variable, ops.where(active, x_new, x))

        self.assign(self._d, ops.where(active, d_new, d))
        self.assign(self._d_max, ops.where(active, d_max_new, d_max))
        self.assign(self._d_numerator,
                    ops.where(active, d_numerator, self._d_numerator))
        self.assign(self._k, ops.where(active, k + one, k))
        self.assign(self._started, one)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "beta_3": self.beta_3,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
            "decouple": self.decouple,
            "use_bias_correction": self.use_bias_correction,
            "safeguard_warmup": self.safeguard_warmup,
            "d0": self.d0,
            "d_coef": self.d_coef,
            "growth_rate": self.growth_rate,
        })
        return config


# --------------------------------------------------------------------------
# Schedule-Free AdamW


@register
class ScheduleFreeAdamW(_GlobalStepOptimizer):
    """AdamW without a schedule: interpolation and averaging (Schedule-Free).

    Schedule-Free AdamW replaces the LR schedule by an average of the
    iterates: it keeps a base sequence `z` (plain AdamW steps at a constant
    LR), its weighted average `x` (the weights to evaluate) and takes the
    gradient at `y`, a point between them (Defazio et al., NeurIPS 2024,
    [arXiv 2405.15682](https://arxiv.org/abs/2405.15682)). The update is the
    one of the authors' PyTorch package `schedulefree` (1.4.1,
    `AdamWScheduleFree`), step for step.

    The step count `k`, the largest LR so far `lr_max` and the sum of the
    averaging weights are global (float64); `z` and the second moment `v`
    are per variable. During training the model's weights hold `y`, and `x`
    is not stored: `x = (y - (1 - beta_1) z) / beta_1`. At each step, with `g`
    the gradient at `y`:

    ```
    lr_k  = learning_rate * min(1, (k + 1) / warmup_steps)
    lr_max = max(lr_max, lr_k)
    w_k   = (k + 1)^r * lr_max^weight_lr_power,   c = w_k / sum_{j<=k} w_j
    v     = beta_2 v + (1 - beta_2) g^2
    u     = g / (sqrt(v / (1 - beta_2^(k+1))) + epsilon) + weight_decay * y
    y     = (1 - c) y + c z + lr_k (beta_1 (1 - c) - 1) u
    z     = z - lr_k u
    ```

    Evaluate at `x`, not at the training weights `y`: `optimizer.eval()`
    puts `x` into the model (as the reference's `optimizer.eval()`) and
    `optimizer.train()` puts `y` back. The `ScheduleFreeEval` callback does it
    around every `evaluate` and `predict` it sees (the validation of `fit`
    included) and leaves `x` in the model when `fit` ends, ready for
    `evaluate`, `predict` and `save`. Call `train()` before training again
    without the callback: the gradient is taken before the optimizer runs,
    so a step taken while the model holds `x` uses a gradient at `x`. Such
    a step puts `y` back first and then goes on as the reference's
    `train()` followed by `step()` with that gradient (the reference raises
    instead). The mode is an optimizer variable, saved with the optimizer.

    Weight decay applies to every variable except those excluded with
    `exclude_from_weight_decay`; Keras' own `weight_decay` mechanism is not
    used. One device only (see the module docstring).

    Example:

    ```python
    model.compile(optimizer=ScheduleFreeAdamW(warmup_steps=100),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=10, validation_data=(x_val, y_val),
              callbacks=[ScheduleFreeEval()])  # validates at x
    model.evaluate(x_test, y_test)  # the model holds x after fit
    ```

    Args:
        learning_rate: float > 0, a
            `keras.optimizers.schedules.LearningRateSchedule` or a callable
            without arguments (no schedule is needed). Defaults to 0.0025
            (the reference's `lr`).
        beta_1: float in (0, 1). Interpolation between `x` and `z` (the
            momentum). Defaults to 0.9 (`betas[0]`).
        beta_2: float in [0, 1). Decay rate of the second moment. Defaults
            to 0.999 (`betas[1]`).
        epsilon: float > 0. Added to the bias-corrected root second moment.
            Defaults to 1e-8.
        weight_decay: float >= 0. Decay taken at `y`, added to the
            normalised gradient. Defaults to 0.
        warmup_steps: int >= 0. Linear LR warmup over this many steps.
            Defaults to 0.
        r: float >= 0. Polynomial weighting `(k + 1)^r` of the average.
            Defaults to 0.
        weight_lr_power: float >= 0. The averaging weights are
            `lr_max^weight_lr_power` (down-weights warmup). Defaults to 2.
        name: str or None. Name of the optimizer.
        **kwargs: the other arguments of `keras.optimizers.Optimizer`
            (`clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`,
            `ema_momentum`, `ema_overwrite_frequency`, `loss_scale_factor`,
            `gradient_accumulation_steps`).
    """

    def __init__(
        self,
        learning_rate=0.0025,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        weight_decay=0.0,
        warmup_steps=0,
        r=0.0,
        weight_lr_power=2.0,
        name="schedule_free_adamw",
        **kwargs,
    ):
        learning_rate = _check_learning_rate(learning_rate)
        if (not isinstance(warmup_steps, numbers.Integral)
                or isinstance(warmup_steps, bool) or warmup_steps < 0):
            raise ValueError(
                "`warmup_steps` must be an integer >= 0. "
                f"Received warmup_steps={warmup_steps!r}")
        checked = dict(
            beta_1=_check_range("beta_1", beta_1, 0.0, 1.0, low_open=True),
            beta_2=_check_range("beta_2", beta_2, 0.0, 1.0),
            epsilon=_check_range("epsilon", epsilon, 0.0, low_open=True),
            warmup_steps=int(warmup_steps),
            r=_check_range("r", r, 0.0),
            weight_lr_power=_check_range("weight_lr_power", weight_lr_power,
                                         0.0),
        )
        weight_decay = 0.0 if weight_decay is None else _check_range(
            "weight_decay", weight_decay, 0.0)
        self._init_base(learning_rate, weight_decay, name, kwargs)
        for key, value in checked.items():
            setattr(self, key, value)

    def build(self, var_list):
        """Creates the global scalars and the per-variable slots."""
        if self.built:
            return
        self._check_single_replica()
        super().build(var_list)
        self._k = self._scalar("k", 0.0)
        self._lr_max = self._scalar("lr_max", -1.0)
        self._weight_sum = self._scalar("weight_sum", 0.0)
        self._train_mode = self._scalar("train_mode", 1.0)  # 1: y, 0: x
        self._sf_variables = list(var_list)
        self._z = self._slots(var_list, "z")
        self._exp_avg_sqs = self._slots(var_list, "exp_avg_sq")

    @property
    def train_mode(self):
        """True while the model holds `y` (training), False while `x`."""
        return not self.built or float(self._train_mode.numpy()) == 1.0

    def _swap(self, weight):
        """Every variable `p <- lerp(p, z, weight)` once a step was taken."""
        if float(self._k.numpy()) == 0:  # no step yet: x = y, no z
            return
        for variable, z in zip(self._sf_variables, self._z):
            if z is None:
                continue
            dtype = variable.dtype
            self.assign(variable, _torch_lerp(
                ops.convert_to_tensor(variable), ops.convert_to_tensor(z),
                _cast(weight, dtype)))

    def eval(self):
        """Puts `x` into the model, for evaluation (reference: `eval()`)."""
        if not self.built or not self.train_mode:
            return
        self._swap(1.0 - 1.0 / self.beta_1)
        self._train_mode.assign(0.0)

    def train(self):
        """Puts `y` back into the model, for training (reference: `train()`)."""
        if not self.built or self.train_mode:
            return
        self._swap(1.0 - self.beta_1)
        self._train_mode.assign(1.0)

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        grads = self._dense(grads)
        beta_1, beta_2 = self.beta_1, self.beta_2
        one = _f64(1.0)
        k = ops.convert_to_tensor(self._k)
        first = ops.equal(k, _f64(0.0))
        if self.warmup_steps > 0:
            warmup = _f64(self.warmup_steps)
            sched = ops.where(k < warmup, (k + one) / warmup, one)
        else:
            sched = one
        lr = _f64(learning_rate) * sched
        lr_max = ops.maximum(lr, ops.convert_to_tensor(self._lr_max))
        weight = (ops.power(k + one, _f64(self.r))
                  * ops.power(lr_max, _f64(self.weight_lr_power)))
        weight_sum = ops.convert_to_tensor(self._weight_sum) + weight
        zero_sum = ops.equal(weight_sum, _f64(0.0))
        ckp1 = ops.where(zero_sum, _f64(0.0),
                         weight / ops.where(zero_sum, one, weight_sum))
        bias_correction2 = one - ops.power(_f64(beta_2), k + one)
        y_step = lr * (_f64(beta_1) * (one - ckp1) - one)
        # A step in eval mode first puts y back into every variable (its
        # gradient was taken at x: the model held x).
        to_train = ops.logical_and(
            ops.equal(ops.convert_to_tensor(self._train_mode), _f64(0.0)),
            ops.logical_not(first))

        updated = set()
        for grad, variable in zip(grads, trainable_variables):
            i = self._index(variable)
            updated.add(i)
            dtype = variable.dtype
            z = ops.convert_to_tensor(self._z[i])
            y = ops.convert_to_tensor(variable)
            y = ops.where(to_train,
                          _torch_lerp(y, z, _cast(1.0 - beta_1, dtype)), y)
            z = ops.where(first, y, z)
            g = ops.cast(ops.convert_to_tensor(grad), dtype)
            v = (ops.convert_to_tensor(self._exp_avg_sqs[i])
                 * _cast(beta_2, dtype) + g * g * _cast(1.0 - beta_2, dtype))
            denom = (ops.sqrt(v / _cast(bias_correction2, dtype))
                     + _cast(self.epsilon, dtype))
            u = g / denom
            if self._decays(variable):
                u = u + y * _cast(self.weight_decay, dtype)
            y = _torch_lerp(y, z, _cast(ckp1, dtype))
            y = y + u * _cast(y_step, dtype)
            z = z - u * _cast(lr, dtype)
            self.assign(self._exp_avg_sqs[i], v)
            self.assign(self._z[i], z)
            self.assign(variable, y)
        for i, (variable, z) in enumerate(zip(self._sf_variables, self._z)):
            if i in updated or z is None:
                continue
            y = ops.convert_to_tensor(variable)
            self.assign(variable, ops.where(
                to_train,
                _torch_lerp(y, ops.convert_to_tensor(z),
                            _cast(1.0 - beta_1, variable.dtype)), y))

        self.assign(self._k, k + one)
        self.assign(self._lr_max, lr_max)
        self.assign(self._weight_sum, weight_sum)
        self.assign(self._train_mode, one)

    def get_config(self):
        config = super().get_config()
        config.update({
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "weight_decay": self.weight_decay,
            "warmup_steps": self.warmup_steps,
            "r": self.r,
            "weight_lr_power": self.weight_lr_power,
        })
        return config


def _schedule_free_optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # loss scale
    return optimizer if isinstance(optimizer, ScheduleFreeAdamW) else None


class ScheduleFreeEval(keras.callbacks.Callback):
    """Evaluates a `ScheduleFreeAdamW` model at `x`, trains it at `y`.

    Mirrors the reference's `optimizer.eval()` / `optimizer.train()` calls:
    `train()` when `fit` begins, `eval()` before every `evaluate` and
    `predict` it is passed to (the validation inside `fit` included) and
    back to the previous mode after, and `eval()` when `fit` ends, so that
    the model holds `x` for what follows (`evaluate`, `predict`, `save`).
    Does nothing for other optimizers.

    Example:

    ```python
    model.compile(optimizer=ScheduleFreeAdamW(), loss="mse")
    model.fit(x, y, validation_split=0.1, callbacks=[ScheduleFreeEval()])
    model.predict(x_new)  # at x
    ```
    """

    def __init__(self):
        super().__init__()
        self._resume_training = []

    def _optimizer(self):
        return _schedule_free_optimizer(self.model)

    def on_train_begin(self, logs=None):
        if self._optimizer() is not None:
            self._optimizer().train()

    def on_train_end(self, logs=None):
        if self._optimizer() is not None:
            self._optimizer().eval()

    def _begin_eval(self):
        optimizer = self._optimizer()
        if optimizer is not None:
            self._resume_training.append(optimizer.train_mode)
            optimizer.eval()

    def _end_eval(self):
        optimizer = self._optimizer()
        if optimizer is not None and self._resume_training:
            if self._resume_training.pop():
                optimizer.train()

    def on_test_begin(self, logs=None):
        self._begin_eval()

    def on_test_end(self, logs=None):
        self._end_eval()

    def on_predict_begin(self, logs=None):
        self._begin_eval()

    def on_predict_end(self, logs=None):
        self._end_eval()
