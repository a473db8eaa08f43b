"""AutoLR on the JAX and PyTorch backends of Keras 3, as on TensorFlow.

The same checks run on the three backends.

Each case runs a small script of tests/backend_scripts in a fresh process
with `KERAS_BACKEND` set (Keras picks its backend once per process):

- digits_fit.py: `model.fit(..., callbacks=[AutoLR()])` on a digits MLP
  (zero-config and pair form; on JAX also `steps_per_execution=4` with
  `jit_compile=True`). A probe weight whose gradient is a known constant
  measures the LR each compiled step applied, from the weights alone: the
  sum over the run equals the schedule's formula with the decision taken,
  over the steps the rewind kept, which holds only if the switch and the
  rewind, written by the host mid-epoch, reached the next compiled step.
  History's `learning_rate` at each epoch end is the next step's LR.
- checkpoint.py: the decision survives a `.weights.h5` round trip, a
  `.keras` file, a `.keras` file written by `ModelCheckpoint` and
  `BackupAndRestore`, and
  files saved without AutoLR load into an optimizer with it, and the
  other way round, with the optimizer's slots and no warning.
- gan.py: keras.io's GAN (two optimizers, a custom `train_step` in the
  backend's idiom): `AutoLR()` on the unused compiled optimizer fails after
  one step, naming `AutoLR(optimizer=[d_optimizer, g_optimizer]...)`; both
  optimizers given share one schedule driven by `g_loss`; one given leaves
  the other at its own LR.
- other_callbacks.py: `ReduceLROnPlateau` or `LearningRateScheduler` in the
  same `fit` is refused before the first step, the optimizer's own LR put
  back.
- resume_fit.py: SIGKILLed mid-epoch beside `BackupAndRestore`, then
  restarted (during warmup and after the switch): every step's LR, the
  decision (the rewind's step included) and the final weights equal the
  uninterrupted run's, bit for bit.
- nan_fit.py: a NaN loss mid-warmup is restored from the newest snapshot
  with one warning, and the run goes on to a detected switch, its weights
  finite.

JAX runs with the interpreter named by `KERAS_AUTOLR_JAX_PYTHON`, else this
one if it has jax (CI's jax lane); torch with this interpreter. A backend that is not installed is skipped, with the
reason.
"""

import functools
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from keras_autolr._keras import IS_KERAS_3

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(__file__).resolve().parent / "backend_scripts"
STEPS_PER_EPOCH = 29  # 1,797 digits in batches of 64
# TensorFlow too: the same scripts and checks on the backend the rest of the
# suite runs on.
BACKENDS = ["tensorflow", "jax", "torch"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 has only TensorFlow"),
]


def _jax_python():
    """An interpreter with jax and Keras 3, or None."""
    given = os.environ.get("KERAS_AUTOLR_JAX_PYTHON")
    if given:
        return given
    if importlib.util.find_spec("jax") is not None:
        return sys.executable
    return None


def _python(backend):
    """The interpreter that runs `backend`; skips the test when there is none.

    `KERAS_AUTOLR_TEST_BACKENDS` (a comma-separated list, default: all)
    limits the backends: CI gives each lane its own (the main lane
    tensorflow; the jax and torch lanes theirs, without TensorFlow), so no
    case runs twice.
    """
    chosen = os.environ.get("KERAS_AUTOLR_TEST_BACKENDS")
    if chosen and backend not in chosen.split(","):
        pytest.skip(f"KERAS_AUTOLR_TEST_BACKENDS={chosen}: {backend} is another lane's")
    if backend == "jax":
        python = _jax_python()
        if python is None:
            pytest.skip("jax is not installed here: set KERAS_AUTOLR_JAX_PYTHON "
                        "to a Python with jax[cpu] and this package")
        return python
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed in this interpreter")
    return sys.executable


