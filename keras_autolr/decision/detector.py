"""`WarmupDetector`: has the loss minimum passed? (docs/algorithm.md, "The paper's rule" 3-5)

Host-side and deterministic: a test is a pure function of the loss record,
the seed, the test's index and the GP hyperparameters carried over from the
previous test (the reference's warm start). The random draws of test `i` come
from `numpy.random.default_rng([seed, i])`, so every worker of a distributed
run, a replay of the record, and a resumed run draw the same points.
"""

import dataclasses
import math
from typing import Optional, Tuple

import numpy as np

from keras_autolr.decision import gp
from keras_autolr.decision import linalg
from keras_autolr.decision import options as options_lib

MIN_FINITE_LOSSES = 10  # no test on fewer points
# The descent guard: the smoothed drop from the start to the minimum must be
# confident (P > confidence) and at least this many noise standard deviations
# (the GP's fitted observation noise): a white-noise record's smoothed curve
# wanders by about one (tests/test_descent_guard.py).
DESCENT_NOISE_SIGMAS = 3.0
# ... and at least this many standard deviations of the raw losses at the
# start of the record (its first START_FRACTION, at least MIN_FINITE_LOSSES
# losses): a wander correlated from step to step (unshuffled data, a slow
# drift) is smooth, so the GP reads it as signal with little noise, but it
# also spreads the raw losses of the start. Measured on synthetic records
# (benchmarks/false_switch.py, docs/algorithm.md).
DESCENT_START_SPREADS = 6.0
START_FRACTION = 0.1
START_MAX_POINTS = 1000  # evenly spaced when the start holds more
_JITTERS = (0.0, 1e-6, 1e-4, 1e-2)  # Cholesky retries, in units of y's variance


@dataclasses.dataclass(frozen=True)
class TestResult:
    """One test of the detector.

    Attributes:
        index: int. 0-based number of the test.
        step: int. Losses of steps `0 .. step - 1` were seen; a switch decided
            by this test takes effect at `step`.
        probabilities: tuple of float. Past-minimum probability of each
            posterior (empty when the test was inconclusive).
        positive: bool. A majority of posteriors exceeded the confidence.
        peak_lr: float or None. Mean over posteriors of the warmup LR at the
            posterior argmin.
        amplitude, noise, mean: GP hyperparameters after the fit, in the
            units of the losses.
        inconclusive: bool. The GP failed numerically; the test counts as
            negative.
        descents: tuple of float. `P(f_min < f_start)` of each posterior:
            that the smoothed minimum lies below the smoothed loss at the
            start of the record (the descent guard, `require_descent`).
        held_back: bool. A majority of posteriors found the minimum in the
            past, but the guard held the test back: no confident descent
            from the start yet (the loss only wandered).
    """

    __test__ = False  # not a pytest class

    index: int
    step: int
    probabilities: Tuple[float, ...]
    positive: bool
    peak_lr: Optional[float]
    amplitude: float = float("nan")
    noise: float = float("nan")
    mean: float = float("nan")
    inconclusive: bool = False
    descents: Tuple[float, ...] = ()
    held_back: bool = False

    @property
    def probability(self):
        """Median past-minimum probability over the posteriors."""
        if not self.probabilities:
            return float("nan")
        return float(np.median(self.probabilities))


