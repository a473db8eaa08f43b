"""Putting the `AutoLRSchedule` on the optimizers `AutoLR` drives, and taking it off.

Zero-config, `AutoLR` replaces each optimizer's learning rate with one
shared schedule (warning when it replaces another schedule); in the pair
form it checks that the optimizer already has the schedule it was given.
Either way the schedule's decision goes into the optimizer's checkpoint
(schedule_state.py). When `fit` fails before training (a check, a missing
loss), the replaced learning rates are put back. One `AutoLR` per optimizer
and `fit`: `claim` refuses a second.
"""

import warnings

from keras_autolr import _copying
from keras_autolr import _keras
from keras_autolr import schedule_state
from keras_autolr._keras import keras
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr.training import fit_checks

# The warmup/decay options a zero-config schedule takes from the template.
SCHEDULE_OPTIONS = ("min_lr", "max_lr", "max_warmup_fraction", "warmup",
                    "decay", "cooldown_fraction")

OWNERS = {}  # id(optimizer) -> (AutoLR, params of its fit) during a fit


class ScheduleInstaller:
    """Puts one `AutoLRSchedule` on optimizers, and their own learning rates back.

    Example:

    ```python
    installer = ScheduleInstaller(AutoLRSchedule(total_steps=1000))
    installer.install(model.optimizer, model)  # replaces the LR, e.g. 1e-3
    installer.own_lr  # 0.001: the floor of the peak LR
    installer.uninstall()  # an error before training: 1e-3 again
    ```

    Args:
        template: `AutoLRSchedule`. The zero-config schedule is a copy of its
            warmup/decay options and `total_steps`.
        schedule: `AutoLRSchedule` or None. The pair form's schedule, given
            to the optimizer by the user: checked, never replaced.

    Attributes:
        schedule: the `AutoLRSchedule` in use: the pair form's, one found on
            the optimizer (a loaded model), or the zero-config copy of the
            template; None before the first `install` (zero-config).
        own_lr: float or None. The lowest constant learning rate replaced.
        replaced: list of `(optimizer, learning rate)` replaced since the
            last `uninstall`, or None.
        resuming: bool. True when the run resumes from AutoLR's state file
            (`AutoLR(backup_dir=...)` holds one): an optimizer restored to a
            step past 0 with its own LR (a TensorFlow checkpoint) is then
            taken over; else it is refused (`fit_checks.trained_without_autolr`).
    """

    def __init__(self, template, schedule=None):
        self.template = template
        self.user_schedule = schedule
        self.schedule = schedule
        self.own_lr = None
        self.replaced = None
        self.resuming = False

    def __deepcopy__(self, memo):
        """A copy without `replaced`: the LRs to put back belong to one `fit`.

        (Keras 2's optimizers cannot be deep-copied once they have run.)
        """
        return _copying.deepcopy_without(self, memo, ("replaced",))

    def install(self, optimizer, model=None, report=None):
        """Puts the schedule on the optimizer and its decision in its checkpoint.

        Args:
            optimizer: the optimizer (the inner one of a Keras 2
                mixed-precision wrapper).
            model: the model or None. Its train function, if traced, is
                traced anew when the learning rate is replaced.
            report: callable or None. Gets the line that says the learning
                rate was replaced.

        Raises:
            ValueError: pair form, and the optimizer has another schedule.
        """
        # Two frames here: the replaced-schedule warning names install's caller.
        self._put_schedule(optimizer, model, report)
        wrapper = getattr(model, "optimizer", None)
        if getattr(wrapper, "inner_optimizer", None) is not optimizer:
            wrapper = None  # not a wrapper of this optimizer (mixed precision)
        schedule_state.attach(optimizer, self.schedule, wrapper)

    def _put_schedule(self, optimizer, model, report):
        """Puts the schedule on the optimizer (zero-config) or checks it (pair)."""
        current = _keras.raw_learning_rate(optimizer)
        if self.user_schedule is not None:
            self.schedule = self.user_schedule
            if current is self.schedule:
                return
        elif isinstance(current, AutoLRSchedule):
            self.schedule = current  # e.g. a model loaded with its schedule
            return
        elif self.schedule is None:
            self.schedule = AutoLRSchedule(
                total_steps=self.template.total_steps,
                **{k: getattr(self.template, k) for k in SCHEDULE_OPTIONS},
            )
        if current is self.schedule:
            return
        error = (None if self.resuming
                 else fit_checks.trained_without_autolr(optimizer))
        if error is not None:
            self.uninstall()  # another optimizer of the list, replaced before
            raise error
        if isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
            if self.user_schedule is not None:
                raise ValueError(
                    "The optimizer already has another learning-rate schedule, "
                    "and `AutoLR(schedule=...)` was given a different one. Give "
                    "the same `AutoLRSchedule` to both. Received "
                    f"optimizer learning_rate={current!r}"
                )
            described = type(current).__name__
            warnings.warn(
                f"AutoLR: the learning rate of {type(optimizer).__name__} is "
                f"already a schedule, {described}; AutoLR replaces it with an "
                "AutoLRSchedule (warmup, then decay to 0 at the end of the "
                f"budget), and {described} is not used. To keep "
                f"{described}, remove AutoLR from the callbacks. Received "
                f"learning_rate={current!r}",
                UserWarning, stacklevel=4)
        else:
            own_lr = _keras.constant_learning_rate(optimizer)
            # Several optimizers share one schedule: the floor is the lowest.
            self.own_lr = own_lr if self.own_lr is None else min(self.own_lr, own_lr)
            described = f"{own_lr:g}"
        self.replaced = self.replaced or []
        self.replaced.append((optimizer, current))
        optimizer.learning_rate = self.schedule
        # A train function traced before now (an earlier `fit`) holds the
        # old learning rate: trace it anew.
        if getattr(model, "train_function", None) is not None:
            model.make_train_function(force=True)
        if report is not None:
            report(f"AutoLR: replacing the learning rate of "
                   f"{type(optimizer).__name__} ({described}) with AutoLRSchedule.")

    def uninstall(self):
        """Puts back the learning rates `install` replaced since the last call."""
        for optimizer, value in self.replaced or ():
            _keras.set_raw_learning_rate(optimizer, value)
        self.replaced = None


