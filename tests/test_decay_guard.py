"""A blow-up in the decay: the newest sound snapshot, and a lower peak LR.

After the switch, an execution whose loss lies more than `DECAY_BLOWUP_DEPTHS`
descent depths above the highest loss of the record's start, with most of
the newest `DAMAGE_WINDOW` executions since the switch above that height
too, is a blow-up the decay's LR caused (`WarmupController._back_off`).
"""

import math
import warnings

import numpy as np
import pytest

import keras_autolr
from keras_autolr import Options
from keras_autolr.decision import controller as controller_lib
from keras_autolr.decision.controller import WarmupController
from keras_autolr.training import fit_checks
from keras_autolr.training.batch_counter import BatchCounter
from keras_autolr.training.engine import WarmupEngine

from tests import _training
from tests import test_divergence
from tests.test_huge_loss import BOSTON_ADAM_SEED1
from tests.test_huge_loss import BOSTON_STEPS

OWN_LR = 1e-3
WINDOW = controller_lib.DAMAGE_WINDOW
# Executions above the ceiling, in a row, before most of the newest
# DAMAGE_WINDOW lie above it.
TO_ACT = WINDOW // 2 + 1


def _blow_up(controller, times=TO_ACT, factor=2.0):
    for _ in range(times):
        controller.observe([controller.decay_ceiling * factor])


def _switched(options=None, min_peak=None):
    """A controller past its cap (step 260 of 520), on the boston record."""
    losses = np.asarray(BOSTON_ADAM_SEED1)
    schedule = keras_autolr.AutoLRSchedule(total_steps=BOSTON_STEPS, min_lr=OWN_LR)
    controller = WarmupController(schedule, options or Options(seed=1), min_peak=min_peak)
    controller.observe_executions(losses, np.arange(1, len(losses) + 1))
    assert not controller.warming_up
    controller.pop_actions()
    return controller, losses


def _ceiling(losses):
    top = controller_lib._start_top(losses)
    return top + controller_lib.DECAY_BLOWUP_DEPTHS * (top - losses.min())


def test_the_ceiling_is_huge_loss_depths_above_the_start():
    controller, losses = _switched()
    assert controller.decay_ceiling == pytest.approx(_ceiling(losses))
    assert WarmupController(controller.schedule, Options()).decay_ceiling == math.inf


def test_a_huge_loss_in_the_decay_restores_a_sound_copy_and_lowers_the_peak():
    controller, losses = _switched()
    peak = controller.decay_peak_lr
    for _ in range(70):  # a decay that trains: snapshots come and go
        controller.observe([0.08])
    assert controller.faults == [] and controller.decay_peak_lr == peak
    controller.pop_actions()
    held = list(controller.snapshot_steps)
    _blow_up(controller, TO_ACT - 1, 1.01)
    assert controller.faults == []  # the median is not above the ceiling yet
    at = controller.record.n_steps
    _blow_up(controller, 1, 1.01)
    assert controller.decay_peak_lr == pytest.approx(peak * controller_lib.DECAY_BACKOFF)
    assert controller.peak_lr == peak  # the switch's decision stays
    restore = [a for a in controller.pop_actions() if a[0] == "restore"]
    assert restore == [("restore", held[-1])]
    assert controller.faults == [
        (at, f"restored {held[-1]}, peak {peak:.6g} -> {controller.decay_peak_lr:.6g}")]


def test_a_loss_under_the_ceiling_is_left_alone():
    controller, _ = _switched()
    peak = controller.decay_peak_lr
    _blow_up(controller, WINDOW, 0.99)
    assert controller.faults == [] and controller.decay_peak_lr == peak
    assert [a for a in controller.pop_actions() if a[0] == "restore"] == []


def test_one_noisy_batch_above_the_ceiling_is_left_alone():
    """autompg with RMSprop, batch 8, seed 1: one loss 10.1 depths high two
    steps after the switch, the others normal; putting back the rewind's
    copy for it cost 0.7 points."""
    controller, _ = _switched()
    peak = controller.decay_peak_lr
    for _ in range(4):  # at most 2 of any 5 executions in a row above it
        controller.observe([0.08])
        controller.observe([0.08])
        _blow_up(controller, 1, 50.0)
    assert controller.faults == [] and controller.decay_peak_lr == peak