class WarmupDetector:
    """Gaussian-process test that the minimum of the loss curve lies in the past.

    Each `test` fits a GP (constant mean, RBF kernel with length scale 0.2,
    Gaussian noise) to at most `fit_points` of the finite losses, conditions
    `num_posteriors` posteriors on at most `predict_points` each, and asks of
    each posterior whether `max_i P(f_i < f_last) > confidence`. A majority
    makes the test positive; `patience` positive tests in a row mean switch.

    Example:

    ```python
    detector = WarmupDetector(seed=0)
    steps = np.arange(300)
    losses = (np.log10(lr_of(steps)) + 2.0) ** 2  # a valley at LR 1e-2
    result = detector.test(steps, losses, n_steps=300, lr_at=lr_of)
    detector.should_switch  # True after `patience` positive tests in a row
    ```

    Args:
        options: `keras_autolr.Options` or None (the defaults).
        **changes: options changed from `options` (`WarmupDetector(seed=1)`).

    Attributes:
        options: the `Options`; each option is also an attribute
            (`detector.patience`).
    """

    def __init__(self, options=None, **changes):
        self.options = options_lib.resolve(options)
        if changes:
            self.options = self.options.replace(**changes)
        for name in options_lib.Options.names():
            setattr(self, name, getattr(self.options, name))
        self._smoother = None
        self.reset()

    def reset(self):
        """Forgets all tests and the warm-started hyperparameters."""
        self.params = None
        self.hyperparameters = None  # (a2, s2, m) in the units of the losses
        # gp="reference": one Adam for the whole run, as the reference's.
        self.adam_state = gp.AdamState() if self.gp == "reference" else None
        self.results = []
        self.last_posterior_mean = None

    @property
    def smoother(self):
        if self._smoother is None:
            self._smoother = _shared_smoother(
                self.fit_points, self.predict_points, self.grid_points
            )
        return self._smoother

    @property
    def should_switch(self):
        """True when the last `patience` tests were all positive."""
        recent = self.results[-self.patience:]
        return len(recent) == self.patience and all(r.positive for r in recent)

    @property
    def majority(self):
        return self.num_posteriors // 2 + 1

    def test(self, finite_steps, finite_losses, n_steps, lr_at):
        """Runs one test on the record of the first `n_steps` steps.

        Args:
            finite_steps: float array. Steps whose loss is finite (an
                execution's mean step under steps_per_execution > 1), ascending.
            finite_losses: float array. Their losses.
            n_steps: int. Steps recorded so far (finite or not).
            lr_at: callable mapping an array of (fractional) steps to the
                warmup LR; maps the posterior argmin to the peak LR.

        Returns:
            The `TestResult`, also appended to `results`; None when fewer than
            `MIN_FINITE_LOSSES` finite losses exist (no test is counted).
        """
        # BLAS on one thread for the whole test: its threads would spin
        # after it and take a core from training (linalg.py).
        with linalg.one_thread():
            return self._test(finite_steps, finite_losses, n_steps, lr_at)

    def _test(self, finite_steps, finite_losses, n_steps, lr_at):
        count = len(finite_steps)
        reference = self.gp == "reference"
        if count < (1 if reference else MIN_FINITE_LOSSES):
            return None
        index = len(self.results)
        rng = np.random.default_rng([self.seed, index])
        # No O(n) work on the whole record: index first, then scale, so a
        # test costs the same at 1e3 and 1e6 recorded steps.
        steps_all = np.asarray(finite_steps, np.float64)
        y_all = np.asarray(finite_losses, np.float64)
        x_at = lambda idx: steps_all[idx] / float(n_steps)  # noqa: E731

        fit_idx = _draw(rng, count, self.fit_points)
        if reference:  # the losses as they are
            center, scale = 0.0, 1.0
            start = self._reference_start(y_all[fit_idx], y_all)
        else:
            center, scale = _standardizer(y_all[fit_idx])
        standardize = lambda y: (y - center) / scale  # noqa: E731
        if not reference:
            start = self._start_params(standardize(y_all[fit_idx]), center, scale)
        try:
            params = self.smoother.fit(
                x_at(fit_idx), standardize(y_all[fit_idx]), start, self.adam_state)
        except linalg.NumericalError:
            params = None
        if params is None or not np.all(np.isfinite(params)):
            return self._record(index, n_steps, (), None, None, center, scale)
        a2, s2, mean = gp.constrained(params)
        noise_std2 = s2  # standardized units, as the posterior mean
        hyper = (a2 * _square(scale), s2 * _square(scale), center + mean * scale)
        # Losses near the float64 limits: no warm start rather than inf.
        self.hyperparameters = hyper if all(map(math.isfinite, hyper)) else None
        self.params = params

        if count <= self.predict_points:  # every draw is the whole record
            draws = [np.arange(count)]
        else:
            draws = [_draw(rng, count, self.predict_points)
                     for _ in range(self.num_posteriors)]
        probs, descents, peaks = [], [], []
        grid = self.smoother.grid
        least_drop = max(DESCENT_NOISE_SIGMAS * math.sqrt(noise_std2),
                         DESCENT_START_SPREADS * _start_spread(y_all) / scale)
        for idx in draws:
            outcome = self._posterior(x_at(idx), standardize(y_all[idx]))
            if outcome is None:
                return self._record(index, n_steps, (), None, params, center, scale)
            post_mean, prob, argmin, descent = outcome
            probs.append(prob)
            drop = float(post_mean[0] - post_mean[argmin])
            if not drop >= least_drop:
                descent = min(descent, 0.5)  # too small to be a descent
            descents.append(descent)
            point = _steepest(post_mean, argmin) if self.peak == "steepest" else argmin
            # The reference maps x to its LR of the newest loss, that of
            # step n - 1: `min_lr * (lr(n - 1) / min_lr)**x` = lr(x (n - 1)).
            peaks.append(float(lr_at(grid[point] * (n_steps - 1 if reference
                                                    else n_steps))))
            self.last_posterior_mean = center + scale * post_mean
        if len(draws) == 1:
            probs = probs * self.num_posteriors
            descents = descents * self.num_posteriors
        passed = sum(p > self.confidence for p in probs) >= self.majority
        votes = sum(p > self.confidence and (
            not self.require_descent or d > self.confidence)
            for p, d in zip(probs, descents))
        positive = votes >= self.majority
        result = self._record(
            index, n_steps, tuple(probs), float(np.mean(peaks)), params,
            center, scale, positive=positive, descents=tuple(descents),
            held_back=passed and not positive,
        )
        return result

    def _start_params(self, y_fit, center, scale):
        """Warm start: the last fit's hyperparameters, in today's units.

        They are kept in the units of the losses, so they stay meaningful
        while the standardization changes from test to test. The first test
        starts from GPyTorch's amplitude, the mean of the losses, and a noise
        variance estimated from successive differences
        (`mean(diff(y)**2) / 2`), or `initial_noise` when given.
        """
        if self.hyperparameters is None:
            if self.initial_noise is None:
                noise = 0.5 * float(np.mean(np.diff(y_fit) ** 2))
            else:
                noise = self.initial_noise / _square(scale)
            return gp.to_params(gp.OUTPUTSCALE_INIT, max(noise, gp.NOISE_INIT),
                                0.0)
        a2, s2, mean = self.hyperparameters
        with np.errstate(all="ignore"):
            square = np.float64(_square(scale))
            values = (np.float64(a2) / square, np.float64(s2) / square,
                      (np.float64(mean) - center) / scale)
        if not (all(np.isfinite(values)) and values[0] > 0 and values[1] > 0):
            return gp.initial_params()  # units beyond float64: start afresh
        return gp.to_params(*(float(v) for v in values))

    def _reference_start(self, y_fit, y_all):
        """The reference's start: the last fit, the mean restarted (`gp="reference"`).

        Its `add_data` sets the constant mean to the mean of all finite
        losses before every fit; amplitude and noise carry over from the
        last fit (the first starts from GPyTorch's `softplus(0)` and
        `initial_noise`, else the successive-difference estimate), all in
        the units of the losses.
        """
        mean = float(np.mean(y_all))
        if self.params is not None and np.all(np.isfinite(self.params)):
            return np.array([self.params[0], self.params[1], mean], np.float64)
        if self.initial_noise is None:
            noise = 0.5 * float(np.mean(np.diff(y_fit) ** 2)) if len(y_fit) > 1 else 0.0
        else:
            noise = self.initial_noise
        return gp.to_params(gp.OUTPUTSCALE_INIT, max(noise, gp.NOISE_INIT), mean)

    def _posterior(self, x, y):
        for jitter in _JITTERS:
            try:
                post_mean, prob, argmin, descent = self.smoother.posterior(
                    x, y, self.params, jitter
                )
            except linalg.NumericalError:
                continue
            if (np.all(np.isfinite(post_mean)) and math.isfinite(prob)
                    and math.isfinite(descent)):
                return post_mean, prob, argmin, descent
        return None

    def _record(self, index, step, probs, peak, params, center, scale,
                positive=False, descents=(), held_back=False):
        hyper = {}
        if params is not None:
            a2, s2, mean = gp.constrained(params)
            hyper = dict(amplitude=math.sqrt(a2) * scale, noise=s2 * _square(scale),
                         mean=center + mean * scale)
        result = TestResult(
            index=index, step=int(step), probabilities=probs,
            positive=bool(positive), peak_lr=peak,
            inconclusive=not probs, descents=descents,
            held_back=bool(held_back), **hyper,
        )
        self.results.append(result)
        return result


