"""`Options` and `PAPER`: how AutoLR decides, validated and documented once."""

import dataclasses
from typing import Optional
from typing import Union

from keras_autolr import _validation

# The peak LR is this times the LR the detector chose (the paper: 1.0). At
# 1.0 the LR of the smoothed loss minimum is often too large to train at
# (digits MLP + LAMB: 8 % accuracy, against 98 %). 0.4 had the best mean gap
# to the tuned grid of 0.3 ... 0.7 over the 12 cells of the quality benchmark
# with rewind on (docs/benchmarks/peak_rules.md).
DEFAULT_PEAK_FACTOR = 0.4


@dataclasses.dataclass(frozen=True)
class Options:
    """How AutoLR decides: when to test, the test, the peak rule and the policies.

    One frozen, validated object holds every option of the decision, so
    that `AutoLR`, `WarmupDriver`, `replay` and the command line take the
    same names and the same defaults. The defaults are the library's, chosen
    by measurement; `keras_autolr.PAPER` is the preset that takes the
    decisions of the paper's reference code instead (docs/algorithm.md lists
    each departure and why).

    Every test smooths the loss record with a Gaussian process and asks each
    of `num_posteriors` posteriors whether the minimum of the smoothed loss
    lies in the past with probability above `confidence`; a majority makes
    the test positive, and `patience` positive tests in a row end warmup.
    The decay then starts from `peak_factor` times the LR the detector chose.

    Example:

    ```python
    options = keras_autolr.Options(patience=4, seed=1)
    autolr = keras_autolr.AutoLR(options=options)
    model.fit(x, y, epochs=10, callbacks=[autolr])
    # The same decision offline, on the recorded losses:
    decision = keras_autolr.replay(autolr.record.loss, total_steps=1000,
                                   options=options)
    # The paper's rule, with another seed:
    paper = keras_autolr.PAPER.replace(seed=1)
    ```

    Args:
        check_every: `"auto"` (default), a positive int, or `"epoch"`. When
            to test: `"auto"` spaces tests so that the LR grows at most 1.2x
            between two tests (at least one step, or one execution, apart);
            an int tests every that many steps; `"epoch"` tests at epoch
            ends, as the paper's reference does.
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
        peak_factor: float in (0, 1]. The peak LR is this times the LR the
            detector chose. Defaults to 0.4: at the paper's 1.0 the LR of
            the loss minimum is often too large to train at
            (docs/benchmarks/peak_rules.md).
        require_descent: bool. A posterior votes positive only when, besides
            the minimum lying in the past, the smoothed minimum lies below
            the smoothed loss at the start with the same `confidence`, by at
            least 3 noise standard deviations and 6 standard deviations of
            the raw losses at the start: a loss that only wanders while the
            LR is too small to train is not read as a minimum
            (docs/algorithm.md, "Descent guard"). Defaults to True; False is
            the paper's test.
        rewind: bool. At the switch, put the weights and optimizer state
            back as they were before the LR of the smoothed loss minimum
            (the host copy taken at or before it), undoing the damage the
            overshoot did; the step counter is not rewound. Defaults to
            True; False is the paper's.
        restore_on_fault: bool. After a non-finite loss, put back the
            newest host copy of the weights and go on; warmup ends as
            diverged only when the LR is the likely cause (another fault
            within 4x of LR growth, or an LR 4x past the detector's best).
            In the decay, a blow-up (3 of 5 executions 10 descent depths
            above the start's highest loss) also puts back a copy, and
            lowers the decay's peak LR (see docs/algorithm.md). Defaults to True. With `rewind=False`
            as well, no copy is taken at all.
        sweep_start: `"own_lr"` (default) or `"min_lr"`. Where the sweep
            starts when the optimizer had its own constant LR (zero-config,
            or `schedule=` given to AutoLR only): `"own_lr"` starts it at
            that LR, since the floor keeps the peak at or above it anyway,
            and under 26 steps, too few for a test, keeps the own LR
            constant, as without AutoLR, with a warning. `"min_lr"` sweeps
            from the schedule's `min_lr` whatever the budget (the paper).
            On the development set of benchmarks/optimizers.py, starting at
            the own LR gained 1 to 14 points on four of 15 cells and lost
            none (docs/benchmarks/optimizers.md).
        own_lr_floor: bool. The peak LR is never below the optimizer's own
            constant LR: decay never starts from less than what training
            had without AutoLR. Defaults to True; False is the paper's.
        cap_peak: `"gp"` (default) or `"reached"`. When warmup reaches its
            cap, decay from the best LR of a last GP test, or from the LR
            reached (the paper's reference).
        gp: `"library"` (default) or `"reference"`. How each test fits the
            GP. `"library"` standardizes the losses it fits (mean 0, unit
            spread), warm-starts all three hyperparameters from the last
            test, restarts Adam every fit, tests from 10 finite losses on,
            and maps the smoothed minimum at `x` to the warmup LR of step
            `x * n`. `"reference"` does what the authors' code
            (kakaobrain/autowu) does: the GP in the units of the losses (so
            its start, amplitude `softplus(0)` and noise `initial_noise`,
            and its noise floor 1e-4 are loss units), the constant mean
            started at the mean of all finite losses at every test, one
            Adam whose moments and step count carry over from test to test,
            a test whatever the number of losses, the minimum mapped to
            `min_lr * (lr_last / min_lr)**x` with `lr_last` the LR of the
            newest loss, and on divergence the last regular test's choice
            even when that test saw the blow-up's first losses.
            Standardizing makes the start and the floor mean
            the same on steep and flat curves, but the reference decides
            otherwise: on 20 recorded curves, `PAPER` with the library's
            fit took the reference's decision on 13 (it switched up to 4
            epochs early on Adam, AdamW and RMSprop runs), with the
            reference's on 19, and on the 20th the reference disagrees
            with itself (benchmarks/results/paper_agreement.md). `PAPER`
            sets `"reference"`.

    Raises:
        TypeError, ValueError: an option out of range; the message names it
            and the value received (`"... Received patience=0"`).
    """

    check_every: Union[str, int] = "auto"
    confidence: float = 0.95
    patience: int = 3
    num_posteriors: int = 5
    fit_points: int = 100
    predict_points: int = 500
    grid_points: int = 500
    seed: int = 0
    initial_noise: Optional[float] = None
    peak: str = "minimum"
    peak_factor: float = DEFAULT_PEAK_FACTOR
    require_descent: bool = True
    rewind: bool = True
    restore_on_fault: bool = True
    sweep_start: str = "own_lr"
    own_lr_floor: bool = True
    cap_peak: str = "gp"
    gp: str = "library"

    def __post_init__(self):
        checked = dict(
            check_every=_validation.check_every(self.check_every),
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
            rewind=_validation.boolean("rewind", self.rewind),
            restore_on_fault=_validation.boolean(
                "restore_on_fault", self.restore_on_fault),
            sweep_start=_validation.choice(
                "sweep_start", self.sweep_start, ("own_lr", "min_lr")),
            own_lr_floor=_validation.boolean("own_lr_floor", self.own_lr_floor),
            cap_peak=_validation.choice("cap_peak", self.cap_peak, ("gp", "reached")),
            gp=_validation.choice("gp", self.gp, ("library", "reference")),
        )
        for name, value in checked.items():  # plain ints and floats (JSON)
            object.__setattr__(self, name, value)

    def replace(self, **changes):
        """A copy with `changes` applied (validated): `PAPER.replace(seed=1)`.

        Raises:
            TypeError: a name that is not an option; the message names it.
        """
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise TypeError(
                f"Unknown option `{unknown[0]}` (not a field of `Options`). "
                f"Received {unknown[0]}={changes[unknown[0]]!r}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def names(cls):
        """The option names, in order."""
        return tuple(field.name for field in dataclasses.fields(cls))

    def get_config(self):
        """Every option, a dict: `Options(**config)` gives it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def resolve(options, name="options"):
    """`options`, or the defaults when None; a `TypeError` naming `name` else."""
    if options is None:
        return Options()
    if not isinstance(options, Options):
        raise TypeError(
            f"`{name}` must be a `keras_autolr.Options` or None. "
            f"Received {name}={options!r}")
    return options


# The decisions of the paper's reference code (arXiv 2107.05855,
# kakaobrain/autowu): a test at each epoch end, the reference's GP fit (loss
# units, the GP noise starting from 1e-3, the mean restarted at the mean of
# the losses, one Adam for the whole run), the decay from the LR of the
# smoothed loss minimum itself (from the LR reached when warmup hits its
# cap), no descent guard, no rewind at the switch, no floor at the
# optimizer's own LR, and the sweep whatever the budget (docs/algorithm.md).
PAPER = Options(
    check_every="epoch",
    initial_noise=1e-3,
    peak="minimum",
    peak_factor=1.0,
    require_descent=False,
    rewind=False,
    own_lr_floor=False,
    sweep_start="min_lr",
    cap_peak="reached",
    gp="reference",
)