def test_a_copy_the_blowup_damaged_is_passed_over():
    """A copy taken after losses above the start's is not put back."""
    controller, losses = _switched()
    for _ in range(40):
        controller.observe([0.08])
    before = list(controller.snapshot_steps)
    top = controller_lib._start_top(controller.points.y)
    while controller.snapshot_steps[-1] in before:  # a copy inside a blow-up
        controller.observe([top + 1.0])
    controller.pop_actions()
    damaged = controller.snapshot_steps[-1]
    assert controller._damaged(damaged)
    _blow_up(controller)
    (restore,) = [a for a in controller.pop_actions() if a[0] == "restore"]
    assert restore[1] != damaged and restore[1] in before


def test_a_copy_taken_inside_the_blowup_is_passed_over():
    """A copy due after the blow-up's first loss above the ceiling, with
    too few losses above the start before it to count as `_damaged`, holds
    weights the blow-up had reached: the copy before that loss goes back
    (a 2-worker `fit` put such a copy back, test_distributed_multi_worker)."""
    controller, _ = _switched()
    switch = controller.switch_step
    while controller.snapshot_steps[-1] <= switch:  # the decay's first copy
        controller.observe([0.08])
    controller.observe([0.08])
    while not controller._snapshot_due(controller.record.n_steps + TO_ACT - 1):
        controller.observe([0.08])
    before = controller._copies_on_path()
    assert before[-1] > switch
    onset = controller.record.n_steps  # the first huge loss is this step's
    _blow_up(controller, TO_ACT - 1)  # a copy comes due after these
    inside = controller.snapshot_steps[-1]
    assert inside == onset + TO_ACT - 1 and not controller._damaged(inside)
    assert controller.faults == []  # not blown up yet
    controller.pop_actions()
    _blow_up(controller, 1)
    (restore,) = [a for a in controller.pop_actions() if a[0] == "restore"]
    assert restore[1] == before[-1] < onset
    ((_, action),) = controller.faults
    assert action.startswith(f"restored {restore[1]}, ")


def _decay_with_a_copy_due(after):
    """A switched controller with a copy in its decay, and the next copy due
    `after` executions from now."""
    controller, _ = _switched()
    switch = controller.switch_step
    while controller.snapshot_steps[-1] <= switch:  # the decay's first copy
        controller.observe([0.08])
    controller.observe([0.08])
    while not controller._snapshot_due(controller.record.n_steps + after):
        controller.observe([0.08])
    return controller


def test_a_nan_after_a_climb_above_the_ceiling_backs_off_from_before_the_climb():
    """A loss above the ceiling, then NaN: the decay's LR blew it up. Before
    `_decay_fault`, the newest copy went back (taken inside the climb) and
    the peak stayed."""
    controller = _decay_with_a_copy_due(1)
    before, peak = controller._copies_on_path(), controller.decay_peak_lr
    onset = controller.record.n_steps
    _blow_up(controller, 1)  # one execution above the ceiling: a copy comes due
    inside = controller.snapshot_steps[-1]
    assert inside == onset + 1 and controller.faults == []
    controller.pop_actions()
    controller.observe([math.nan])
    (restore,) = [a for a in controller.pop_actions() if a[0] == "restore"]
    assert restore[1] == before[-1] < onset
    assert controller.decay_peak_lr == pytest.approx(peak * controller_lib.DECAY_BACKOFF)
    assert controller.faults == [(onset + 1, (
        f"restored {before[-1]}, peak {peak:.6g} -> {controller.decay_peak_lr:.6g}"))]
    message = fit_checks.fault_message(controller)
    assert f"blew up in the decay at step {onset + 1} (a non-finite loss after" in message
    assert f"restored from step {before[-1]}" in message


def test_a_lone_nan_in_the_decay_puts_back_the_newest_copy_and_the_guard_counts_anew():
    controller = _decay_with_a_copy_due(3)
    peak = controller.decay_peak_lr
    _blow_up(controller, TO_ACT - 1)  # not yet most of the newest
    controller.observe([0.08])
    newest = controller.snapshot_steps[-1]
    controller.pop_actions()
    controller.observe([math.nan])  # after a loss under the ceiling: alone
    assert [a for a in controller.pop_actions() if a[0] == "restore"] == [
        ("restore", newest)]
    assert controller.decay_peak_lr == peak
    _blow_up(controller, 1)  # counted from the copy put back: 1 of 1, not 3 of 5
    assert controller.decay_peak_lr == peak
    assert [action for _, action in controller.faults] == [f"restored {newest}"]


