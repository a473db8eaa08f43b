"""The detector never raises: odd scales, spikes, NaN runs, tiny records."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from keras_autolr import replay
from keras_autolr import Options
from tests.conftest import valley

T = 600


def _assert_sane(decision, total_steps, max_lr=1.0):
    assert decision.switch_step is None or 0 <= decision.switch_step <= total_steps
    if decision.switch_step is not None:
        assert math.isfinite(decision.peak_lr) and 0 < decision.peak_lr <= max_lr
    for test in decision.tests:
        assert all(0.0 <= p <= 1.0 for p in test.probabilities)
        assert test.inconclusive == (len(test.probabilities) == 0)


@pytest.mark.parametrize("name, losses", [
    ("constant", np.full(T // 2, 2.3)),
    ("tiny scale", 1e-30 * valley(T)),
    ("huge scale", 1e12 * valley(T)),
    ("huge offset", 1e12 + valley(T)),
    ("one huge spike", np.where(np.arange(T // 2) == 150, 1e30, valley(T))),
    ("few points", valley(T)[:12]),
    ("nine points", valley(T)[:9]),
])
def test_odd_records_give_a_finite_decision_or_none(name, losses):
    decision = replay(losses, total_steps=T)
    _assert_sane(decision, T)


def test_valley_at_any_scale_switches_like_at_unit_scale():
    base = replay(valley(T), total_steps=T)
    for scale in (1e-30, 1e12):
        scaled = replay(scale * valley(T), total_steps=T)
        assert scaled.switch_step == base.switch_step
        assert scaled.peak_lr == pytest.approx(base.peak_lr, rel=0.05)


def test_all_nan_record_restores_once_then_ends_warmup_as_diverged(paper):
    """The first NaN may be a bad batch; a second one at once is the LR's doing."""
    decision = replay(np.full(T // 2, np.nan), total_steps=T, options=paper)
    assert decision.faults == [(0, "restored 0"), (1, "diverged")]
    assert decision.reason == "diverged"
    assert decision.switch_step == 2
    assert decision.peak_lr == pytest.approx(1e-5)


def test_nan_ends_warmup_and_decays_from_the_gp_best_lr(paper):
    losses = valley(T, lr_min=1e-1)
    losses[200:] = np.nan  # diverges at step 200, before a detection
    decision = replay(losses, total_steps=T, options=paper)
    assert decision.reason == "diverged"
    assert decision.switch_step == 202  # the second NaN in a row decides
    assert decision.faults[0][0] == 200 and decision.faults[0][1].startswith("restored")
    clean = replay(valley(T, lr_min=1e-1)[:200], total_steps=T, options=paper)
    assert clean.switch_step is None  # no detection before step 200
    # The last regular test's choice: the final test also sees the blow-up.
    assert decision.peak_lr == decision.tests[-2].peak_lr


def test_a_lone_nan_at_a_small_lr_does_not_end_warmup():
    losses = valley(T, lr_min=1e-1)
    clean = replay(losses, total_steps=T)
    hit = losses.copy()
    hit[60] = np.nan  # a bad batch at LR ~1e-3, far below the minimum
    decision = replay(hit, total_steps=T)
    assert decision.faults == [(60, f"restored {decision.faults[0][1].split()[1]}")]
    assert decision.reason == clean.reason == "detected"
    assert abs(decision.switch_step - clean.switch_step) <= 3


def test_a_nan_far_past_the_best_lr_ends_warmup_at_once():
    losses = valley(T, lr_min=1e-3)
    clean = replay(losses, total_steps=T,
                   options=Options(require_descent=False, patience=50))
    assert clean.switch_step is None or clean.switch_step > 250
    hit = losses.copy()
    hit[250] = np.nan  # LR ~0.3: hundreds of times past the valley at 1e-3
    decision = replay(hit, total_steps=T,
                      options=Options(require_descent=False, patience=50))
    assert decision.faults == [(250, "diverged")]
    assert decision.reason == "diverged" and decision.switch_step == 251


def test_cholesky_failure_is_an_inconclusive_test(monkeypatch):
    from keras_autolr.decision import gp
    from keras_autolr.decision import linalg

    def fails(self, *args, **kwargs):
        raise linalg.NumericalError("Cholesky failed")

    monkeypatch.setattr(gp.GaussianProcessSmoother, "posterior", fails)
    decision = replay(valley(T), total_steps=T)
    assert decision.reason == "cap"
    assert decision.tests and all(t.inconclusive for t in decision.tests)


_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=-1e3, max_value=1e3),
    st.just(float("nan")),
)


@st.composite
def _records(draw):
    total = draw(st.integers(1, 400))
    n = draw(st.integers(0, total))
    kind = draw(st.sampled_from(["arbitrary", "curve", "curve-with-nans"]))
    if kind == "arbitrary":
        losses = np.array(draw(st.lists(_values, min_size=n, max_size=n)), np.float64)
    else:
        scale = draw(st.sampled_from([1e-30, 1e-6, 1.0, 1e6, 1e12]))
        seed = draw(st.integers(0, 2**16))
        losses = scale * valley(2 * max(n, 1), lr_min=draw(st.sampled_from([1e-3, 1e-1, 2.0])),
                                seed=seed, n=n)
        if kind == "curve-with-nans" and n:
            start = draw(st.integers(0, n - 1))
            losses[start:start + draw(st.integers(1, n))] = np.nan
    check_every = draw(st.one_of(st.just("auto"), st.integers(1, 50)))
    return losses, total, check_every


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_records())
def test_replay_never_raises_on_any_record(record):
    losses, total, check_every = record
    decision = replay(losses, total_steps=total,
                      options=Options(check_every=check_every))
    _assert_sane(decision, total)
