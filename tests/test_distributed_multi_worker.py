"""MultiWorkerMirroredStrategy, 2 local worker processes: one decision (issue 3).

Each test starts 2 workers on 127.0.0.1 (free ports, `TF_CONFIG` set here,
a time bound, both process groups killed whatever happens) that train the
same MLP for 4 detector seeds. Seeds 0-2 run the same options on both
workers; for seed 3 the second worker runs a detector with other options
and starts from a schedule that says warmup already ended,
so that its own decisions differ and only the agreement
(`keras_autolr.training.distributed.agree`) keeps it on the chief's learning rate.
Seed 4's loss reads 1e4 times too high on 5 steps of the decay, on both
workers: the decay guard must back off alike on each.
"Same" below means bit for bit (floats compared as hex strings).
"""

import importlib.util
import os
import sys

import numpy as np
import pytest

from keras_autolr.decision import controller as controller_lib
from keras_autolr._keras import IS_KERAS_3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "distributed_workers"))
import _common  # noqa: E402
import _launch  # noqa: E402

# tf.distribute: TensorFlow's own (its workers import TensorFlow).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="a TensorFlow test (TensorFlow is not installed)")

SEEDS = "0,1,2,3"
NATURAL_SEEDS = (0, 1, 2)
DISAGREE_SEED = 3
POISON_SEED = 4
BARE_SEED = 5  # loop_worker.py: the driver without the model, poisoned too
RESTART_SEED = 6  # loop_worker.py: a new driver at step RESTART_AT, in the sweep
RESTART_AT = 12
BACKUP_SEED = 0  # loop_worker.py: run again, started again from its backup
# Seconds for a pair of workers: 13-23 s on 2 shared cores (35-40 s when
# the cores were busy); not marked slow.
TIMEOUT = 300


def _keras_2_env():
    """Environment for Keras 2 `fit`: tf.keras 2.x, or tf-keras on TF 2.16+."""
    if not IS_KERAS_3:
        return {}
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("Keras 3 `fit` cannot run multi-worker and tf-keras is "
                    "not installed")
    return {"TF_USE_LEGACY_KERAS": "1"}


@pytest.fixture(scope="module")
def fit_workers(tmp_path_factory):
    """2 workers of Keras 2 `model.fit` with the `AutoLR` callback."""
    env = _keras_2_env()
    out = str(tmp_path_factory.mktemp("fit_workers"))
    return _launch.run("fit_worker.py", out, workers=2, timeout=TIMEOUT, env=env,
                       args=["--seeds", f"{SEEDS},{POISON_SEED}",
                             "--disagree-seeds", str(DISAGREE_SEED),
                             "--poison-seeds", str(POISON_SEED)])


@pytest.fixture(scope="module")
def loop_workers(tmp_path_factory):
    """2 workers of a custom loop with `WarmupDriver` (Keras 3 or 2)."""
    out = str(tmp_path_factory.mktemp("loop_workers"))
    args = ["--seeds", f"{SEEDS},{POISON_SEED},{BARE_SEED},{RESTART_SEED}",
            "--disagree-seeds", str(DISAGREE_SEED),
            "--poison-seeds", f"{POISON_SEED},{BARE_SEED}", "--bare-seeds", str(BARE_SEED),
            "--restart-seeds", str(RESTART_SEED), "--restart-at", str(RESTART_AT),
            "--backup-seeds", str(BACKUP_SEED), "--bad-backup-seeds", str(BACKUP_SEED)]
    if IS_KERAS_3:
        args.append("--try-fit")
    return _launch.run("loop_worker.py", out, workers=2, timeout=TIMEOUT,
                       args=args)


def _runs(results, seed):
    return [next(r for r in result["runs"] if r["seed"] == seed)
            for result in results]


def _assert_same_learning_rates(results):
    chief, other = results
    assert chief["task"] == 0 and other["task"] == 1
    assert chief["num_workers"] == other["num_workers"] == 2
    for seed in NATURAL_SEEDS + (DISAGREE_SEED,):
        a, b = _runs(results, seed)
        assert a["switch_step"] is not None, f"seed {seed}: no switch"
        assert (a["switch_step"], a["peak_lr"], a["reason"]) == (
            b["switch_step"], b["peak_lr"], b["reason"]), f"seed {seed}"
        assert (a["schedule_switch"], a["schedule_peak"]) == (
            b["schedule_switch"], b["schedule_peak"]), f"seed {seed}"
        assert len(a["lrs"]) == 72
        assert a["lrs"] == b["lrs"], f"seed {seed}: LRs differ"


