"""Resume after preemption: SIGKILL a training process, resume in a new one.

The LR of every step after the resume must equal the uninterrupted run's,
bit for bit (float32 bits compared), and the decision must be the same.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from keras_autolr import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 300


def _run(out, *args, expect_kill=False):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.workers.resume_worker", str(out), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    if expect_kill:
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    else:
        assert proc.returncode == 0, proc.stderr[-3000:]


def _lrs(out):
    """Last LR recorded for each step (a resumed step is recorded again)."""
    by_step = {}
    with open(os.path.join(out, "lr.txt")) as f:
        for line in f:
            step, bits = line.split()
            by_step[int(step)] = int(bits)
    steps = sorted(by_step)
    return np.array(steps), np.array([by_step[s] for s in steps], np.uint32)


def _decision(out):
    with open(os.path.join(out, "decision.txt")) as f:
        return f.read().split()


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    _run(out)
    return out


def _assert_same_run(out, reference):
    steps, bits = _lrs(out)
    ref_steps, ref_bits = _lrs(reference)
    np.testing.assert_array_equal(steps, ref_steps)
    np.testing.assert_array_equal(bits, ref_bits)  # bit for bit
    assert _decision(out) == _decision(reference)


@pytest.mark.slow
@pytest.mark.parametrize("kill_epoch", [1, 6], ids=["during-warmup", "after-switch"])
def test_kill_at_an_epoch_boundary_then_resume(tmp_path, uninterrupted, kill_epoch):
    switch_step = int(_decision(uninterrupted)[0])
    steps_per_epoch = 11
    # The two kills fall on either side of the switch of the whole run.
    assert ((kill_epoch + 1) * steps_per_epoch < switch_step) == (kill_epoch == 1)
    _run(tmp_path, "--kill-epoch", str(kill_epoch), expect_kill=True)
    assert os.path.exists(state_lib.state_path(tmp_path / "backup"))
    _run(tmp_path)
    _assert_same_run(tmp_path, uninterrupted)


@pytest.mark.slow
def test_kill_mid_epoch_resumes_without_a_second_warmup(tmp_path, uninterrupted):
    _run(tmp_path, "--kill-epoch", "2", "--kill-batch", "5", expect_kill=True)
    _run(tmp_path)
    _assert_same_run(tmp_path, uninterrupted)


@pytest.mark.slow
def test_model_checkpoint_and_initial_epoch_resume(tmp_path, uninterrupted):
    _run(tmp_path, "--mode", "checkpoint", "--kill-epoch", "3", expect_kill=True)
    _run(tmp_path, "--mode", "checkpoint", "--resume")
    _assert_same_run(tmp_path, uninterrupted)


# Resume by default: `AutoLR()` with no option beside `BackupAndRestore`, which
# AutoLR finds in the same `fit` and keeps its state beside. The whole run
# switches at step 37 (epoch 4 of 8, 11 steps per epoch).
DEFAULT_KILLS = {
    "epoch-end-warmup": ("1", None),
    "mid-epoch-warmup": ("2", "5"),
    "mid-epoch-at-the-switch": ("3", "4"),
    "epoch-end-decay": ("5", None),
}


@pytest.fixture(scope="module")
def uninterrupted_default(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole_default")
    _run(out, "--mode", "default")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kill", list(DEFAULT_KILLS))
def test_default_autolr_beside_backup_and_restore_resumes_bit_identically(
        tmp_path, uninterrupted_default, kill):
    epoch, batch = DEFAULT_KILLS[kill]
    args = ["--mode", "default", "--kill-epoch", epoch]
    if batch is not None:
        args += ["--kill-batch", batch]
    _run(tmp_path, *args, expect_kill=True)
    assert os.path.exists(state_lib.state_path(tmp_path / "backup"))
    _run(tmp_path, "--mode", "default")
    _assert_same_run(tmp_path, uninterrupted_default)
