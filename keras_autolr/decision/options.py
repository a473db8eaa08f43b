"""`DetectorOptions`: the detector's options, validated and documented once."""

import dataclasses
from typing import Optional

from keras_autolr import _validation

# The peak LR is this times the LR the detector chose (the paper: 1.0). At
# 1.0 the LR of the smoothed loss minimum is often too large to train at
# (digits MLP + LAMB: 8 % accuracy, against 98 %). 0.4 had the best mean gap
# to the tuned grid of 0.3 ... 0.7 over the 12 cells of the quality benchmark
# with rewind on (README, "Quality benchmark"; benchmarks/results/peak_factor.md).
DEFAULT_PEAK_FACTOR = 0.4


@dataclasses.dataclass(frozen=True)
class DetectorOptions:
    """How AutoLR tests that the loss minimum has passed, and reads the peak LR.

    Every test smooths the loss record with a Gaussian process and asks each
    of `num_posteriors` posteriors whether the minimum of the smoothed loss
    lies in the past with probability above `confidence`; a majority makes
    the test positive, and `patience` positive tests in a row end warmup
    (docs/algorithm.md). The decay then starts from `peak_factor` times the
    LR the detector chose. The object is frozen and hashable; `AutoLR`,
    `WarmupDriver`, `WarmupDetector` and `replay` all take it as `detector=`,
    or build it from the same names given flat (`AutoLR(patience=4)`); giving
    an option both ways is an error.

    Example:

    ```python
    options = keras_autolr.DetectorOptions(patience=4, seed=1)
    autolr = keras_autolr.AutoLR(detector=options)
    model.fit(x, y, epochs=10, callbacks=[autolr])
    # The same decision offline, on the recorded losses:
    decision = keras_autolr.replay(autolr.record.loss, total_steps=1000,
                                   detector=options)
    ```

    Args:
        confidence: float in (0, 1). Past-minimum probability a posterior
            must exceed. Defaults to 0.95.
        patience: int. Positive tests in a row to switch. Defaults to 3.
        num_posteriors: int. Posteriors per test (majority vote). Defaults
            to 5.
        fit_points: int. Most points the GP is fitted on. Defaults to 100.
        predict_points: int. Most points a posterior conditions on.
            Defaults to 500.
        grid_points: int, at least 2. Posterior grid size. Defaults to 500.
        seed: int >= 0. Seed of the detector's random draws. Defaults to 0.
        initial_noise: float or None. GP noise variance the first test
            starts from, in loss units. None (default) estimates it from
            successive differences of the losses; 1e-3 is the paper's
            reference.
        peak: `"minimum"` (default, the paper's) or `"steepest"`. Which point
            of the smoothed loss-versus-LR curve gives the peak LR: its
            minimum, or its steepest descent before the minimum.
        require_descent: bool. A posterior votes positive only when, besides
            the minimum lying in the past, the smoothed minimum lies below
            the smoothed loss at the start with the same `confidence`, by at
            least 3 noise standard deviations and 6 standard deviations of
            the raw losses at the start: a loss that only wanders while the
            LR is too small to train is not read as a minimum
            (docs/algorithm.md, "Descent guard"). Defaults to True; False is
            the paper's test.
        peak_factor: float in (0, 1]. The peak LR is this times the LR the
            detector chose. Defaults to 0.4: at the paper's 1.0 the LR of
            the loss minimum is often too large to train at (see the
            README's quality benchmark); `peak_factor=1.0` is the paper.

    Raises:
        TypeError, ValueError: an option out of range; the message names it
            and the value received (`"... Received patience=0"`).
    """

    confidence: float = 0.95
    patience: int = 3
    num_posteriors: int = 5
    fit_points: int = 100
    predict_points: int = 500
    grid_points: int = 500
    seed: int = 0
    initial_noise: Optional[float] = None
    peak: str = "minimum"
    require_descent: bool = True
    peak_factor: float = DEFAULT_PEAK_FACTOR

    def __post_init__(self):
        checked = dict(
            confidence=_validation.fraction(
                "confidence", self.confidence, include_one=False),
            patience=_validation.positive_int("patience", self.patience),
            num_posteriors=_validation.positive_int(
                "num_posteriors", self.num_posteriors),
            fit_points=_validation.positive_int("fit_points", self.fit_points),
            predict_points=_validation.positive_int(
                "predict_points", self.predict_points),
            grid_points=_validation.positive_int("grid_points", self.grid_points),
        )
        if checked["grid_points"] < 2:
            raise ValueError(
                "`grid_points` must be at least 2. "
                f"Received grid_points={self.grid_points!r}")
        checked.update(
            seed=_validation.non_negative_int("seed", self.seed),
            peak=_validation.choice("peak", self.peak, ("minimum", "steepest")),
            require_descent=_validation.boolean(
                "require_descent", self.require_descent),
            initial_noise=None if self.initial_noise is None else (
                _validation.positive_float("initial_noise", self.initial_noise)),
            peak_factor=_validation.fraction("peak_factor", self.peak_factor),
        )
        for name, value in checked.items():  # plain ints and floats (JSON)
            object.__setattr__(self, name, value)

    @classmethod
    def resolve(cls, detector=None, name="detector", **options):
        """The options of a face: `detector=` or the flat keyword arguments.

        Args:
            detector: `DetectorOptions` or None.
            name: str. The face's name for `detector`, used in messages.
            **options: fields of `DetectorOptions` given flat.

        Returns:
            `detector`, or a `DetectorOptions` built from `options`.

        Raises:
            TypeError: an unknown option, or `detector` is not a
                `DetectorOptions`.
            ValueError: an option given both flat and in `detector`.
        """
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise TypeError(
                f"Unknown option `{unknown[0]}` (not a `DetectorOptions` field). "
                f"Received {unknown[0]}={options[unknown[0]]!r}")
        if detector is None:
            return cls(**options)
        if not isinstance(detector, cls):
            raise TypeError(
                f"`{name}` must be a `DetectorOptions` or None. "
                f"Received {name}={detector!r}")
        if options:
            given = ", ".join(f"{k}={v!r}" for k, v in sorted(options.items()))
            raise ValueError(
                f"Give the detector's options either flat or as `{name}=`, "
                f"not both. Received {given} and {name}={detector!r}")
        return detector

    @classmethod
    def names(cls):
        """The option names, in order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def get_config(self):
        """Every option, a dict: `DetectorOptions(**config)` gives it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
