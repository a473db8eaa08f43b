"""`AutoLRSchedule`: adaptive warmup, then a predefined decay to zero."""

import math

import numpy as np

from keras_autolr import _keras
from keras_autolr import _validation
from keras_autolr import schedule_state
from keras_autolr import warmup as warmup_lib
from keras_autolr._keras import keras
from keras_autolr._keras import ops
from keras_autolr._keras import register_serializable

_NOT_SWITCHED = -1


@register_serializable
class AutoLRSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential (or linear) warmup until a switch, then decay to zero.

    The learning rate is a pure function of the optimizer step `t` and two
    state variables, the switch step `s` and the peak LR `p`, which the
    `AutoLR` callback sets once, when its detector finds that the loss
    minimum lies in the past. The math is `keras.ops`, run in-graph on every
    backend, so the schedule works under XLA and `jit_compile`, under
    `tf.distribute` and inside `steps_per_execution > 1` loops, where the
    host only acts between executions. On JAX the two state variables are
    among the optimizer's variables (`AutoLR` puts them there), the only
    ones a compiled JAX step reads anew at every call.

    With budget `T = total_steps` and `W = floor(max_warmup_fraction * T)`:

    - warmup (`t < s`): `min_lr * gamma**t` with
      `gamma = (max_lr / min_lr)**(1 / W)` (`warmup="exponential"`) or
      `min_lr + (max_lr - min_lr) * t / W` (`warmup="linear"`).
    - decay (`s <= t < T`), with `f = (t - s) / (T - s)`:
      `"cosine"`: `p / 2 * (1 + cos(pi * f))`;
      `"linear"`: `p * (1 - f)`;
      `"constant_then_cosine"`: `p` until `c = max(s, (1 - cooldown_fraction) * T)`,
      then cosine from `c` to `T`.
    - `t >= T`: exactly 0.

    Before a switch, `s = W` and `p = lr(W) = max_lr`: a warmup that reaches
    its cap decays from there without any host involvement.

    The sweep runs on a lease: while `AutoLR` drives the schedule it
    authorises the warmup up to a step `L` a little past its next look at
    the loss (`lease`), and from `L` on, with no switch, the LR is `min_lr`
    (the optimizer's own LR, zero-config). A `fit` stopped during the sweep
    (an interrupt, another callback's exception: Keras calls no
    `on_train_end` then) and followed by a `fit` without `AutoLR`, or a
    model saved during the sweep and trained again without it, trains with
    that LR instead of sweeping on to `max_lr`. While warming up, the
    switch-step variable holds the lease as `-(L + 1)`; `-1` is no lease
    (a schedule no `AutoLR` drives sweeps to its cap, as before).

    Example:

    ```python
    schedule = keras_autolr.AutoLRSchedule(total_steps=1000)
    optimizer = keras.optimizers.Lamb(learning_rate=schedule)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10, callbacks=[keras_autolr.AutoLR(schedule=schedule)])
    ```

    Args:
        total_steps: int or None. The budget in optimizer steps. None lets the
            `AutoLR` callback fill it in from `fit` (steps per epoch x epochs).
        min_lr: float. LR at step 0. Defaults to 1e-5.
        max_lr: float. LR at the end of the longest warmup. Defaults to 1.0.
        max_warmup_fraction: float in (0, 1]. Longest warmup, as a fraction of
            the budget. Defaults to 0.5.
        warmup: `"exponential"` (default, the paper's) or `"linear"`.
        decay: `"cosine"` (default), `"constant_then_cosine"` or `"linear"`.
        cooldown_fraction: float in (0, 1]. Fraction of the budget spent in the
            cosine of `"constant_then_cosine"`. Defaults to 0.2.
        switch_step: int or None. Initial state: the step at which decay
            starts (None: not switched). Set by `AutoLR`; kept by `get_config`
            so that a saved model resumes its decay, and, on the optimizers
            `AutoLR` drives, in their checkpoints (`checkpoint_state`).
        peak_lr: float or None. Initial state: the LR decay starts from.
        name: str. Name scope of the ops.
        lease_end: int or None. Initial state, while warming up: the step
            from which the sweep runs at `min_lr` (see `lease`; None: no
            lease). Set by `AutoLR`; kept by `get_config`, so that a model
            saved during the sweep and trained without `AutoLR` does not
            sweep on.
    """

    def __init__(
        self,
        total_steps=None,
        min_lr=1e-5,
        max_lr=1.0,
        max_warmup_fraction=0.5,
        warmup="exponential",
        decay="cosine",
        cooldown_fraction=0.2,
        switch_step=None,
        peak_lr=None,
        name="AutoLRSchedule",
        lease_end=None,
    ):
        super().__init__()
        self.total_steps = _validation.positive_int(
            "total_steps", total_steps, allow_none=True
        )
        self.min_lr, self.max_lr = _validation.lr_range(min_lr, max_lr)
        self.max_warmup_fraction = _validation.fraction(
            "max_warmup_fraction", max_warmup_fraction
        )
        self.warmup = _validation.choice(
            "warmup", warmup, _validation.WARMUP_KINDS
        )
        self.decay = _validation.choice("decay", decay, _validation.DECAY_KINDS)
        self.cooldown_fraction = _validation.fraction(
            "cooldown_fraction", cooldown_fraction
        )
        if switch_step is not None:
            switch_step = _validation.non_negative_int("switch_step", switch_step)
            if peak_lr is None:
                raise ValueError(
                    "`peak_lr` is required with `switch_step`. "
                    f"Received switch_step={switch_step}, peak_lr=None"
                )
            peak_lr = _validation.positive_float("peak_lr", peak_lr)
            lease_end = None  # a switch ends the lease
        lease_end = _validation.positive_int("lease_end", lease_end, allow_none=True)
        self._initial_switch = (switch_step, peak_lr)
        self.name = name
        self._state = None
        self._built = False  # reports its variables (see `build`)
        self._checkpoint_state = None
        self._loaded_state = None  # read from a checkpoint before `build`
        self._lease_end = lease_end  # host copy of the lease `L` (see `lease`)

    def use_own_lr(self, learning_rate):
        """Keeps `learning_rate` constant over the whole budget (short budgets).

        The warmup becomes a flat line at `learning_rate` (to float32
        rounding) whose cap is the end of the budget, so training sees the
        optimizer's own constant LR, as without AutoLR, and no decay: on a
        budget too short to sweep, a decay from the own LR trained less than
        the own LR kept constant (benchmarks/optimizers.py, a 13-step
        cell: 24.4 % against 39.4 %). Call it before the first training step
        is traced.
        """
        learning_rate = _validation.positive_float("learning_rate", learning_rate)
        self.min_lr, self.max_lr = _validation.lr_range(
            learning_rate * (1.0 - 1e-6), learning_rate)
        self.max_warmup_fraction = 1.0
        self.warmup = "linear"

    # ------------------------------------------------------------------ state
    def build(self, strategy=None):
        """Creates the state variables, under `strategy`'s scope if given.

        `AutoLR` calls this in `on_train_begin` under the model's
        distribution strategy, so the variables are mirrored on every
        replica. Standalone use builds lazily on the first call. From here
        on the schedule reports the state of its variables, a checkpoint
        read before now included.
        """
        if self._built:
            return
        self.create_state_variables(strategy)
        self._built = True
        if self._loaded_state is not None:  # a Keras 3 file read before now
            self._load_state_values(*self._loaded_state)
            self._loaded_state = None
        # A TensorFlow checkpoint read before now is applied here
        # (TensorFlow's restore-on-create).
        self.checkpoint_state.track(self._state)

    def create_state_variables(self, strategy=None):
        """Makes the two state variables, holding the initial state; no more.

        On JAX, `AutoLR` makes them when it puts the schedule on an
        optimizer (`schedule_state.attach`), before `fit` hands the
        optimizer's variables to its compiled step; `build` still marks the
        point from which they are reported (a file loaded in between is
        applied then, as on the other backends).

        Returns:
            The variables `(switch_step, peak_lr)`.
        """
        if self._state is None:
            switch_step, peak_lr = self._initial_switch
            scope = strategy.scope() if strategy is not None else _null_scope()
            with scope, _keras.init_scope():
                self._state = {
                    "switch_step": _keras.state_variable(
                        _encode_lease(self._lease_end) if switch_step is None
                        else switch_step,
                        _keras.STEP_DTYPE, "switch_step"),
                    "peak_lr": _keras.state_variable(
                        0.0 if peak_lr is None else peak_lr, "float32",
                        "peak_lr"),
                }
        return self.state_variables

    @property
    def checkpoint_state(self):
        """The `ScheduleState` that carries the decision in an optimizer's checkpoint.

        `AutoLR` puts it on the optimizers it drives (`schedule_state.attach`),
        so `ModelCheckpoint`, `BackupAndRestore`, `tf.train.Checkpoint` and
        `.keras` files save and restore the switch step and peak LR with the
        optimizer's slots.
        """
        if self._checkpoint_state is None:
            self._checkpoint_state = schedule_state.ScheduleState(self)
        return self._checkpoint_state

    @property
    def state_variables(self):
        """The two state variables `(switch_step, peak_lr)`, once made; else ()."""
        if self._state is None:
            return ()
        return (self._state["switch_step"], self._state["peak_lr"])

    def _state_values(self):
        """`(switch_step, peak_lr)` as stored: -1 or a lease, and the cap's LR, while warming up."""
        if self._built:
            return (int(self._state["switch_step"].numpy()),
                    float(self._state["peak_lr"].numpy()))
        if self._loaded_state is not None:
            return self._loaded_state
        switch_step, peak_lr = self._initial_switch
        if switch_step is None:
            return _encode_lease(self._lease_end), 0.0
        return switch_step, peak_lr

    def _load_state_values(self, switch_step, peak_lr):
        """Sets the state read from a checkpoint (see `_state_values`).

        Before `build`, kept until the variables exist: until then the
        schedule reports its initial state, as it did when the run that
        wrote the checkpoint started (`AutoLR` chooses the sweep from it).
        """
        switch_step = int(switch_step)
        self._lease_end = _lease_end_of(switch_step)
        if not self._built:
            self._loaded_state = (switch_step, float(peak_lr))
            return
        self._state["peak_lr"].assign(peak_lr)
        self._state["switch_step"].assign(switch_step)

    @property
    def switch_step(self):
        """The step decay starts at, or None while warming up."""
        if not self._built:
            return self._initial_switch[0]
        value = int(self._state["switch_step"].numpy())
        return None if value < 0 else value  # -1, or a lease (see `lease`)

    @property
    def peak_lr(self):
        """The LR decay starts from, or None while warming up."""
        if self.switch_step is None:
            return None
        if not self._built:
            return self._initial_switch[1]
        return float(self._state["peak_lr"].numpy())

    @property
    def warmup_steps(self):
        """`W`, the longest warmup allowed, in steps."""
        self._require_budget()
        return warmup_lib.warmup_steps(self.total_steps, self.max_warmup_fraction)

    def switch(self, step, peak_lr):
        """Ends warmup: decay from `peak_lr` starts at `step`. Host-side."""
        self.build()
        self._lease_end = None
        self._state["peak_lr"].assign(float(peak_lr))
        self._state["switch_step"].assign(int(step))

    def reset(self):
        """Back to warmup: no switch. Host-side (used when a run resumes).

        A lease given before (`lease`) holds on.
        """
        self.build()
        self._state["switch_step"].assign(_encode_lease(self._lease_end))
        self._state["peak_lr"].assign(float(self._warmup_graph(self.warmup_steps)))

    def lease(self, until_step):
        """Authorises the warmup sweep for the steps before `until_step`. Host-side.

        From `until_step` on, while warmup has not switched, the LR is
        `min_lr`: a sweep no host watches (a `fit` without `AutoLR` after
        an interrupted one) does not climb on to `max_lr`. `AutoLR` renews
        it past each of its looks at the loss; `lease(None)` lifts it (the
        sweep runs to its cap, as a schedule no `AutoLR` drives). Does
        nothing once warmup has switched.
        """
        if until_step is not None:
            until_step = _validation.positive_int("until_step", until_step)
        self.build()
        if self.switch_step is not None:
            return
        self._lease_end = until_step
        self._state["switch_step"].assign(_encode_lease(until_step))

    @property
    def lease_end(self):
        """The lease `L` last written or loaded, or None (none, or switched).

        The host's copy: reading it costs no read of the state.
        """
        return self._lease_end

    def warmup_lr(self, step):
        """The warmup curve at `step` on the host (NumPy), for the detector."""
        return warmup_lib.warmup_lr(
            np.asarray(step, dtype=np.float64),
            min_lr=self.min_lr, max_lr=self.max_lr,
            warmup_steps=self.warmup_steps, kind=self.warmup,
        )

    def _require_budget(self):
        if self.total_steps is None:
            raise ValueError(
                "`AutoLRSchedule.total_steps` is not set. Pass `total_steps=` "
                "or let the `AutoLR` callback set it from `fit`. "
                "Received total_steps=None"
            )

    # ------------------------------------------------------------------- math
    def __call__(self, step):
        if self.total_steps is None and not _keras.is_traced(step):
            # Keras 2 optimizers call their schedule once when constructed,
            # before `AutoLR` knows the budget: the LR at step 0 is min_lr
            # whatever the budget. A traced train step still requires it.
            return ops.full_like(ops.cast(step, "float32"), self.min_lr,
                                 dtype="float32")
        self._require_budget()
        switch_step, peak_lr = self._state_tensors()
        if _keras.BACKEND == "jax" and not _keras.is_traced(step):
            # An eager call on the host (logs, TensorBoard): one compiled
            # function, not a compilation and a dispatch per op.
            return self._compiled_math()(*(ops.convert_to_tensor(value) for value in (
                step, switch_step, peak_lr)))
        return self._math(step, switch_step, peak_lr)

    def _compiled_math(self):
        """`_math` compiled by JAX for this schedule's settings (cached)."""
        import jax  # only on the JAX backend

        key = (self.total_steps, self.warmup_steps, self.min_lr, self.max_lr,
               self.warmup, self.decay, self.cooldown_fraction)
        if getattr(self, "_compiled", (None,))[0] != key:
            # A new function object: JAX's trace cache is keyed on the
            # function, and the settings are constants of the trace.
            self._compiled = (key, jax.jit(lambda *args: self._math(*args)))
        return self._compiled[1]

    def _math(self, step, switch_step, peak_lr):
        """The LR of `step` given the state: the schedule's in-graph math."""
        with _keras.name_scope(self.name):
            t = ops.cast(step, "float32")
            total = float(self.total_steps)
            cap = float(self.warmup_steps)
            switched = ops.greater_equal(switch_step, 0)
            s = ops.where(switched, ops.cast(switch_step, "float32"), cap)
            p = ops.where(switched, ops.cast(peak_lr, "float32"),
                          self._warmup_graph(cap))
            warm = self._warmup_graph(t)
            decayed = self._decay_graph(t, s, p, total)
            lr = ops.where(ops.less(t, s), warm, decayed)
            # A lease (`lease`), switch_step = -(L + 1) <= -2: from L on,
            # without a switch, the sweep's start, `min_lr`.
            lease_end = -ops.cast(switch_step, "float32") - 1.0
            expired = ops.logical_and(ops.less(switch_step, -1),
                                      ops.greater_equal(t, lease_end))
            lr = ops.where(expired, ops.full_like(lr, self.min_lr, dtype="float32"), lr)
            return ops.where(ops.greater_equal(t, total), ops.zeros_like(lr), lr)

    def _state_tensors(self):
        """The switch step and peak LR the math reads: the variables, built now.

        Except in a compiled JAX step of an optimizer no `AutoLR` drives
        (the schedule alone): no variable can be made there, and nothing
        would ever change it, so the initial state is read as constants.
        """
        if self._state is None and _keras.in_stateless_scope():
            switch_step, peak_lr = self._state_values()
            return (ops.convert_to_tensor(switch_step, _keras.STEP_DTYPE),
                    ops.convert_to_tensor(peak_lr, "float32"))
        self.build()
        return self._state["switch_step"], self._state["peak_lr"]

    def _warmup_graph(self, t):
        if isinstance(t, (int, float, np.number)):  # a host number
            return float(self.warmup_lr(t))
        return warmup_lib.warmup_lr(
            t, min_lr=self.min_lr, max_lr=self.max_lr,
            warmup_steps=float(self.warmup_steps), kind=self.warmup,
            xp=ops,
        )

    def _decay_graph(self, t, s, p, total):
        if self.decay == "constant_then_cosine":
            s = ops.maximum(s, (1.0 - self.cooldown_fraction) * total)
        span = ops.maximum(total - s, 1.0)
        f = ops.clip((t - s) / span, 0.0, 1.0)
        if self.decay == "linear":
            return p * (1.0 - f)
        return p * 0.5 * (1.0 + ops.cos(math.pi * f))

    # ---------------------------------------------------------- serialization
    def __reduce__(self):
        """Pickled and deep-copied as its config: the shape and the decision.

        Its variables and checkpoint object (`checkpoint_state`) belong to
        the optimizers that read it; a copy makes its own when built.
        Without this, `copy.deepcopy` of a built schedule, or of an `AutoLR`
        after its `fit` (keras_tuner copies the callbacks of each trial,
        scikit-learn's `clone` the parameters), failed in Keras' own
        pickling of the checkpoint object.
        """
        return (_from_config, (type(self), self.get_config()))

    def get_config(self):
        config = {
            "total_steps": self.total_steps,
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "max_warmup_fraction": self.max_warmup_fraction,
            "warmup": self.warmup,
            "decay": self.decay,
            "cooldown_fraction": self.cooldown_fraction,
            "switch_step": self.switch_step,
            "peak_lr": self.peak_lr,
            "name": self.name,
        }
        lease_end = _lease_end_of(self._state_values()[0])
        if lease_end is not None:  # only then: older versions load the rest
            config["lease_end"] = lease_end
        return config


def _encode_lease(lease_end):
    """The switch-step value of a schedule warming up under `lease_end` (or None)."""
    return _NOT_SWITCHED if lease_end is None else -(int(lease_end) + 1)


def _lease_end_of(switch_step):
    """The lease a stored switch-step value holds, or None (switched, or none)."""
    return -switch_step - 1 if switch_step < _NOT_SWITCHED else None


def _from_config(cls, config):
    """`cls.from_config(config)`: `AutoLRSchedule.__reduce__`'s reconstructor."""
    return cls.from_config(config)


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
