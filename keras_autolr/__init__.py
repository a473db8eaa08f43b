"""keras_autolr: automatic learning-rate warmup for large-batch Keras training.

`model.fit(..., callbacks=[AutoLR()])` warms the learning rate up
exponentially, detects with Gaussian-process smoothing when the loss minimum
lies in the past, and decays from the best learning rate to zero at the end
of the budget (Kim et al., "Automated Learning Rate Scheduler for
Large-batch Training", arXiv 2107.05855).

The public API is what this module exports. The package is laid out as the
design falls (docs/architecture.md): `keras_autolr.decision` is the decision
as pure host math, `keras_autolr.training` puts it into Keras' `fit` and
custom loops, `keras_autolr.tools` are its offline faces.
"""

from keras_autolr.decision.controller import Decision
from keras_autolr.decision.options import Options
from keras_autolr.decision.options import PAPER
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr.tools.lr_finder import LRFinderResult
from keras_autolr.tools.lr_finder import find_lr
from keras_autolr.tools.offline import replay
from keras_autolr.tools.plotting import plot_decision
from keras_autolr.training.callback import AutoLR
from keras_autolr.training.training_loop import WarmupDriver

__version__ = "0.2.0"

__all__ = [
    "AutoLR", "AutoLRSchedule", "Decision", "LRFinderResult", "Options",
    "PAPER", "WarmupDriver", "find_lr", "plot_decision", "replay",
]
