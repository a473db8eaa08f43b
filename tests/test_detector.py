"""The GP detector on synthetic curves with a known minimum (docs/algorithm.md 4-5)."""

import numpy as np
import pytest

from keras_autolr.decision.detector import WarmupDetector
from keras_autolr import replay
from keras_autolr.decision import gp
from keras_autolr import Options
from tests.conftest import falling
from tests.conftest import valley
from tests.conftest import warmup_lr

T = 2000  # budget; the warmup cap is W = 1000 steps, LR 1e-5 -> 1


@pytest.mark.parametrize("lr_min", [1e-3, 1e-2, 1e-1])
@pytest.mark.parametrize("seed", [0, 1])
def test_switches_after_a_valley_near_its_minimiser(paper, lr_min, seed):
    losses = valley(T, lr_min=lr_min, seed=seed)
    decision = replay(losses, total_steps=T, options=paper.replace(seed=seed))
    assert decision.reason == "detected"
    true_step = np.argmin(np.abs(warmup_lr(np.arange(T), T) - lr_min))
    assert decision.switch_step > true_step  # the minimum is in the past
    assert lr_min / 1.5 <= decision.peak_lr <= lr_min * 1.5


def test_switch_overshoots_the_minimum_by_a_bounded_factor(paper):
    """With check_every='auto' and patience 3 the switch comes soon after the minimum.

    The loss must first rise measurably above its minimum (evidence), then
    three tests 1.2x apart in LR must agree; the LR at the switch stays
    within 10x of the minimiser (once-per-epoch testing overshot 100x).
    """
    lr_min = 1e-2
    decision = replay(valley(T, lr_min=lr_min), total_steps=T, options=paper)
    lr_switch = warmup_lr(decision.switch_step, T)
    # Evidence needs the loss to rise measurably, then 3 tests 1.2x apart.
    assert lr_switch < lr_min * 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_never_switches_on_a_curve_that_keeps_falling(paper, seed):
    losses = falling(T, seed=seed)
    decision = replay(losses, total_steps=T, options=paper.replace(seed=seed))
    assert decision.reason == "cap"
    assert decision.switch_step == T // 2
    assert all(not t.positive for t in decision.tests[:-1])


def test_same_seed_same_decision():
    losses = valley(T, noise=0.2, seed=3)
    a = replay(losses, total_steps=T, options=Options(seed=7))
    b = replay(losses, total_steps=T, options=Options(seed=7))
    assert (a.switch_step, a.peak_lr) == (b.switch_step, b.peak_lr)
    assert a.probabilities == b.probabilities


def test_draws_depend_on_the_seed_when_the_record_is_subsampled():
    """Above `predict_points` losses the 5 posteriors use seeded random draws."""
    losses = valley(20000, noise=0.3, seed=4)
    a = replay(losses, total_steps=20000, options=Options(seed=1))
    b = replay(losses, total_steps=20000, options=Options(seed=2))
    assert a.probabilities != b.probabilities


def test_one_epoch_budget_switches(paper):
    """With check_every='auto', a budget of a single epoch still switches."""
    losses = valley(400, lr_min=1e-2)
    decision = replay(losses, total_steps=400, steps_per_epoch=400, options=paper)
    assert decision.reason == "detected"


def test_epoch_cadence_tests_only_at_epoch_ends(paper):
    losses = valley(T)
    decision = replay(losses, total_steps=T, steps_per_epoch=100,
                      options=paper.replace(check_every="epoch"))
    assert [t.step % 100 for t in decision.tests] == [0] * len(decision.tests)


def test_integer_cadence_tests_every_k_steps(paper):
    decision = replay(valley(T), total_steps=T, options=paper.replace(check_every=50))
    steps = [t.step for t in decision.tests]
    assert steps == list(range(50, 50 * (len(steps) + 1), 50))


def test_auto_cadence_spaces_tests_by_lr_growth(paper):
    decision = replay(valley(T, lr_min=0.5), total_steps=T, options=paper)
    lrs = warmup_lr([t.step for t in decision.tests], T)
    growth = lrs[1:] / lrs[:-1]
    assert np.all(growth <= 1.2 + 1e-9)
    assert np.all(growth >= 1.1)  # not more often than needed


def test_steepest_peak_is_below_the_minimum(paper):
    losses = valley(T, lr_min=1e-2)
    minimum = replay(losses, total_steps=T, options=paper)
    steepest = replay(losses, total_steps=T, options=paper.replace(peak="steepest"))
    assert steepest.peak_lr < minimum.peak_lr