def _start(backend, script, *args, xla_flags=None):
    """Runs `script` with `args` on `backend` in a fresh process; the finished process."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(
                   [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run(
        [_python(backend), str(SCRIPTS / script), *args], env=env, cwd=str(ROOT),
        capture_output=True, text=True, timeout=300)


@functools.lru_cache(maxsize=None)
def _run(backend, script, options="{}", xla_flags=None):
    """Runs `script` on `backend` in a fresh process; its JSON output (cached)."""
    done = _start(backend, script, options, xla_flags=xla_flags)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == backend
    return result


def _fit(backend, **options):
    return _run(backend, "digits_fit.py", json.dumps(options, sort_keys=True))


def _scheduled_lr(run):
    """The LR of every step, from the schedule's formulas and the decision taken."""
    total, cap = run["total_steps"], run["warmup_steps"]
    low, high = run["min_lr"], run["max_lr"]
    switch, peak = run["switch_step"], run["peak_lr"]

    def warmup(t):  # exponential, capped at the longest warmup
        return low * (high / low) ** (min(t, cap) / cap)

    def cosine(t, start, top):
        return top / 2 * (1 + math.cos(math.pi * (t - start) / (total - start)))

    return np.array([
        warmup(t) if t < min(switch, cap)
        else cosine(t, cap, warmup(cap)) if t < switch  # decaying from the cap
        else cosine(t, switch, peak)
        for t in range(total)])


def _assert_applied_lr_is_the_schedule(run):
    """The probe moved by exactly the scheduled LRs of the steps that stayed."""
    lr, scale = _scheduled_lr(run), run["probe_scale"]
    switch, restored = run["switch_step"], run["restored_step"]
    # The rewind put the weights of step `restored` back at the switch: the
    # steps in between no longer count.
    kept = [t for t in range(run["total_steps"])
            if restored is None or t < restored or t >= switch]
    assert run["b"][-1] == pytest.approx(-scale * lr[kept].sum(), rel=1e-4)
    # Each epoch after the switch: the decay, step by step.
    ends = list(zip(run["steps"], run["b"]))
    for (start, b_start), (end, b_end) in zip(ends, ends[1:]):
        if start >= switch:
            assert (b_start - b_end) / scale == pytest.approx(
                lr[start:end].sum(), rel=1e-4, abs=1e-6)


def _assert_decided(run, epochs, steps_per_epoch=STEPS_PER_EPOCH):
    assert run["steps"] == [steps_per_epoch * (i + 1) for i in range(epochs)]
    assert run["total_steps"] == steps_per_epoch * epochs
    assert run["switch_step"] is not None
    assert run["schedule_switch_step"] == run["switch_step"]
    assert run["schedule_peak_lr"] == pytest.approx(run["peak_lr"], rel=1e-6)
    assert run["logged_lr"][-1] == 0.0  # decayed to 0 at the end of the budget
    assert np.isfinite(run["loss"]).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_schedule_equals_the_formulas_on_each_backend(backend):
    from tests.test_schedule import STEPS
    from tests.test_schedule import expected

    run = _run(backend, "schedule_values.py", json.dumps(STEPS))
    assert len(run["values"]) == (24 if backend == "jax" else 12)
    for key, got in run["values"].items():
        warmup, decay, switched, _ = key.split("/")
        s, p = (300, 0.02) if switched == "True" else (None, None)
        want = [expected(warmup, decay, t, s, p) for t in STEPS]
        # float32 math, as tests/test_schedule.py allows.
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7, err_msg=key)


