"""`plot_decision`: one picture of one AutoLR decision (needs matplotlib).

matplotlib is the optional extra `plot` (`pip install keras_autolr[plot]`)
and is imported only when a plot is drawn. Figures are built as
`matplotlib.figure.Figure` objects, without pyplot, so drawing needs no
display and changes no global backend: `figure.savefig("decision.png")`
works headless, and notebooks show the returned figure.
"""

import math

import numpy as np

from keras_autolr import _keras
from keras_autolr.decision import detector as detector_lib
from keras_autolr.decision import options as options_lib
from keras_autolr.decision import gp
from keras_autolr.decision import linalg
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr.decision.controller import lowered_peak
from keras_autolr.schedule import AutoLRSchedule

INSTALL_HINT = "pip install keras_autolr[plot]"
_MAX_POINTS = 20000  # most loss points drawn per panel
_SCHEDULE_POINTS = 2000  # LR schedule evaluated at about this many steps
_REASONS = {
    "detected": "the loss minimum passed",
    "cap": "warmup cap reached",
    "diverged": "non-finite loss",
    "restored": "restored schedule",
}


def plot_decision(losses, decision, *, schedule=None, options=None):
    """Draws an AutoLR decision: loss against LR with the GP, and the schedule.

    Top panel: the recorded loss of each warmup step against its LR (log
    axis), the GP posterior mean of the last test (the one that ended
    warmup) with a 2-sigma band of the latent curve, and the chosen peak
    LR. Bottom panel: the LR schedule over the whole budget (log axis, so
    the exponential sweep shows) with the switch step marked, and the loss
    of every step on a twin axis.

    The GP is recomputed, not stored: a test is a pure function of the loss
    record, the seed, the test's index and the hyperparameters kept in its
    `TestResult`, so the same draws give the same posteriors.

    Example:

    ```python
    options = keras_autolr.Options(seed=1)
    decision = keras_autolr.replay(losses, total_steps=2000, options=options)
    figure = keras_autolr.plot_decision(losses, decision, options=options)
    figure.savefig("decision.png")
    ```

    Live, `autolr.plot()` is `plot_decision(autolr.record.loss,
    autolr.decision, schedule=autolr.schedule, options=autolr.options)`.

    Args:
        losses: 1-D array: the loss of each step from step 0 (NaN allowed),
            as given to `replay` or from `AutoLR.record.loss`.
        decision: the `Decision` of `replay` or of `AutoLR.decision`.
        schedule: `AutoLRSchedule` or None. The run's schedule shape, as
            given to `replay` (None: the default shape).
        options: `keras_autolr.Options` or None. The run's options, as given
            to `replay` (its seed and sizes redraw the GP).

    Returns:
        A `matplotlib.figure.Figure` with two axes.

    Raises:
        ImportError: matplotlib is missing (`pip install keras_autolr[plot]`).
    """
    figure_class = _figure_class()
    if decision is None:
        raise ValueError(
            "There is no decision to plot: AutoLR has not trained yet. "
            "Received decision=None"
        )
    losses = np.asarray(losses, np.float64).reshape(-1)
    if schedule is not None and not isinstance(schedule, AutoLRSchedule):
        raise TypeError(
            "`schedule` must be an `AutoLRSchedule` or None. "
            f"Received schedule={schedule!r}")
    config = dict(schedule.get_config()) if schedule is not None else {}
    config.update(total_steps=decision.total_steps,
                  switch_step=decision.switch_step, peak_lr=decision.peak_lr)
    if decision.switch_step is None:
        config.update(switch_step=None, peak_lr=None)
    decided = AutoLRSchedule(**config)
    detector = WarmupDetector(options_lib.resolve(options))

    figure = figure_class(figsize=(8.0, 7.5), layout="constrained")
    top, bottom = figure.subplots(
        2, 1, gridspec_kw={"height_ratios": (1.15, 1.0)})
    _draw_loss_against_lr(top, losses, decision, decided, detector)
    _draw_schedule(bottom, losses, decision, decided)
    figure.suptitle(_title(decision))
    return figure