def driven(model, optimizers=None):
    """The optimizers AutoLR sets the LR of: `optimizers`, else the model's.

    A model compiled with a `MultiOptimizer` has its sub-optimizers driven,
    sharing one schedule as a list given to `AutoLR(optimizer=...)` does,
    when they have one learning rate (see `check_multi_optimizer`).

    Args:
        model: the Keras model, or None.
        optimizers: list of optimizers or None (`AutoLR(optimizer=...)`).

    Returns:
        A list; empty when neither is given nor compiled.

    Raises:
        ValueError: the model's `MultiOptimizer` has sub-optimizers with
            different learning rates, and `optimizers` is None.
    """
    if optimizers is not None:
        # Keras 2 wraps optimizers for mixed precision; the LR is inside.
        return [getattr(o, "inner_optimizer", o) for o in optimizers]
    if getattr(model, "optimizer", None) is None:
        return []
    optimizer = _keras.optimizer_of(model)
    if _keras.sub_optimizers(optimizer) is None:
        return [optimizer]
    # Built, it knows which sub-optimizers train: fit would build it next.
    if getattr(model, "trainable_variables", None):
        _keras.build_model_optimizer(model)
    inner = _keras.sub_optimizers(optimizer)
    check_multi_optimizer(
        inner, "AutoLR drives one learning rate, shared by the optimizers it drives",
        "Pass the sub-optimizers to drive to `AutoLR(optimizer=[...])` (the "
        "others keep their own learning rate), or give them one learning rate.")
    return inner


def check_multi_optimizer(inner, what, remedy):
    """Refuses a `MultiOptimizer` whose sub-optimizers have different LRs.

    One schedule drives every optimizer AutoLR drives (one sweep, for
    `find_lr`): the sub-optimizers' ratios (a pretrained base at 1e-5 under
    a new head at 1e-3) would be lost, the base swept to the head's LR and
    past it. The user picks which to drive instead.

    Args:
        inner: the sub-optimizers that train (`_keras.sub_optimizers`).
        what: str. What takes one LR, the error's first words.
        remedy: str. What to do instead.

    Raises:
        ValueError: two constant learning rates differ.
    """
    rates = {}
    for each in inner:
        # A schedule: AutoLR's own (a later chunk), or replaced with a warning.
        own_lr = _keras.constant_learning_rate(each)
        if own_lr is not None:
            rates[f"{type(each).__name__} {each.name!r}"] = own_lr
    if len(set(rates.values())) > 1:
        listed = ", ".join(f"{name}: {lr:g}" for name, lr in rates.items())
        raise ValueError(
            f"{what}, and the sub-optimizers of this MultiOptimizer have "
            f"different ones, which one schedule would erase. {remedy} "
            f"Received MultiOptimizer learning rates {listed}"
        )


def claim(optimizer, callback, params):
    """Marks `callback` the driver of `optimizer` in the `fit` of `params`.

    Kept outside the optimizer (Keras wraps attributes it tracks); the
    callback takes its claims off in `on_train_end`.

    Raises:
        ValueError: another AutoLR drives it in the same `fit`.
    """
    owner = OWNERS.get(id(optimizer))
    if owner is not None and owner[0] is not callback and owner[1] is params:
        raise ValueError(
            "Two AutoLR callbacks are in the same `fit`; each would "
            "drive the learning rate. Pass one. Received callbacks "
            f"{owner[0]!r} and {callback!r}"
        )
    OWNERS[id(optimizer)] = (callback, params)


def release(optimizer):
    """Takes off the claim on `optimizer` (the `fit` that made it ended)."""
    OWNERS.pop(id(optimizer), None)
