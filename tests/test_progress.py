"""Progress: one line per test (never one per step), hyperparameters at verbose=2."""

import re

import pytest

from keras_autolr import AutoLR
from tests import _training

STEPS_PER_EPOCH = 14  # 1,400 digits, batch 100
EPOCHS = 6
TEST_LINE = re.compile(
    r"^AutoLR: test (\d+) at step (\d+): P\(minimum passed\) \d\.\d{3}, "
    r"\d+/\d+ posteriors above 0\.95, \d/3 positive")


def _fit(autolr):
    _training.fit_small_digits([autolr], epochs=EPOCHS)


def _autolr_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("AutoLR")]


def test_one_line_per_test_and_none_per_step(capsys):
    autolr = AutoLR(check_every=4, verbose=1)
    _fit(autolr)
    lines = _autolr_lines(capsys)
    tests = autolr.decision.tests
    test_lines = [TEST_LINE.match(line) for line in lines if line.startswith("AutoLR: test")]
    assert all(test_lines)
    assert [(int(m[1]), int(m[2])) for m in test_lines] == [
        (t.index + 1, t.step) for t in tests]
    # Besides the tests: the LR replacement and the end of warmup, nothing.
    others = [line for line in lines if not line.startswith("AutoLR: test")]
    assert len(others) == 2
    assert others[0].startswith("AutoLR: replacing the learning rate")
    assert others[1].startswith(f"AutoLR: warmup ended ({autolr.decision.reason}) "
                                f"at step {autolr.switch_step}")
    assert len(lines) < STEPS_PER_EPOCH * EPOCHS / 3


def test_verbose_2_adds_the_gp_hyperparameters_to_each_test_line(capsys):
    autolr = AutoLR(check_every=8, verbose=2)
    _fit(autolr)
    test_lines = [line for line in _autolr_lines(capsys) if line.startswith("AutoLR: test")]
    assert len(test_lines) == len(autolr.decision.tests)
    for line, test in zip(test_lines, autolr.decision.tests):
        assert f"; GP amplitude {test.amplitude:.4g}, noise {test.noise:.4g}, " \
               f"mean {test.mean:.4g}" in line


def test_verbose_0_prints_nothing(capsys):
    autolr = AutoLR(check_every=8, verbose=0)
    _fit(autolr)
    assert autolr.decision.tests
    assert _autolr_lines(capsys) == []


@pytest.mark.parametrize("verbose", [3, -1])
def test_other_verbosities_are_refused(verbose):
    with pytest.raises(ValueError, match="verbose"):
        AutoLR(verbose=verbose)