def _assert_agreement_overrode_the_other_worker(results):
    chief, other = _runs(results, DISAGREE_SEED)
    assert chief["overrides"] == 0
    assert other["overrides"] > 0  # its own decision differed, and lost


def _assert_a_detected_switch(results):
    reasons = [_runs(results, s)[0]["reason"] for s in NATURAL_SEEDS]
    assert "detected" in reasons, reasons


def test_fit_every_worker_has_the_same_learning_rate_at_every_step(fit_workers):
    _assert_same_learning_rates(fit_workers)
    _assert_a_detected_switch(fit_workers)


def test_fit_schedule_state_is_mirrored_in_both_forms(fit_workers):
    # Seed 1 lets AutoLR install its own schedule (zero-config), the others
    # give it to the optimizer. Either way its state variables are created
    # under the strategy.
    for result in fit_workers:
        forms = {run["form"] for run in result["runs"]}
        assert forms == {"pair", "zero-config"}
        assert all(run["schedule_mirrored"] for run in result["runs"])


def test_fit_agreement_overrides_a_worker_that_decides_otherwise(fit_workers):
    _assert_agreement_overrode_the_other_worker(fit_workers)


def test_fit_every_worker_records_the_global_mean_loss(fit_workers):
    # The loss metric is read through an all-reduce: each worker records
    # the same loss, that of the whole global batch.
    for seed in NATURAL_SEEDS:
        a, b = _runs(fit_workers, seed)
        assert a["losses"] == b["losses"]
        first = float.fromhex(a["losses"][0])
        assert first == pytest.approx(a["first_global_batch_loss"], rel=1e-5)


def _assert_the_guard_backed_off_alike(results, seed=POISON_SEED):
    """The guard acts on the all-reduced loss, which every worker records:
    the same back-off step, the same lower peak and the same LR at every
    step. Returns the chief's run and its back-off (step, action)."""
    a, b = _runs(results, seed)
    assert a["losses"] == b["losses"]
    assert a["switch_step"] is not None and a["switch_step"] < _common.POISONED[0]
    assert a["faults"] == b["faults"]
    ((at, action),) = a["faults"]
    peak, lowered = float.fromhex(a["peak_lr"]), float.fromhex(a["decay_peak_lr"])
    assert action.endswith(f"peak {peak:.6g} -> {lowered:.6g}"), action
    assert lowered < peak
    assert a["decay_peak_lr"] == b["decay_peak_lr"]
    assert a["schedule_peak"] == b["schedule_peak"]  # a float32 variable
    assert float.fromhex(a["schedule_peak"]) == float(np.float32(lowered))
    assert a["lrs"] == b["lrs"] and len(a["lrs"]) == 72
    assert float.fromhex(a["lrs"][at + 1]) < float.fromhex(a["lrs"][at - 1])
    return a, at, action


def _assert_a_sound_copy_put_back(results):
    # The rewind put back sound weights at the switch; the poisoned steps
    # are the blow-up, and the copy put back predates them.
    a, at, action = _assert_the_guard_backed_off_alike(results)
    first, end = _common.POISONED
    assert first + 2 <= at < end  # 3 of the newest 5 executions above
    assert action.startswith("restored "), action
    restored = controller_lib.restored_copy(action)
    assert a["switch_step"] <= restored < first


def test_fit_decay_guard_backs_off_alike_on_every_worker(fit_workers):
    _assert_a_sound_copy_put_back(fit_workers)
    a, b = _runs(fit_workers, POISON_SEED)
    assert a["weights"] == b["weights"]
    assert a["weights_finite"] and b["weights_finite"]