def test_the_peak_falls_to_the_own_lr_at_most():
    """With the optimizer's own LR known, the decay starts again from it or
    below: what the user had without AutoLR."""
    controller, _ = _switched(min_peak=OWN_LR)
    assert controller.decay_peak_lr * controller_lib.DECAY_BACKOFF > OWN_LR
    _blow_up(controller)
    assert controller.decay_peak_lr == OWN_LR
    _blow_up(controller)  # the blow-up goes on: counted from the restore
    assert controller.decay_peak_lr == OWN_LR * controller_lib.DECAY_BACKOFF


def test_without_a_copy_to_put_back_the_guard_acts_once():
    """`WarmupDriver` (its loop owns the weights): a lower LR does not undo
    the damage, so a loss that stays high does not drive the LR to 0."""
    losses = np.asarray(BOSTON_ADAM_SEED1)

    def driver_controller():
        schedule = keras_autolr.AutoLRSchedule(total_steps=BOSTON_STEPS, min_lr=OWN_LR)
        controller = WarmupController(schedule, Options(seed=1), rewind=False,
                                      restore_on_fault=False)
        controller.observe_executions(losses, np.arange(1, len(losses) + 1))
        return controller

    controller = driver_controller()
    peak, ceiling = controller.decay_peak_lr, controller.decay_ceiling
    assert math.isfinite(ceiling)
    for _ in range(4 * WINDOW):  # the loss stays high
        controller.observe([ceiling * 2.0])
    at_once = driver_controller()  # the same executions in one call
    at_once.observe_executions(np.full(4 * WINDOW, ceiling * 2.0),
                               len(losses) + np.arange(1, 4 * WINDOW + 1))
    assert at_once.faults == controller.faults
    assert at_once.decay_peak_lr == controller.decay_peak_lr
    assert controller.decay_peak_lr == pytest.approx(peak * controller_lib.DECAY_BACKOFF)
    ((_, action),) = controller.faults
    assert action == f"peak {peak:.6g} -> {controller.decay_peak_lr:.6g}"
    assert controller.decay_ceiling == math.inf  # spent
    assert not [a for a in controller.pop_actions() if a[0] == "restore"]
    message = fit_checks.fault_message(controller)
    assert "more than 10 descent depths" in message
    assert "no copy of the weights was put back, so the guard will not act again" in message


def test_under_the_reference_gp_there_is_no_guard():
    controller, _ = _switched(Options(seed=1, gp="reference"))
    peak = controller.decay_peak_lr
    assert controller.decay_ceiling == math.inf
    for _ in range(WINDOW):
        controller.observe([1e30])
    assert controller.faults == [] and controller.decay_peak_lr == peak


def test_a_short_budget_has_no_guard():
    schedule = keras_autolr.AutoLRSchedule(total_steps=20, min_lr=OWN_LR)
    controller = WarmupController(schedule, Options(), sweep=False)
    controller.observe_executions(np.full(15, 0.5), np.arange(1, 16))
    assert controller.reason == "short_budget"
    assert controller.decay_ceiling == math.inf


def test_several_executions_at_once_act_as_one_at_a_time():
    """`observe_executions` passes the huge execution through `observe`."""
    rng = np.random.default_rng(0)
    one, losses = _switched()
    many, _ = _switched()
    decay = 0.08 + 0.01 * rng.random(120)
    # Three executions above the ceiling at steps 30-35 (the third acts),
    # one alone at 60-61 (none), three at 90-95.
    decay[[30, 31, 33, 34, 35, 60, 90, 91, 92, 93, 94, 95]] = one.decay_ceiling * 3.0
    start = one.record.n_steps
    ends = start + np.arange(2, 121, 2)  # steps_per_execution=2
    for end in ends:
        one.observe(decay[end - start - 2:end - start])
    many.observe_executions(decay, ends)
    assert len(one.faults) == 2 and one.faults == many.faults
    assert one.decay_peak_lr == many.decay_peak_lr
    assert one.pop_actions() == many.pop_actions()
    np.testing.assert_array_equal(one.record.values, many.record.values)
    np.testing.assert_array_equal(one.points.y, many.points.y)
    assert one.snapshot_steps == many.snapshot_steps


