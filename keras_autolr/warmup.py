"""The warmup curve, written once for NumPy (host) and `keras.ops` (graph).

With `W` warmup steps (the longest warmup allowed) and step `t` (0-based):

- exponential: `lr(t) = min_lr * gamma**t`, `gamma = (max_lr / min_lr)**(1 / W)`
- linear:      `lr(t) = min_lr + (max_lr - min_lr) * t / W`

The schedule evaluates it in-graph; the detector evaluates it on the host to
map the posterior argmin back to a learning rate, and the test cadence uses
it to space tests by LR growth. `xp` is `numpy` or `keras_autolr._keras.ops`
(`keras.ops`, or the same names over TensorFlow on Keras 2).
"""

import math

import numpy as np


def warmup_steps(total_steps, max_warmup_fraction):
    """`W = floor(max_warmup_fraction * total_steps)`, at least 1."""
    return max(1, int(math.floor(max_warmup_fraction * total_steps)))


def warmup_lr(step, *, min_lr, max_lr, warmup_steps, kind, xp=np):
    """Learning rate of the warmup curve at `step` (clipped to `warmup_steps`)."""
    step = xp.minimum(step, warmup_steps)
    if kind == "exponential":
        log_gamma = math.log(max_lr / min_lr) / warmup_steps
        # exp() may round a hair above max_lr at the cap: never exceed it.
        return xp.minimum(min_lr * xp.exp(log_gamma * step), max_lr)
    return min_lr + (max_lr - min_lr) * (step / warmup_steps)


def steps_to_grow(step, factor, *, min_lr, max_lr, warmup_steps, kind):
    """Fewest steps after `step` over which the warmup LR grows by `factor`.

    At least 1. Used by `check_every="auto"` to space tests by LR growth.
    """
    if kind == "exponential":
        log_gamma = math.log(max_lr / min_lr) / warmup_steps
        return max(1, int(math.floor(math.log(factor) / log_gamma)))
    lr_now = float(
        warmup_lr(step, min_lr=min_lr, max_lr=max_lr,
                  warmup_steps=warmup_steps, kind=kind)
    )
    target = factor * lr_now
    slope = (max_lr - min_lr) / warmup_steps
    return max(1, int(math.floor((target - lr_now) / slope)))
