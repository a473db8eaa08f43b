"""Resume after preemption: SIGKILL a training process, resume in a new one.

The LR of every step after the resume must equal the uninterrupted run's,
bit for bit (float32 bits compared), and the decision must be the same.
Below those, the resume decision in-process: where the state is, whether
a fit resumes from it, the replay, and the spent-budget error.
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from keras_autolr import AutoLRSchedule
from keras_autolr import Options
from keras_autolr.training.state import StateFileError
from keras_autolr.training import resume
from keras_autolr.training import state as state_lib
from keras_autolr._keras import keras
from keras_autolr.decision.controller import WarmupController
from tests.conftest import valley

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


# ---------------------------------------------------------------- the decision
SMALL_GP = Options(fit_points=50, predict_points=100, grid_points=100)


def _controller(total_steps=400):
    schedule = AutoLRSchedule(total_steps=total_steps)
    schedule.build()
    return WarmupController(schedule, SMALL_GP, 10, rewind=False,
                            restore_on_fault=False)


def test_the_state_dir_is_backup_dir_else_a_backup_and_restores():
    backup = keras.callbacks.BackupAndRestore("/tmp/from_backup")
    assert resume.state_dir("/tmp/given", [backup]) == "/tmp/given"
    assert resume.state_dir(None, [backup]) == "/tmp/from_backup"
    assert resume.state_dir(None, [keras.callbacks.History()]) is None
    assert resume.state_dir(None, None) is None  # the callbacks are unknown


def test_a_fit_resumes_from_the_file_unless_it_starts_fresh_or_holds_the_record(
        tmp_path):
    controller = _controller()
    for loss in valley(400, lr_min=1e-2)[:60]:
        controller.observe_mean(loss)
    assert resume.state_to_restore(str(tmp_path), None, 60) is None  # no file
    resume.save(str(tmp_path), controller, {"a": 1})
    path = state_lib.state_path(str(tmp_path))
    assert resume.state_to_restore(str(tmp_path), None, 60) == path
    assert resume.state_to_restore(str(tmp_path), _controller(), 40) == path
    assert resume.state_to_restore(str(tmp_path), controller, 60) is None
    assert resume.state_to_restore(str(tmp_path), None, 0) is None  # a new run
    assert resume.state_to_restore(None, None, 60) is None


def test_restore_replays_the_saved_record_to_the_same_tests(tmp_path):
    controller = _controller()
    for loss in valley(400, lr_min=1e-2)[:120]:
        controller.observe_mean(loss)
    resume.save(str(tmp_path), controller, {"a": 1})
    path = state_lib.state_path(str(tmp_path))
    made = []

    def new_controller():
        made.append(_controller())
        return made[-1]

    restored = resume.restore(path, {"a": 1}, new_controller, 100)
    assert restored is made[0] and restored.record.n_steps == 100
    tested = [r.step for r in controller.detector.results if r.step <= 100]
    assert [r.step for r in restored.detector.results] == tested
    with pytest.raises(StateFileError):  # other options: checked first
        resume.restore(path, {"a": 2}, new_controller, 100)
    assert len(made) == 1


def test_a_spent_budget_names_the_total_steps_that_covers_this_fit():
    message = resume.budget_spent_message(
        200, 200, 4, {"steps": 50, "epochs": 8})
    assert "budget of 200 steps is spent" in message
    assert "AutoLR(total_steps=400)" in message  # 200 + 50 x (8 - 4)
    assert "To train in chunks" not in resume.budget_spent_message(200, 200, 0)