def start_head(losses):
    """The start of the record that the descent guard measures.

    The first `START_FRACTION` of the finite losses (at least
    `MIN_FINITE_LOSSES`; at most `START_MAX_POINTS`, evenly spaced, so a
    test costs the same at any length).
    """
    count = max(MIN_FINITE_LOSSES, int(START_FRACTION * len(losses)))
    head = losses[:count]
    if len(head) > START_MAX_POINTS:
        head = head[np.linspace(0, len(head) - 1, START_MAX_POINTS).astype(int)]
    return head


def _start_spread(losses):
    """Standard deviation of the raw losses at the start of the record
    (`start_head`); 0 when it is not finite."""
    head = start_head(losses)
    with np.errstate(all="ignore"):
        spread = float(np.std(head))
    return spread if math.isfinite(spread) else 0.0


def _steepest(post_mean, argmin):
    """Grid index of the steepest descent of the posterior mean before its minimum."""
    if argmin < 1:
        return argmin
    slope = np.diff(post_mean[:argmin + 1])
    return int(np.argmin(slope))


def _square(value):
    """`value**2` as a float, inf (not OverflowError) beyond float64's range."""
    with np.errstate(over="ignore"):
        return float(np.float64(value) ** 2)


def _draw(rng, count, size):
    """At most `size` of `count` indices, uniformly without replacement, sorted."""
    if count <= size:
        return np.arange(count)
    return np.sort(rng.choice(count, size=size, replace=False))


def _standardizer(values):
    """Center and scale that map the losses to mean 0 and unit spread."""
    center = float(np.mean(values))
    scale = float(np.std(values))
    if not math.isfinite(center):
        center = float(np.median(values))
    if not math.isfinite(scale) or scale <= 1e-300 * max(1.0, abs(center)):
        spread = float(np.max(values) - np.min(values))
        scale = spread if math.isfinite(spread) and spread > 0 else 1.0
    return center, scale


_SMOOTHERS = {}


def _shared_smoother(fit_points, predict_points, grid_points):
    """One smoother per shape in a process (its grid basis is computed once)."""
    key = (fit_points, predict_points, grid_points)
    if key not in _SMOOTHERS:
        _SMOOTHERS[key] = gp.GaussianProcessSmoother(*key)
    return _SMOOTHERS[key]