def test_observe_mean_takes_the_huge_execution_to_observe():
    controller, _ = _switched()
    peak = controller.decay_peak_lr
    for _ in range(TO_ACT):
        controller.observe_mean(controller.decay_ceiling * 4.0, steps=2)
    assert controller.decay_peak_lr < peak and len(controller.faults) == 1


def test_the_host_counter_reads_a_huge_loss_exactly():
    counter = BatchCounter(steps_per_epoch=100)
    counter.start_epoch()
    counter.settle(batch=0, step=1, total=1.0, count=1.0, exact_loss=1.0,
                   exact_steps=1, logged=1.0)
    assert counter.take(batch=1, logged=1.0, horizon=50, ceiling=5.0)
    # the next execution's loss is 3 x 9 - 2 x 1 = 25, above the ceiling
    assert not counter.take(batch=2, logged=9.0, horizon=50, ceiling=5.0)


def test_the_engine_writes_the_lower_peak_and_warns():
    controller, _ = _switched()
    faults = []
    engine = WarmupEngine(controller, on_fault=lambda: faults.append(
        fit_checks.fault_message(controller)))
    engine.start()
    controller.schedule.switch(controller.switch_step, controller.decay_peak_lr)
    peak = controller.decay_peak_lr
    for _ in range(TO_ACT):
        engine.observe(controller.decay_ceiling * 2.0)
    assert controller.schedule.peak_lr == pytest.approx(peak * controller_lib.DECAY_BACKOFF)
    (message,) = faults
    assert "blew up in the decay" in message
    assert f"lowered from {peak:.6g} to {controller.decay_peak_lr:.6g}" in message


def _fit_poisoned(huge_step, steps_per_execution=1, length=12, log_dir=None):
    """The digits MLP with Adam (264 steps, the cap at 132); the losses of
    `length` steps from `huge_step` on are multiplied by 1e4 (None: no
    poisoned step)."""
    def poison(value, step):
        ops = _training.ops
        poisoned = ops.logical_and(ops.greater_equal(step, huge_step),
                                   ops.less(step, huge_step + length))
        return value * ops.where(poisoned, 1e4, 1.0)

    return _training.fit_poisoned_digits(
        None if huge_step is None else poison, Options(seed=0),
        steps_per_execution=steps_per_execution, log_dir=log_dir)


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_a_huge_loss_in_a_live_decay_is_undone(steps_per_execution):
    """The host reads the execution that holds it at once (also between the
    counted ones under `steps_per_execution`), puts back a copy, and the
    schedule decays from the lower peak."""
    _training.skip_if_the_loss_reads_the_optimizer()
    _training.skip_unless_steps_per_execution(steps_per_execution)
    reference, reference_accuracy, _ = _fit_poisoned(None, steps_per_execution)
    huge_step = 230
    assert reference.decision.switch_step < huge_step - 8
    with pytest.warns(RuntimeWarning, match="blew up in the decay"):
        # Three executions in a row hold a poisoned step.
        autolr, accuracy, finite = _fit_poisoned(
            huge_step, steps_per_execution, length=2 * steps_per_execution + 1)
    decision = autolr.decision
    assert decision.switch_step == reference.decision.switch_step
    ((at, action),) = decision.faults
    assert huge_step < at < huge_step + 12  # the median of 5 executions above
    restored = controller_lib.restored_copy(action)
    assert decision.switch_step <= restored < huge_step  # before the first huge loss
    lowered = min(reference.decision.peak_lr * controller_lib.DECAY_BACKOFF, OWN_LR)
    assert decision.peak_lr == reference.decision.peak_lr  # the switch's decision
    assert autolr.controller.decay_peak_lr == pytest.approx(lowered)
    assert autolr.schedule.peak_lr == pytest.approx(lowered)
    assert finite and accuracy >= reference_accuracy - 0.03


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_a_live_climb_to_nan_in_the_decay_is_undone_from_before_it(steps_per_execution):
    """One execution's losses (from step 228) read 1e4 times their value,
    the next step's is NaN (the value only: the gradients stay sound): the
    copy from before step 228 goes back and the decay's peak is lowered,
    in `fit`."""
    _training.skip_if_the_loss_reads_the_optimizer()
    _training.skip_unless_steps_per_execution(steps_per_execution)
    reference, reference_accuracy, _ = _training.fit_poisoned_digits(
        None, Options(seed=0), steps_per_execution=steps_per_execution)
    huge_step, nan_step = 228, 228 + steps_per_execution
    assert reference.decision.switch_step < huge_step - 8

    def poison(value, step):
        ops = _training.ops
        huge = ops.logical_and(ops.greater_equal(step, huge_step), ops.less(step, nan_step))
        scale = ops.where(huge, 1e4 - 1.0, ops.where(ops.equal(step, nan_step), math.nan, 0.0))
        return value + ops.stop_gradient(value * scale)

    with pytest.warns(RuntimeWarning, match="a non-finite loss after a loss above"):
        autolr, accuracy, finite = _training.fit_poisoned_digits(
            poison, Options(seed=0), steps_per_execution=steps_per_execution)
    ((at, action),) = autolr.decision.faults
    assert at == nan_step
    restored = controller_lib.restored_copy(action)
    assert autolr.decision.switch_step <= restored < huge_step
    lowered = min(reference.decision.peak_lr * controller_lib.DECAY_BACKOFF, OWN_LR)
    assert autolr.schedule.peak_lr == pytest.approx(lowered)
    assert finite and accuracy >= reference_accuracy - 0.03