def test_custom_loop_with_the_model_rewinds_alike_on_every_worker(loop_workers):
    # `WarmupDriver(model=...)`: every worker puts back the same copy at the
    # switch and ends with the same weights; the sweep's overshoot is undone,
    # so the loss ends below where it began.
    for seed in NATURAL_SEEDS + (DISAGREE_SEED, POISON_SEED):
        a, b = _runs(loop_workers, seed)
        assert a["form"] == "model"
        assert a["restored_step"] is not None, f"seed {seed}"
        assert a["restored_step"] == b["restored_step"] < a["switch_step"]
        assert a["weights"] == b["weights"], f"seed {seed}"
        losses = [float.fromhex(v) for v in a["losses"]]
        assert losses[-1] < losses[0], f"seed {seed}"


def test_custom_loop_decay_guard_backs_off_alike_on_every_worker(loop_workers):
    _assert_a_sound_copy_put_back(loop_workers)


def test_custom_loop_without_the_model_the_guard_acts_once(loop_workers):
    # The loop owns the weights: no rewind and no copy put back, so the
    # guard acts once, and the poisoned steps later do not lower the LR again.
    a, _, action = _assert_the_guard_backed_off_alike(loop_workers, BARE_SEED)
    assert a["form"] == "bare" and a["restored_step"] is None
    assert not action.startswith("restored"), action


def test_custom_loop_every_worker_has_the_same_learning_rate_at_every_step(
        loop_workers):
    _assert_same_learning_rates(loop_workers)
    _assert_a_detected_switch(loop_workers)
    for seed in NATURAL_SEEDS:
        a, b = _runs(loop_workers, seed)
        assert a["losses"] == b["losses"]


def test_custom_loop_started_again_in_the_sweep_goes_on_alike_on_every_worker(
        loop_workers):
    # A new driver on every worker at step 12: each counts from the
    # optimizer's step (before, from 0), and they decide and train alike.
    a, b = _runs(loop_workers, RESTART_SEED)
    assert a["restart_step"] == b["restart_step"] == RESTART_AT
    assert a["steps_seen"] == b["steps_seen"] == len(a["lrs"]) == 72
    assert RESTART_AT < a["switch_step"] == b["switch_step"]
    assert a["peak_lr"] == b["peak_lr"] and a["lrs"] == b["lrs"]
    assert RESTART_AT <= a["restored_step"] == b["restored_step"] < a["switch_step"]
    assert a["weights"] == b["weights"]


def test_custom_loop_started_again_from_its_backup_goes_on_as_the_uninterrupted_one(
        loop_workers):
    # `backup()` at step 12, then a new driver with the same `backup_dir` on
    # every worker: the chief reads the state and every worker takes its
    # record (a collective), so both decide, rewind and train as the
    # uninterrupted run of the same seed.
    uninterrupted = _runs(loop_workers, BACKUP_SEED)
    for run, whole in zip(_runs(loop_workers, f"{BACKUP_SEED}-backup"), uninterrupted):
        assert run["restart_step"] == RESTART_AT < run["switch_step"]
        for key in ("switch_step", "peak_lr", "reason", "restored_step", "tests",
                    "lrs", "losses", "weights"):
            assert run[key] == whole[key], key


def test_custom_loop_refused_backup_stops_every_worker_with_a_reason(loop_workers):
    # A backup of other options: the chief cannot take it back, and every
    # worker raises at once (before, the others would have waited for the
    # chief at the next collective); the chief names the option.
    chief, other = _runs(loop_workers, f"{BACKUP_SEED}-bad-backup")
    assert chief["backup_error"].startswith("StateFileError: ")
    assert "other options: seed=0 there, seed=1 here" in chief["backup_error"]
    assert other["backup_error"].startswith("StateFileError: The chief could not read")


def test_custom_loop_agreement_overrides_a_worker_that_decides_otherwise(
        loop_workers):
    _assert_agreement_overrode_the_other_worker(loop_workers)


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 `fit` runs multi-worker")
def test_keras_3_fit_with_autolr_fails_before_training(loop_workers):
    # Keras 3.15 fails inside `fit` before any callback runs (its own
    # ValueError about a PerReplica value, keras-team/keras#20585); a Keras 3
    # that gets as far as `on_train_begin` gets AutoLR's message instead.
    for result in loop_workers:
        error = result["fit_error"]
        assert error is not None
        assert "20585" in error or "PerReplica" in error, error