# ---------------------------------------------------------------- panels
def _draw_loss_against_lr(ax, losses, decision, schedule, detector):
    test = _shown_test(decision)
    warmup_end = len(losses)
    if decision.switch_step is not None:
        warmup_end = min(warmup_end, decision.switch_step)
    if test is not None:
        warmup_end = min(max(warmup_end, test.step), len(losses))
    steps = np.arange(warmup_end)
    lr = schedule.warmup_lr(steps)
    shown = _thin(np.isfinite(losses[:warmup_end]))
    ax.scatter(lr[shown], losses[:warmup_end][shown], s=6, alpha=0.5,
               color="0.4", linewidths=0, label="recorded loss")
    visible = [losses[:warmup_end][np.isfinite(losses[:warmup_end])]]

    posterior = None
    if test is not None:
        posterior = recompute_posterior(losses, test, detector, schedule)
    if posterior is not None:
        sigma = np.sqrt(posterior.variance)
        ax.plot(posterior.lr, posterior.mean, color="tab:blue", lw=2,
                label=f"GP posterior mean (test {test.index + 1}, step {test.step})")
        ax.fill_between(posterior.lr, posterior.mean - 2 * sigma,
                        posterior.mean + 2 * sigma, color="tab:blue",
                        alpha=0.2, linewidth=0, label="2 sigma")
        visible += [posterior.mean - 2 * sigma, posterior.mean + 2 * sigma]
    elif test is None:
        ax.text(0.5, 0.92, "no GP test to show", transform=ax.transAxes,
                ha="center", color="tab:gray")
    if decision.peak_lr is not None:
        ax.axvline(decision.peak_lr, color="tab:red", ls="--",
                   label=f"peak LR {decision.peak_lr:.3g}")
    elif test is not None and test.peak_lr is not None:
        ax.axvline(test.peak_lr, color="tab:red", ls=":",
                   label=f"GP's best LR so far {test.peak_lr:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (warmup)")
    ax.set_ylabel("training loss")
    _robust_ylim(ax, np.concatenate(visible) if visible else np.zeros(0))
    ax.legend(loc="best", fontsize="small")
    ax.grid(True, which="major", alpha=0.3)


def _draw_schedule(ax, losses, decision, schedule):
    total = decision.total_steps
    steps = np.unique(np.concatenate([
        np.round(np.linspace(0, total, _SCHEDULE_POINTS + 1)).astype(np.int64),
        [s for s in (decision.switch_step, decision.warmup_steps)
         if s is not None] + [max((decision.switch_step or 1) - 1, 0)],
    ]))
    lr = np.asarray(_keras.to_numpy(schedule(steps)), np.float64)
    for step, old, new in _blowups_in_decay(decision):  # the decay's peak lowered
        lr = np.where(steps > step, lr * (new / old), lr)
        ax.axvline(step, color="tab:purple", ls="-.",
                   label=f"blow-up at step {step}: peak {old:.3g} to {new:.3g}")
    ax.plot(steps, lr, color="tab:blue", lw=2, label="learning rate")
    ax.axvline(decision.warmup_steps, color="tab:gray", ls=":",
               label=f"warmup cap {decision.warmup_steps}")
    if decision.switch_step is not None:
        ax.axvline(decision.switch_step, color="tab:red", ls="--",
                   label=f"switch at step {decision.switch_step}")
    ax.set_xlim(0, total)
    positive = lr[lr > 0]
    if len(positive):  # the sweep is exponential: a straight line on a log axis
        ax.set_yscale("log")
        ax.set_ylim(positive.min() / 2, positive.max() * 2)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate (log)")
    twin = ax.twinx()
    shown = _thin(np.isfinite(losses))
    twin.plot(np.arange(len(losses))[shown], losses[shown], color="tab:orange",
              lw=0.8, alpha=0.7, label="training loss")
    twin.set_ylabel("training loss")
    _robust_ylim(twin, losses[np.isfinite(losses)])
    handles, labels = ax.get_legend_handles_labels()
    more, more_labels = twin.get_legend_handles_labels()
    ax.legend(handles + more, labels + more_labels, loc="upper right",
              fontsize="small")
    ax.grid(True, alpha=0.3)


def _blowups_in_decay(decision):
    """`(step, old peak, new peak)` of each blow-up in the decay that lowered
    the decay's peak LR (`Decision.faults`, `controller.lowered_peak`)."""
    return [(int(step), *peaks) for step, action in decision.faults
            if (peaks := lowered_peak(action)) is not None]


def _title(decision):
    if decision.switch_step is None:
        return (f"AutoLR: still warming up ({len(decision.tests)} tests, "
                f"budget {decision.total_steps} steps)")
    reason = _REASONS.get(decision.reason, decision.reason)
    return (f"AutoLR: warmup ended at step {decision.switch_step} ({reason}); "
            f"peak LR {decision.peak_lr:.3g}")


# ------------------------------------------------------------ the GP again
class Posterior:
    """The recomputed posterior of one test, in loss units.

    Attributes:
        lr: float array [grid_points]. Warmup LR at each grid point.
        mean: float array. Posterior mean of the loss (mean over the draws).
        variance: float array. Variance of the latent curve (the mixture of
            the draws' posteriors).
        probabilities: tuple of float. Past-minimum probability of each
            draw, as the test computed it.
        peak_lr: float. Mean over the draws of the LR at the argmin.
    """

    def __init__(self, lr, mean, variance, probabilities, peak_lr):
        self.lr, self.mean, self.variance = lr, mean, variance
        self.probabilities, self.peak_lr = probabilities, peak_lr