def test_peak_factor_scales_the_chosen_lr(paper):
    losses = valley(T, lr_min=1e-2)
    full = replay(losses, total_steps=T, options=paper)
    third = replay(losses, total_steps=T, options=paper.replace(peak_factor=0.3))
    assert third.switch_step == full.switch_step
    assert third.peak_lr == pytest.approx(0.3 * full.peak_lr, rel=1e-12)


def test_gp_runs_on_the_host_cpu_in_float64():
    smoother = WarmupDetector().smoother
    x = np.linspace(0, 1, 50)
    params = smoother.fit(x, np.sin(3 * x), gp.initial_params())
    assert params.dtype == np.float64
    mean, _, _, _ = smoother.posterior(x, np.sin(3 * x), params)
    assert mean.dtype == np.float64
    assert "CPU" in smoother.device


def test_too_few_finite_losses_run_no_test():
    losses = np.full(200, np.nan)
    losses[:5] = 1.0
    detector = WarmupDetector()
    result = detector.test(np.arange(5), losses[:5], 200, lambda s: s)
    assert result is None and detector.results == []


def test_cap_inside_an_execution_switches_at_its_end(paper):
    """W = 50 falls inside the execution of steps 48-51: the host acts at 52."""
    decision = replay(falling(100, n=100), total_steps=100, steps_per_execution=4,
                      options=paper)
    assert decision.reason == "cap"
    assert decision.switch_step == 52


# gp="reference" (PAPER): the authors' GP fit, not the library's.
REFERENCE = Options(gp="reference", initial_noise=1e-3)


def test_the_reference_gp_tests_from_the_first_losses():
    """The reference tests at each epoch end whatever the count; the library from 10."""
    losses = valley(200, n=100)
    steps = np.arange(5)
    assert WarmupDetector().test(steps, losses[:5], 5, lambda s: s) is None
    result = WarmupDetector(REFERENCE).test(steps, losses[:5], 5, lambda s: s)
    assert result is not None and len(result.probabilities) == 5


def test_the_reference_gp_keeps_one_adam_and_restarts_the_mean():
    losses = valley(400, n=200)
    lr = lambda s: warmup_lr(s, 400)  # noqa: E731
    detector = WarmupDetector(REFERENCE)
    for n in (50, 100, 150):
        detector.test(np.arange(n), losses[:n], n, lr)
    assert detector.adam_state.step == 3 * gp.ADAM_STEPS
    # The next fit starts from the last amplitude and noise, its mean at the
    # mean of every loss so far (the reference's `add_data`), in loss units.
    start = detector._reference_start(losses[:200], losses[:200])
    np.testing.assert_array_equal(start[:2], detector.params[:2])
    assert start[2] == np.mean(losses[:200])
    detector.reset()
    assert detector.adam_state.step == 0 and detector.params is None
    assert WarmupDetector().adam_state is None  # the library: a fresh Adam per fit


def test_the_reference_gp_works_in_loss_units():
    """The library's fit follows the losses' scale; the reference's starts and floor do not."""
    losses = valley(400, n=200)
    lr = lambda s: warmup_lr(s, 400)  # noqa: E731

    def noise(options, factor):
        return WarmupDetector(options).test(
            np.arange(200), factor * losses, 200, lr).noise

    assert noise(Options(), 1000.0) == pytest.approx(1e6 * noise(Options(), 1.0), rel=1e-6)
    assert noise(REFERENCE, 1000.0) != pytest.approx(
        1e6 * noise(REFERENCE, 1.0), rel=1e-2)


def test_the_reference_gp_maps_the_minimum_on_the_lr_of_the_newest_loss():
    """`min_lr * (lr(n - 1) / min_lr)**x`, the reference's: steps `x (n - 1)`."""
    losses = valley(400, n=120)
    asked = []

    def lr(s):
        asked.append(float(s))
        return warmup_lr(s, 400)

    WarmupDetector(REFERENCE).test(np.arange(120), losses, 120, lr)
    grid = np.linspace(0.0, 1.0, 500)
    assert asked and all(np.min(np.abs(grid * 119 - s)) < 1e-9 for s in asked)


def test_a_test_holds_blas_to_one_thread_and_gives_it_back(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    before = blas_threads()
    if not before or max(before) == 1:
        pytest.skip("BLAS has one thread here anyway: nothing to hold")
    seen = []
    posterior = WarmupDetector._posterior

    def watched(self, *args, **kwargs):  # NumPy products outside linalg's calls
        seen.append(blas_threads())
        return posterior(self, *args, **kwargs)

    monkeypatch.setattr(WarmupDetector, "_posterior", watched)
    decision = replay(valley(T, lr_min=1e-2), total_steps=T)
    assert decision.tests and seen
    assert all(max(threads) == 1 for threads in seen)
    assert blas_threads() == before  # the user's NumPy keeps its threads
