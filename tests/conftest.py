"""Shared fixtures: synthetic loss curves over the default warmup."""

import numpy as np
import pytest

from keras_autolr import Options
from keras_autolr import warmup

PAPER = Options(peak="minimum", peak_factor=1.0)  # the paper's peak rule


def warmup_lr(steps, total_steps, min_lr=1e-5, max_lr=1.0, fraction=0.5):
    """LR of the default exponential warmup at `steps`."""
    return warmup.warmup_lr(
        np.asarray(steps, np.float64), min_lr=min_lr, max_lr=max_lr,
        warmup_steps=warmup.warmup_steps(total_steps, fraction),
        kind="exponential", xp=np)


def valley(total_steps, lr_min=1e-2, noise=0.05, seed=0, n=None):
    """Loss with a valley in log-LR at `lr_min`, plus Gaussian noise."""
    n = total_steps // 2 if n is None else n
    lr = warmup_lr(np.arange(n), total_steps)
    rng = np.random.default_rng(seed)
    return 1.0 + 0.5 * (np.log10(lr) - np.log10(lr_min)) ** 2 + noise * rng.normal(size=n)


def falling(total_steps, noise=0.05, seed=0, n=None):
    """Loss that keeps falling as the LR grows."""
    n = total_steps // 2 if n is None else n
    lr = warmup_lr(np.arange(n), total_steps)
    rng = np.random.default_rng(seed)
    return 3.0 - 0.4 * (np.log10(lr) + 5) + noise * rng.normal(size=n)


@pytest.fixture
def paper():
    return PAPER