def test_one_huge_step_in_a_live_decay_is_left_alone():
    _training.skip_if_the_loss_reads_the_optimizer()
    reference, _, _ = _fit_poisoned(None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        autolr, _, finite = _fit_poisoned(230, length=1)
    assert not [w for w in caught if "blew up" in str(w.message)]
    assert autolr.decision.faults == [] and finite
    assert autolr.controller.decay_peak_lr == reference.decision.peak_lr


def _fit_poisson_x3(seed, autolr):
    """test_divergence's Poisson run with the log rate tripled: the digits
    MLP with Adam, 12 epochs of batch 64 (264 steps), the default cadence."""
    callback, accuracy, _ = test_divergence._fit_poisson(
        seed, "auto" if autolr else None, loss=_training.poisson(3.0))
    return 100.0 * accuracy, [callback] if autolr else []


@pytest.mark.slow
def test_the_poisson_spike_is_not_lost_to_the_decay():
    """Seed 0 on TensorFlow, before the guard: the decay from 0.061 blew up
    13 steps after the switch (21 descent depths, then 4e8) and the run
    ended at 10.8 % against 96.0 % without AutoLR. Measured on 2026-12-06
    with the guard, seed 0 (without AutoLR / with it): TF 2.21 96.0 / 97.7
    (the guard acted), TF 2.15 96.5 / 98.5, JAX 94.7 / 98.0, PyTorch
    92.7 / 98.0 (warmup ended as diverged there, the guard did not act)."""
    own, _ = _fit_poisson_x3(0, autolr=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        score, (autolr,) = _fit_poisson_x3(0, autolr=True)
    backed_off = [f for f in autolr.decision.faults if "peak" in f[1]]
    if backed_off:
        assert any("blew up in the decay" in str(w.message) for w in caught)
        assert autolr.controller.decay_peak_lr <= OWN_LR * (1 + 1e-6)
    assert score >= own - 2.0


def test_after_a_rewind_the_overshoot_copies_are_never_put_back():
    """The copies taken between the rewind's and the switch hold weights the
    rewind undid: a non-finite loss or a blow-up in the decay puts back the
    rewind's copy (before the fix, the Poisson spike above restored the
    copy of step 112, inside the sweep's overshoot, and ended at 29 %)."""
    controller, _ = _switched()
    rewound, switch = controller.restored_step, controller.switch_step
    overshoot = [s for s in controller.snapshot_steps if rewound < s < switch]
    assert overshoot and rewound in controller.snapshot_steps
    assert controller._copies_on_path() == [rewound]
    controller.observe([float("nan")])
    assert controller.pop_actions() == [("restore", rewound)]
    _blow_up(controller)
    assert [a for a in controller.pop_actions() if a[0] == "restore"] == [
        ("restore", rewound)]
    while controller.snapshot_steps[-1] < switch:
        controller.observe([0.08])
    # The decay's first copy keeps the rewind's beside it, not the overshoot's.
    assert controller.snapshot_steps[0] == rewound
    assert not set(overshoot) & set(controller.snapshot_steps)
