"""Progress: quiet at verbose=1, one line per test at verbose=2, never on the bar."""

import os
import re
import subprocess
import sys

import pytest

from keras_autolr import AutoLR
from keras_autolr import Options
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


def test_verbose_1_prints_the_replacement_and_the_end_of_warmup_only(capsys):
    autolr = AutoLR(options=Options(check_every=4), verbose=1)
    _fit(autolr)
    assert len(autolr.decision.tests) > 3
    lines = _autolr_lines(capsys)
    assert len(lines) == 2
    assert lines[0].startswith("AutoLR: replacing the learning rate")
    assert lines[1].startswith(f"AutoLR: warmup ended ({autolr.decision.reason}) "
                               f"at step {autolr.switch_step}")


def test_verbose_2_prints_one_line_per_test_with_the_gp_hyperparameters(capsys):
    autolr = AutoLR(options=Options(check_every=4), verbose=2)
    _fit(autolr)
    lines = _autolr_lines(capsys)
    tests = autolr.decision.tests
    test_lines = [line for line in lines if line.startswith("AutoLR: test")]
    assert all(TEST_LINE.match(line) for line in test_lines)
    assert [tuple(map(int, TEST_LINE.match(line).groups())) for line in test_lines] \
        == [(t.index + 1, t.step) for t in tests]
    for line, test in zip(test_lines, tests):
        assert f"; GP amplitude {test.amplitude:.4g}, noise {test.noise:.4g}, " \
               f"mean {test.mean:.4g}" in line
    # Besides the tests: the LR replacement, where the sweep starts (at
    # Adam's own LR) and the end of warmup; nothing else.
    start = [line for line in lines if line.startswith("AutoLR: the sweep starts")]
    assert start == ["AutoLR: the sweep starts at the optimizer's own LR 0.001."]
    assert len(lines) == len(tests) + 3
    assert len(lines) < STEPS_PER_EPOCH * EPOCHS / 3


def test_lines_are_never_glued_onto_the_progress_bar(capsys):
    """`fit(verbose=1)` redraws its bar with no newline; each AutoLR line starts one."""
    autolr = AutoLR(options=Options(check_every=4), verbose=2)
    _training.fit_small_digits([autolr], epochs=EPOCHS, verbose=1)
    out = capsys.readouterr().out
    starts = [m.start() for m in re.finditer("AutoLR: ", out)]
    # The tests, the replaced LR, the sweep's start and the end of warmup.
    assert len(starts) == len(autolr.decision.tests) + 3
    mid_epoch = [i for i in starts if "\r" in out[out.rfind("\n", 0, i - 1):i]]
    assert mid_epoch, "some lines must come while a bar is drawn"
    for i in starts:
        assert i == 0 or out[i - 1] == "\n", repr(out[max(0, i - 80):i + 10])


@pytest.mark.slow
def test_the_detectors_xla_compile_logs_nothing_to_stderr(tmp_path):
    """A fresh process (TensorFlow logs the first XLA compile once per process)."""
    script = (
        "import keras_autolr\n"
        "from tests import _training\n"
        "autolr = keras_autolr.AutoLR(\n"
        "    options=keras_autolr.Options(check_every=4), verbose=0)\n"
        "_training.fit_small_digits([autolr], epochs=3)\n"
        "assert autolr.decision.tests\n"
        "import sys; print('native', file=sys.stderr)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = root
    proc = subprocess.run([sys.executable, "-c", script], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.rstrip().endswith("native")  # stderr itself still works
    for marker in ("XLA service", "StreamExecutor", "MLIR crash reproducer",
                   "Compiled cluster using XLA", "SetPriority"):
        assert marker not in proc.stderr, proc.stderr


def test_verbose_0_prints_nothing(capsys):
    autolr = AutoLR(options=Options(check_every=8), verbose=0)
    _fit(autolr)
    assert autolr.decision.tests
    assert _autolr_lines(capsys) == []


@pytest.mark.parametrize("verbose", [3, -1])
def test_other_verbosities_are_refused(verbose):
    with pytest.raises(ValueError, match="verbose"):
        AutoLR(verbose=verbose)