def _execution_points(values):
    """The detector's points: one per execution (a run of equal losses) at its mean step.

    Under `steps_per_execution > 1` the record repeats each execution's mean
    loss at its steps, and the detector sees one point per execution. Runs of
    exactly equal consecutive finite losses are taken as one execution.
    """
    finite = np.isfinite(values)
    starts = np.flatnonzero(np.r_[True, (values[1:] != values[:-1]) | ~finite[1:] | ~finite[:-1]])
    ends = np.r_[starts[1:], len(values)]
    keep = finite[starts]
    starts, ends = starts[keep], ends[keep]
    return (starts + ends - 1) / 2.0, values[starts]


def recompute_posterior(losses, test, detector, schedule):
    """Recomputes the posteriors of `test` from the loss record.

    Repeats the detector's draws (`default_rng([seed, index])`: the fit
    draw, then the prediction draws) and conditions on them with the
    hyperparameters stored in `test`. Returns a `Posterior`, or None when
    the record is shorter than the test or the GP fails.
    """
    if test.inconclusive or len(losses) < test.step:
        return None
    x_points, y_all = _execution_points(np.asarray(losses[:test.step], np.float64))
    count = len(x_points)
    if count < detector_lib.MIN_FINITE_LOSSES:
        return None
    rng = np.random.default_rng([detector.seed, test.index])
    x_all = x_points / float(test.step)
    fit_idx = detector_lib._draw(rng, count, detector.fit_points)
    center, scale = detector_lib._standardizer(y_all[fit_idx])
    params = gp.to_params((test.amplitude / scale) ** 2, test.noise / scale**2,
                          (test.mean - center) / scale)
    if count <= detector.predict_points:
        draws = [np.arange(count)]
    else:
        draws = [detector_lib._draw(rng, count, detector.predict_points)
                 for _ in range(detector.num_posteriors)]
    smoother = detector.smoother
    grid = smoother.grid
    means, variances, probs, peaks = [], [], [], []
    for idx in draws:
        outcome = _band(smoother, x_all[idx], (y_all[idx] - center) / scale, params)
        if outcome is None:
            return None
        mean, variance, prob, argmin = outcome
        means.append(center + scale * mean)
        variances.append(scale**2 * variance)
        probs.append(prob)
        point = (detector_lib._steepest(mean, argmin)
                 if detector.peak == "steepest" else argmin)
        peaks.append(float(schedule.warmup_lr(grid[point] * test.step)))
    if len(draws) == 1:  # every draw is the whole record, as in the test
        probs = probs * detector.num_posteriors
    means, variances = np.stack(means), np.stack(variances)
    return Posterior(
        lr=np.asarray(schedule.warmup_lr(grid * test.step), np.float64),
        mean=means.mean(axis=0),
        variance=variances.mean(axis=0) + means.var(axis=0),
        probabilities=tuple(probs), peak_lr=float(np.mean(peaks)),
    )


def _band(smoother, x, y, params):
    """Mean, variance, probability and argmin of one draw, retrying jitters."""
    for jitter in detector_lib._JITTERS:
        try:
            _, prob, argmin, _ = smoother.posterior(x, y, params, jitter)
            mean, variance = smoother.posterior_band(x, y, params, jitter)
        except linalg.NumericalError:
            continue
        if np.all(np.isfinite(mean)) and math.isfinite(prob):
            return mean, variance, prob, argmin
    return None


# ---------------------------------------------------------------- helpers
def _shown_test(decision):
    """The last conclusive test: after it no test runs, so it decided."""
    for test in reversed(decision.tests):
        if not test.inconclusive:
            return test
    return None


def _thin(mask):
    """Indices of the True entries of `mask`, at most `_MAX_POINTS` evenly spaced."""
    index = np.flatnonzero(mask)
    if len(index) > _MAX_POINTS:
        index = index[np.linspace(0, len(index) - 1, _MAX_POINTS).astype(np.int64)]
    return index


def _robust_ylim(ax, values):
    """Limits that keep a divergence spike from squashing the curve."""
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return
    low = float(np.min(values))
    high = float(min(np.max(values), np.percentile(values, 99.0)
                     + 0.5 * (np.percentile(values, 99.0) - low)))
    if not high > low:
        high = low + max(abs(low), 1.0) * 1e-3
    pad = 0.05 * (high - low)
    ax.set_ylim(low - pad, high + pad)


def _figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"Plotting an AutoLR decision needs matplotlib: {INSTALL_HINT}"
        ) from error
    return Figure
