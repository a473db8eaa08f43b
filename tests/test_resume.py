"""Resume after preemption: SIGKILL a training process, resume in a new one.

The LR of every step after the resume must equal the uninterrupted run's,
bit for bit (float32 bits compared), the decision must be the same (the
rewind's step included), and so must the final weights, bit for bit: the
rewind's snapshots are saved with the state and restored.
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
from keras_autolr.training import snapshot_files
from keras_autolr.training import state as state_lib
from keras_autolr.training.snapshot import SnapshotRing
from keras_autolr.training.snapshot_files import SnapshotFiles
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


def _weights(out):
    """The final weights' bytes, in order."""
    with np.load(os.path.join(out, "weights.npz")) as data:
        return [data[f"arr_{i}"].tobytes() for i in range(len(data.files))]


def _assert_same_run(out, reference):
    steps, bits = _lrs(out)
    ref_steps, ref_bits = _lrs(reference)
    np.testing.assert_array_equal(steps, ref_steps)
    np.testing.assert_array_equal(bits, ref_bits)  # bit for bit
    assert _decision(out) == _decision(reference)
    assert _weights(out) == _weights(reference)  # bit for bit


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


# ------------------------------------------------------ the rewind's snapshots
def _rewinding_controller(total_steps=400):
    schedule = AutoLRSchedule(total_steps=total_steps)
    schedule.build()
    return WarmupController(schedule, SMALL_GP, 10)


def _tiny_ring(seed):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
    model.optimizer.build(model.trainable_variables)
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return SnapshotRing(model, model.optimizer)


def _train(controller, ring, n_steps):
    """`n_steps` of the valley; the weights change at every step, as in training."""
    if controller.record.n_steps == 0:
        controller.plan_snapshot()  # as a fit does at its start
    losses = valley(controller.schedule.total_steps, lr_min=1e-2)
    for loss in losses[controller.record.n_steps:n_steps]:
        for variable in ring.model.weights:
            variable.assign(variable.numpy() + np.float32(0.25))
        controller.observe_mean(loss)
        for action in controller.pop_actions():
            if action[0] == "snapshot":
                assert ring.take(action[1], action[2])
            else:
                assert ring.restore(action[1])


def _saved_run(directory, n_steps):
    """A run saved at `n_steps`, with its snapshots; `(controller, ring)`."""
    controller, ring = _rewinding_controller(), _tiny_ring(seed=0)
    _train(controller, ring, n_steps)
    resume.save(directory, controller, {"a": 1}, ring, SnapshotFiles(directory))
    return controller, ring


def _resumed(directory, start):
    """A new process's controller and ring, resumed at `start`."""
    ring = _tiny_ring(seed=1)
    controller = resume.restore(state_lib.state_path(directory), {"a": 1},
                                _rewinding_controller, start, ring,
                                SnapshotFiles(directory))
    return controller, ring


def _snapshot_files(directory):
    return sorted(name for name in os.listdir(directory)
                  if name.startswith("autolr_snapshot_"))


def test_warmup_snapshots_are_saved_with_the_state_and_restored_bit_for_bit(tmp_path):
    directory = str(tmp_path)
    controller, ring = _saved_run(directory, 60)
    assert controller.snapshot_steps == [39, 52]
    assert _snapshot_files(directory) == ["autolr_snapshot_39.npz",
                                          "autolr_snapshot_52.npz"]
    resumed, new_ring = _resumed(directory, 60)
    assert resumed.snapshot_steps == [39, 52] and new_ring.steps == [39, 52]
    assert resumed.pop_actions() == []  # the replay's own plan is dropped
    for step in (39, 52):
        for saved, restored in zip(*(r.held(step)[0] + r.held(step)[1]
                                     for r in (ring, new_ring))):
            assert saved.tobytes() == restored.tobytes()
    assert new_ring.restore(39)
    assert new_ring.take(61, keep=[39])  # 52's buffers, read from the file, reused
    assert new_ring.steps == [39, 61]


def test_the_resumed_run_rewinds_to_the_snapshot_of_the_uninterrupted_run(tmp_path):
    directory = str(tmp_path)
    whole, whole_ring = _saved_run(directory, 60)
    at_60 = [w.numpy() for w in whole_ring.model.weights]
    _train(whole, whole_ring, 170)
    resumed, ring = _resumed(directory, 60)
    for variable, value in zip(ring.model.weights, at_60):
        variable.assign(value)  # as BackupAndRestore does
    _train(resumed, ring, 170)
    assert (resumed.switch_step, resumed.restored_step) == (160, 117)
    assert (whole.switch_step, whole.restored_step) == (160, 117)
    for resumed_weight, whole_weight in zip(ring.model.weights, whole_ring.model.weights):
        assert resumed_weight.numpy().tobytes() == whole_weight.numpy().tobytes()


def test_after_the_switch_nothing_is_saved_and_the_rewind_made_is_kept(tmp_path):
    directory = str(tmp_path)
    _saved_run(directory, 60)
    controller, ring = _rewinding_controller(), _tiny_ring(seed=0)
    _train(controller, ring, 170)
    resume.save(directory, controller, {"a": 1}, ring, SnapshotFiles(directory))
    assert controller.restored_step == 117
    assert _snapshot_files(directory) == []  # the old ones deleted
    restored, new_ring = _resumed(directory, 170)
    assert restored.decision.restored_step == 117
    assert new_ring.steps == [] and restored.snapshot_steps == []


def test_a_state_file_without_snapshots_resumes_with_new_ones(tmp_path, recwarn):
    directory = str(tmp_path)
    controller, ring = _rewinding_controller(), _tiny_ring(seed=0)
    _train(controller, ring, 60)
    resume.save(directory, controller, {"a": 1})  # as an older keras_autolr
    assert _snapshot_files(directory) == []
    resumed, new_ring = _resumed(directory, 60)
    assert resumed.record.n_steps == 60
    assert new_ring.steps == [] and resumed.snapshot_steps == []
    assert resumed.pop_actions() == []
    assert not [w for w in recwarn if "AutoLR" in str(w.message)]


@pytest.mark.parametrize("damage", ["corrupt", "missing", "other model"])
def test_a_bad_snapshot_file_warns_and_resumes_with_new_ones(tmp_path, damage):
    directory = str(tmp_path)
    _saved_run(directory, 60)
    path = snapshot_files.snapshot_path(directory, 52)
    if damage == "corrupt":
        with open(path, "r+b") as f:
            f.truncate(100)
    elif damage == "missing":
        os.remove(path)
    else:  # another model's copy, saved under the same name
        other = SnapshotRing(keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)]),
                             keras.optimizers.Adam())
        other.take(52)
        SnapshotFiles(directory).save(other, [52])
    with pytest.warns(UserWarning, match="could not be restored"):
        resumed, ring = _resumed(directory, 60)
    assert resumed.record.n_steps == 60  # the state itself is restored
    assert ring.steps == [] and resumed.snapshot_steps == []


def test_snapshots_of_another_step_than_the_weights_are_not_used(tmp_path):
    directory = str(tmp_path)
    _saved_run(directory, 60)  # the state, saved after weights of step 50
    with pytest.warns(UserWarning, match="of step 60, the weights restored of step 50"):
        resumed, ring = _resumed(directory, 50)
    assert resumed.record.n_steps == 50
    assert ring.steps == [] and resumed.snapshot_steps == []