# 9 epochs: the longest warmup (130 steps) ends mid-epoch, as a switch does.
@pytest.mark.parametrize("form", ["zero", "pair"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_switches_and_its_compiled_steps_apply_the_scheduled_lr(backend, form):
    run = _fit(backend, form=form, epochs=9, logs=True)
    _assert_decided(run, epochs=9)
    _assert_applied_lr_is_the_schedule(run)
    # History and CSVLogger show the LR; AutoLR's TensorBoard scalars are
    # written (through tf.summary, on every backend for now).
    assert run["csv_learning_rate"] == pytest.approx(run["logged_lr"])
    assert len(run["event_files"]) == 1
    assert run["plot_axes"] >= 2  # AutoLR.plot(): the loss and the schedule


@pytest.mark.parametrize("form", ["zero", "pair"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])  # torch: 1 step per execution
def test_steps_per_execution_and_jit_compile_apply_the_scheduled_lr(backend, form):
    run = _fit(backend, form=form, epochs=9, steps_per_execution=4,
               jit_compile=True)
    _assert_decided(run, epochs=9)
    _assert_applied_lr_is_the_schedule(run)


def test_jax_data_parallel_over_two_devices_applies_the_scheduled_lr():
    # Two CPU devices; the state is replicated, one LR for every device.
    run = _run("jax", "digits_fit.py", json.dumps({"data_parallel": True, "epochs": 9}),
               xla_flags="--xla_force_host_platform_device_count=2")
    assert run["devices"] == 2
    _assert_decided(run, epochs=9, steps_per_epoch=28)
    _assert_applied_lr_is_the_schedule(run)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_custom_train_step_applies_the_scheduled_lr(backend):
    # keras.io's "Going lower-level" step in the backend's idiom (JAX: state
    # in, state out; PyTorch: backward and optimizer.apply).
    run = _run(backend, "custom_step.py")
    assert run["switch_step"] is not None
    assert run["steps"] == [STEPS_PER_EPOCH * (i + 1) for i in range(9)]
    _assert_applied_lr_is_the_schedule(run)


def test_jax_rewind_reaches_the_next_compiled_step():
    run = _fit("jax", form="zero", epochs=9, logs=True)
    assert run["restored_step"] is not None  # this run rewinds
    # Without the rewind the probe would have moved by every step's LR.
    lr, scale = _scheduled_lr(run), run["probe_scale"]
    assert run["b"][-1] != pytest.approx(-scale * lr.sum(), rel=1e-3)
    _assert_applied_lr_is_the_schedule(run)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_file_keeps_the_decision(backend):
    run = _run(backend, "checkpoint.py")
    assert run["with_to_with_warnings"] == []
    assert run["with_to_with_slots_equal"] and run["slot_count"] == 2
    assert run["with_to_with_iterations"] == 4
    assert run["with_to_with_switch"] == [3, pytest.approx(0.02)]
    assert run["next_fit_switch"] == [3, pytest.approx(0.02)]
    # The next fit decays from the loaded switch: the bias moves by -LR.
    _assert_decays_over(run["next_fit_bias"])


def _assert_decays_over(seen):
    """The epoch of steps 8-12 decayed from the saved switch (the bias moved by -LR)."""
    (start, b_start), (end, b_end) = seen
    assert (start, end) == (8, 12)
    decay = [0.02 / 2 * (1 + math.cos(math.pi * (t - 3) / (200 - 3)))
             for t in range(start, end)]
    assert b_start - b_end == pytest.approx(sum(decay), rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_keras_file_keeps_the_decision(backend):
    run = _run(backend, "checkpoint.py")
    assert run["keras_file_switch"] == [3, pytest.approx(0.02)]
    _assert_decays_over(run["keras_file_bias"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_model_checkpoint_keras_file_keeps_the_decision(backend):
    run = _run(backend, "checkpoint.py")
    assert run["model_checkpoint_switch"] == [3, pytest.approx(0.02)]
    _assert_decays_over(run["model_checkpoint_bias"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_backup_and_restore_keeps_the_decision_without_autolrs_own_file(backend):
    run = _run(backend, "checkpoint.py")
    assert run["backup_switch"] == [3, pytest.approx(0.02)]
    _assert_decays_over(run["backup_bias"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_file_saved_without_autolr_loads_into_an_autolr_optimizer(backend):
    run = _run(backend, "checkpoint.py")
    assert run["without_to_with_warnings"] == []  # no count mismatch
    assert run["without_to_with_slots_equal"]
    assert run["without_to_with_switch"] is None  # nothing to restore: warmup


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_file_saved_with_autolr_loads_into_an_optimizer_without_it(backend):
    run = _run(backend, "checkpoint.py")
    assert run["with_to_without_warnings"] == []
    assert run["with_to_without_slots_equal"]


def test_jax_trainer_internals_keras_autolr_reads():
    """`_keras.sync_model_state` and `track_optimizer_state` on Keras' JAX trainer."""
    run = _run("jax", "jax_internals.py")
    assert run["has_jax_state_sync"]  # Model.jax_state_sync
    # Synced, the host's write reached the next compiled step (5 - 2 x 0.1);
    # the flag that makes the trainer hand the step the variables is set.
    assert run["bias_sync_True"] == pytest.approx(4.8)
    assert run["flag_sync_True"] is True  # Model._jax_state_synced
    # Not synced, the write is lost: what the sync is for.
    assert run["bias_sync_False"] == pytest.approx(-0.4)
    # Optimizer._track_variable; the weights file keeps the plain count.
    assert run["tracked"]
    assert run["saved_numbered"] == run["numbered_without"]
    # Through a LossScaleOptimizer (mixed precision) too.
    assert run["wrapper_tracked"]
    assert run["wrapper_saved_numbered"] == run["wrapper_numbered_without"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_find_lr_suggests_and_puts_the_model_back_bit_for_bit(backend):
    run = _run(backend, "find_lr.py")
    assert run["steps"] >= 20 and 1e-7 < run["suggestion"] < 10.0
    assert run["weights_restored"] and run["optimizer_restored"]


# ------------------------------------------------- several optimizers (GAN)
GAN_STEPS_PER_EPOCH, GAN_EPOCHS = 14, 4  # gan.py: 1,400 digits in batches of 100


@pytest.mark.parametrize("backend", BACKENDS)
def test_gan_autolr_on_the_unused_compiled_optimizer_fails_after_one_step(backend):
    # keras.io's GAN: `compile()` leaves RMSprop as `model.optimizer`, which
    # the custom step never applies.
    run = _run(backend, "gan.py")["unused"]
    assert "did not take a step" in run["error"]
    assert "AutoLR(optimizer=[d_optimizer, g_optimizer]" in run["error"]
    assert "Received optimizer=<" in run["error"] and "RMSprop" in run["error"]
    assert run["d_iterations"] == 1  # one step, then the error
    # The compiled optimizer's own LR (RMSprop's default) is back.
    assert not run["compiled_lr_is_schedule"]
    assert run["compiled_lr"] == pytest.approx(1e-3)


def _per_step_losses(running_means):
    """The loss of each step, from `fit`'s running means of each epoch."""
    return np.concatenate([
        np.diff(np.asarray(means, np.float64) * np.arange(1, len(means) + 1),
                prepend=0.0)
        for means in running_means])


@pytest.mark.parametrize("backend", BACKENDS)
def test_gan_both_optimizers_share_one_schedule_driven_by_the_monitored_loss(backend):
    run = _run(backend, "gan.py")["both"]
    steps = GAN_STEPS_PER_EPOCH * GAN_EPOCHS
    assert run["d_lr_is_schedule"] and run["g_lr_is_schedule"]
    assert run["d_iterations"] == run["g_iterations"] == steps
    assert run["total_steps"] == steps
    # AutoLR recorded the step losses of `g_loss`, the generator's Mean.
    means = run["logged_g_loss"]
    # float32 running means: undoing the mean multiplies their rounding by
    # the step count (up to 14 ulps of the largest), as on TensorFlow.
    largest = max(abs(m) for epoch in means for m in epoch)
    atol = GAN_STEPS_PER_EPOCH * float(np.spacing(np.float32(largest)))
    np.testing.assert_allclose(run["record_loss"], _per_step_losses(means),
                               rtol=1e-4, atol=atol)
    assert run["tests"] > 0
    assert run["weights_finite"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_gan_one_optimizer_given_leaves_the_other_at_its_own_lr(backend):
    run = _run(backend, "gan.py")["one"]
    assert run["g_lr_is_schedule"] and not run["d_lr_is_schedule"]
    assert run["d_lr"] == pytest.approx(3e-4)  # tests/_training.GAN_LR
    assert len(run["record_loss"]) == GAN_STEPS_PER_EPOCH * GAN_EPOCHS
    assert np.isfinite(run["record_loss"]).all()
    assert run["weights_finite"]


# ------------------------------------------------- other LR callbacks
@pytest.mark.parametrize("other", ["ReduceLROnPlateau", "LearningRateScheduler"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_lr_setting_callback_in_the_same_fit_is_refused_before_training(
        backend, other):
    run = _run(backend, "other_callbacks.py")[other]
    assert run["error"] is not None
    assert f"AutoLR and {other} are in the same `fit`" in run["error"]
    assert "learning rate of Adam" in run["error"]
    assert run["iterations"] == 0  # not a step trained
    # The optimizer's own LR is back: the same fit without AutoLR runs.
    assert not run["lr_is_schedule"]
    assert run["lr_after_error"] == pytest.approx(1e-3)
    assert run["lr_after_fit_without_autolr"] == pytest.approx(
        5e-4 if other == "LearningRateScheduler" else 1e-3)


# ------------------------------------------------- SIGKILL and restart
# resume_fit.py: 11 steps per epoch, 88 steps. The whole run switches at
# step 24 (TensorFlow, JAX) or 36 (PyTorch), rewinding to step 20. The
# snapshots of warmup are saved with AutoLR's state at each epoch end: the
# restarted run rewinds to the same one, and reports the rewind made.
KILLS = {"during-warmup": [1, 5], "after-the-switch": [4, 5]}  # [epoch, batch]


@functools.lru_cache(maxsize=None)
def _resumed(backend, kill=None):
    """resume_fit.py's result and LR record: SIGKILLed at `kill`, then restarted."""
    out = tempfile.mkdtemp(prefix=f"resume_{backend}_")
    if kill is not None:
        done = _start(backend, "resume_fit.py", out, json.dumps({"kill": KILLS[kill]}))
        assert done.returncode == -signal.SIGKILL, done.stderr[-4000:]
        assert not os.path.exists(os.path.join(out, "result.json"))
    done = _start(backend, "resume_fit.py", out)
    assert done.returncode == 0, done.stderr[-4000:]
    with open(os.path.join(out, "result.json")) as f:
        result = json.load(f)
    assert result["backend"] == backend
    lrs = {}  # the last LR recorded for each step (a redone step is recorded again)
    with open(os.path.join(out, "lr.txt")) as f:
        for line in f:
            step, bits = line.split()
            lrs[int(step)] = int(bits)
    return result, lrs


def _assert_same_lrs_and_decision(backend, kill):
    (whole, whole_lrs), (resumed, resumed_lrs) = _resumed(backend), _resumed(backend, kill)
    assert whole["reason"] == "detected"
    assert sorted(whole_lrs) == list(range(88))
    assert resumed_lrs == whole_lrs  # every step's LR, float32 bits
    for key in ("switch_step", "peak_lr", "reason", "test_steps"):
        assert resumed[key] == whole[key], key
    return whole, resumed


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_after_the_switch_then_restart_ends_bit_identical(backend):
    whole, resumed = _assert_same_lrs_and_decision(backend, "after-the-switch")
    assert resumed["weights"] == whole["weights"]  # float32 bytes


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_during_warmup_then_restart_ends_bit_identical(backend):
    whole, resumed = _assert_same_lrs_and_decision(backend, "during-warmup")
    assert whole["restored_step"] is not None  # the switch rewound
    assert resumed["restored_step"] == whole["restored_step"]
    assert resumed["weights"] == whole["weights"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_after_the_switch_then_restart_reports_the_rewind_made(backend):
    whole, resumed = _assert_same_lrs_and_decision(backend, "after-the-switch")
    assert resumed["restored_step"] == whole["restored_step"]


# ------------------------------------------------- a NaN loss mid-warmup
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_nan_loss_mid_warmup_is_restored_from_a_snapshot_and_training_goes_on(backend):
    run = _run(backend, "nan_fit.py")
    nan_step = run["nan_step"]
    assert len(run["faults"]) == 1  # one bad batch, one fault
    fault, action = run["faults"][0]
    assert fault == nan_step and action.startswith("restored ")
    restored = int(action.split()[1])
    # The newest copy before the NaN: the plan takes one per doubling of the LR.
    doubling = run["warmup_steps"] * math.log(2) / math.log(run["max_lr"] / run["min_lr"])
    assert nan_step - doubling - 1 <= restored <= nan_step
    assert run["warnings"] == [
        f"AutoLR: non-finite loss at step {nan_step}; the weights and optimizer "
        f"state were restored from step {restored} and training goes on."]
    # The run did not die: the weights are finite, every epoch's loss too,
    # and warmup went on past the NaN to a detected switch.
    assert run["weights_finite"]
    assert np.isfinite(run["epoch_losses"]).all() and len(run["epoch_losses"]) == 12
    assert run["record_steps"] == 12 * 22
    assert run["reason"] == "detected" and run["switch_step"] > nan_step


# ------------------------------------------------- History
@pytest.mark.parametrize("backend", BACKENDS)
def test_history_shows_the_lr_of_the_next_step_at_each_epoch_end(backend):
    # Keras adds `learning_rate` to the epoch logs on every backend: the
    # optimizer's LR at its step counter then, the next epoch's first step
    # (0 once the budget is spent).
    run = _fit(backend, form="zero", epochs=9, logs=True)
    lr = np.append(_scheduled_lr(run), 0.0)
    np.testing.assert_allclose(run["logged_lr"], lr[run["steps"]], rtol=1e-5, atol=1e-9)
