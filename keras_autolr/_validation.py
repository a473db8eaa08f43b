"""Argument checks shared by the schedule, the detector and the callback.

Every check raises before training starts, with a message that names the
argument and the value received, in the style of Keras' own callbacks
(`"... Received factor=1.5"`).
"""

import numbers
import os

WARMUP_KINDS = ("exponential", "linear")
DECAY_KINDS = ("cosine", "constant_then_cosine", "linear")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_float(name, value):
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a number. Received {name}={value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(
            f"`{name}` must be a finite number > 0. Received {name}={value!r}"
        )
    return float(value)


def fraction(name, value, *, include_one=True):
    """A number in (0, 1] (or (0, 1) when `include_one=False`)."""
    if not _is_real(value):
        raise TypeError(f"`{name}` must be a number. Received {name}={value!r}")
    upper_ok = value <= 1 if include_one else value < 1
    if not (value > 0 and upper_ok):
        interval = "(0, 1]" if include_one else "(0, 1)"
        raise ValueError(
            f"`{name}` must be in {interval}. Received {name}={value!r}"
        )
    return float(value)


def positive_int(name, value, *, allow_none=False):
    if value is None and allow_none:
        return None
    if not _is_int(value):
        raise TypeError(
            f"`{name}` must be a positive integer. Received {name}={value!r}"
        )
    if value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received {name}={value!r}"
        )
    return int(value)


def non_negative_int(name, value):
    if not _is_int(value) or value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer. Received {name}={value!r}"
        )
    return int(value)


def choice(name, value, options):
    if value not in options:
        raise ValueError(
            f"`{name}` must be one of {list(options)}. Received {name}={value!r}"
        )
    return value


def lr_range(min_lr, max_lr):
    min_lr = positive_float("min_lr", min_lr)
    max_lr = positive_float("max_lr", max_lr)
    if min_lr >= max_lr:
        raise ValueError(
            "`min_lr` must be smaller than `max_lr`. "
            f"Received min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    return min_lr, max_lr


def check_every(value):
    if value in ("auto", "epoch"):
        return value
    if _is_int(value):
        return positive_int("check_every", value)
    raise ValueError(
        "`check_every` must be 'auto', 'epoch' or a positive integer. "
        f"Received check_every={value!r}"
    )


def boolean(name, value):
    """`value` when it is True or False, else a `TypeError` naming `name`."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False. Received {name}={value!r}")
    return value


def optimizers(name, value):
    """None, or a list of optimizers from one optimizer or a list/tuple of them."""
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(
            f"`{name}` must be an optimizer or a non-empty list of optimizers. "
            f"Received {name}={value!r}")
    for item in items:
        if not (hasattr(item, "iterations") and hasattr(item, "apply_gradients")):
            raise TypeError(
                f"`{name}` must be an optimizer (with `iterations` and "
                "`apply_gradients`) or a list of them. Received "
                f"{name}={value!r}")
    if len({id(item) for item in items}) != len(items):
        raise ValueError(f"`{name}` lists an optimizer twice. Received {name}={value!r}")
    return items


def monitor(value):
    """The name of a logged training loss: a non-empty string, not `val_...`."""
    if not isinstance(value, str) or not value:
        raise TypeError(
            "`monitor` must be the name of a logged loss, a non-empty "
            f"string. Received monitor={value!r}")
    if value.startswith("val_"):
        raise ValueError(
            "`monitor` must name a training loss, logged at every step: "
            f"{value!r} is a validation value, logged once per epoch (as "
            "Keras names them), and the sweep needs a loss per step. Use "
            "monitor='loss' (the default) or another training loss. "
            f"Received monitor={value!r}")
    return value


def verbose(value):
    """0, 1 or 2."""
    if value not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1 or 2. Received verbose={value!r}")
    return value


def directory(name, value):
    """A directory path as a `str` (from a `str` or `os.PathLike`), or None."""
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"`{name}` must be a directory path or None. "
            f"Received {name}={value!r}"
        )
    return None if value is None else os.fspath(value)
