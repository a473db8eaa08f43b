"""Shared fixtures: synthetic loss curves over the default warmup.

Without TensorFlow (CI's jax and torch lanes: `pip install
keras_autolr[jax]` or `[torch]`), a test module whose imports need it is
reported as skipped, with the reason: those test TensorFlow's own features
(`tf.distribute`, `tf.function`, `tf.train.Checkpoint`, Keras 2, tf.data,
`tf.GradientTape` steps, the TensorFlow examples) or compare with
TensorFlow's math. Every other module runs on the backend `KERAS_BACKEND`
names.
"""

import importlib.util

import numpy as np
import pytest

from keras_autolr import Options
from keras_autolr import warmup

_NO_TENSORFLOW = importlib.util.find_spec("tensorflow") is None


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """Without TensorFlow, a test module that needs it is skipped, with the reason."""
    outcome = yield
    report = outcome.get_result()
    if (_NO_TENSORFLOW and report.failed and isinstance(collector, pytest.Module)
            and "No module named 'tensorflow'" in str(report.longrepr)):
        report.outcome = "skipped"
        report.longrepr = (str(collector.path), 0,
                           "Skipped: a TensorFlow test (TensorFlow is not installed)")


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
