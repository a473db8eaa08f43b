"""`WarmupEngine`: the decision loop both live faces run their losses through."""

import numpy as np
import pytest

from keras_autolr import AutoLRSchedule
from keras_autolr import Options
from keras_autolr.training import engine
from keras_autolr.decision.controller import WarmupController
from tests.conftest import valley

T = 400
SMALL_GP = Options(fit_points=50, predict_points=100, grid_points=100)


def _controller():
    schedule = AutoLRSchedule(total_steps=T)
    schedule.build()
    return WarmupController(schedule, SMALL_GP, 10, rewind=False,
                            restore_on_fault=False)


def test_the_switch_is_written_into_the_schedule_and_reported_once():
    controller = _controller()
    reports, tests = [], []
    loop = engine.WarmupEngine(controller, on_test=tests.append,
                               on_switch=lambda: reports.append(
                                   engine.switch_message(controller)))
    loop.start()
    for loss in valley(T, lr_min=1e-2):
        loop.observe(loss)
    schedule = controller.schedule
    assert controller.switch_step is not None
    assert schedule.switch_step == controller.switch_step
    assert schedule.peak_lr == pytest.approx(controller.peak_lr, rel=1e-6)  # float32
    assert tests == controller.detector.results
    assert reports == [
        f"AutoLR: warmup ended (detected) at step {controller.switch_step}; "
        f"peak LR {controller.peak_lr:.4g}, then cosine decay to 0 at step {T}."]


def test_the_engine_decides_as_the_controller_alone():
    losses = valley(T, lr_min=1e-2)
    alone = _controller()
    alone.observe_executions(losses, np.arange(1, len(losses) + 1))
    looped = _controller()
    loop = engine.WarmupEngine(looped)
    for loss in losses:
        loop.observe(loss)
    assert (looped.switch_step, looped.peak_lr, looped.reason) == (
        alone.switch_step, alone.peak_lr, alone.reason)


def test_a_schedule_that_already_switched_ends_warmup():
    controller = _controller()
    controller.schedule.switch(120, 0.01)
    engine.read_schedule(controller)
    assert (controller.switch_step, controller.reason) == (120, "restored")
    assert controller.peak_lr == pytest.approx(0.01, rel=1e-6)  # float32
    controller.switch_step = None  # a chief still warming up
    engine.write_schedule(controller)
    assert controller.schedule.switch_step is None


def test_the_switch_message_names_the_epoch_and_the_rewind():
    controller = _controller()
    controller.switch_step, controller.peak_lr, controller.reason = 50, 0.02, "cap"
    controller.restored_step = 40
    assert engine.switch_message(controller, epoch=2) == (
        "AutoLR: warmup ended (cap) at step 50 (epoch 3); peak LR 0.02, then "
        f"cosine decay to 0 at step {T}. Weights rewound to step 40.")


def test_the_diverged_message_names_the_step_the_peak_and_the_rewind():
    controller = _controller()
    controller.switch_step, controller.peak_lr, controller.reason = 50, 0.02, "diverged"
    controller.restored_step = 40
    assert engine.diverged_message(controller) == (
        "AutoLR: non-finite losses at step <= 50 during warmup, caused by the "
        "LR; warmup ends now and decays from 0.02. Weights rewound to step 40.")


def test_the_test_line_counts_the_votes_and_the_positive_window():
    controller = _controller()
    loop = engine.WarmupEngine(controller)
    tests = []
    loop.on_test = tests.append
    for loss in valley(T, lr_min=1e-2):
        loop.observe(loss)
        if len(tests) == 2:
            break
    detector, result = controller.detector, tests[-1]
    line = engine.test_message(result, detector)
    votes = sum(p > detector.confidence for p in result.probabilities)
    positive = sum(r.positive for r in detector.results[-detector.patience:])
    assert line.startswith(
        f"AutoLR: test 2 at step {result.step}: P(minimum passed) "
        f"{result.probability:.3f}, {votes}/{len(result.probabilities)} "
        f"posteriors above {detector.confidence:g}, "
        f"{positive}/{detector.patience} positive")
    assert line.endswith(f"; GP amplitude {result.amplitude:.4g}, noise "
                         f"{result.noise:.4g}, mean {result.mean:.4g}")
    assert ("inconclusive" in line) == result.inconclusive
