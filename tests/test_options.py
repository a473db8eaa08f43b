"""`Options`: one source of the decision's options, for every face."""

import dataclasses
import inspect

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import Options
from keras_autolr import PAPER
from keras_autolr import WarmupDriver
from keras_autolr import replay
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.detector import WarmupDetector
from keras_autolr.decision.options import DEFAULT_PEAK_FACTOR
from keras_autolr.tools import cli
from tests import _training
from tests.conftest import valley

T = 400
SMALL_GP = Options(fit_points=50, predict_points=100, grid_points=100)
CHANGED = SMALL_GP.replace(
    check_every=10, patience=2, seed=3, peak="steepest", peak_factor=0.5,
    require_descent=False, initial_noise=1e-3, confidence=0.9)


def _summary(decision):
    return (decision.switch_step, decision.peak_lr, decision.reason,
            [(t.step, t.probabilities, t.positive) for t in decision.tests])


def test_the_default_object_is_the_default_decision():
    losses = valley(T, lr_min=1e-2)
    assert _summary(replay(losses, total_steps=T, options=Options())) == (
        _summary(replay(losses, total_steps=T)))


def test_the_options_change_the_decision():
    """The object is read, not ignored: another factor, another peak."""
    losses = valley(T, lr_min=1e-2)
    default = replay(losses, total_steps=T, options=SMALL_GP)
    halved = replay(losses, total_steps=T,
                    options=SMALL_GP.replace(peak_factor=DEFAULT_PEAK_FACTOR / 2))
    assert default.switch_step is not None
    assert halved.peak_lr == pytest.approx(default.peak_lr / 2, rel=1e-12)


def test_a_controller_built_from_options_is_one_built_from_a_detector():
    losses = valley(T, lr_min=1e-2)

    def run(detector):
        controller = WarmupController(AutoLRSchedule(total_steps=T), detector)
        controller.observe_executions(losses, np.arange(1, len(losses) + 1),
                                      stop_at_switch=True)
        return _summary(controller.decision)

    assert run(CHANGED) == run(WarmupDetector(CHANGED))
    assert run(CHANGED)[0] is not None
    # The controller takes check_every, rewind, ... from the options too.
    controller = WarmupController(AutoLRSchedule(total_steps=T), PAPER,
                                  steps_per_epoch=10)
    assert (controller.cadence.check_every, controller.rewind,
            controller.cap_peak) == ("epoch", False, "reached")


@pytest.mark.parametrize("name, value, error", [
    ("check_every", 0, ValueError),
    ("check_every", "often", ValueError),
    ("confidence", 1.0, ValueError),
    ("patience", 0, ValueError),
    ("patience", 2.5, TypeError),
    ("num_posteriors", 0, ValueError),
    ("fit_points", -1, ValueError),
    ("predict_points", 0, ValueError),
    ("grid_points", 1, ValueError),
    ("seed", -1, ValueError),
    ("initial_noise", 0.0, ValueError),
    ("peak", "median", ValueError),
    ("peak_factor", 1.5, ValueError),
    ("require_descent", 1, TypeError),
    ("rewind", "yes", TypeError),
    ("restore_on_fault", 0, TypeError),
    ("sweep_start", "skip", ValueError),
    ("own_lr_floor", None, TypeError),
    ("cap_peak", "max", ValueError),
])
def test_a_bad_option_names_the_argument_and_the_value(name, value, error):
    message = f"Received {name}={value!r}"
    with pytest.raises(error, match=f"`{name}`.*{message}"):
        Options(**{name: value})
    with pytest.raises(error, match=message):  # the same check on a copy
        Options().replace(**{name: value})


def test_an_unknown_option_or_object_is_a_type_error_that_names_it():
    with pytest.raises(TypeError, match="Received patiense=4"):
        Options().replace(patiense=4)
    for face in (lambda o: AutoLR(options=o),
                 lambda o: replay(np.ones(20), total_steps=40, options=o),
                 lambda o: WarmupDriver(AutoLRSchedule(total_steps=100), options=o),
                 lambda o: WarmupDetector(o)):
        with pytest.raises(TypeError, match=r"Received options=\{'patience': 4\}"):
            face({"patience": 4})


def test_the_old_flat_form_is_gone():
    with pytest.raises(TypeError):
        AutoLR(patience=4)  # noqa: the 0.1 form; CHANGELOG.md
    with pytest.raises(TypeError):
        replay(np.ones(20), total_steps=40, seed=1)


def test_the_object_is_frozen_hashable_and_printable():
    options = Options(patience=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.patience = 5
    assert hash(options) == hash(Options(patience=4))
    assert {options, Options(patience=4)} == {options}
    assert options != Options()
    assert "patience=4" in repr(options)
    assert eval(repr(options), {"Options": Options}) == options
    assert Options.from_config(options.get_config()) == options
    assert options.replace(seed=1).seed == 1 and options.seed == 0


def test_the_defaults_are_the_documented_ones():
    assert Options().get_config() == dict(
        check_every="auto", confidence=0.95, patience=3, num_posteriors=5,
        fit_points=100, predict_points=500, grid_points=500, seed=0,
        initial_noise=None, peak="minimum", peak_factor=0.4,
        require_descent=True, rewind=True, restore_on_fault=True,
        sweep_start="own_lr", own_lr_floor=True, cap_peak="gp", gp="library")


def test_paper_is_a_preset_of_the_same_object():
    assert isinstance(PAPER, Options)
    assert {k: v for k, v in PAPER.get_config().items()
            if v != getattr(Options(), k)} == dict(
        check_every="epoch", initial_noise=1e-3, peak_factor=1.0,
        require_descent=False, rewind=False, own_lr_floor=False,
        sweep_start="min_lr", cap_peak="reached", gp="reference")
    with pytest.raises(dataclasses.FrozenInstanceError):
        PAPER.seed = 1
    assert PAPER.replace(seed=1).seed == 1 and PAPER.seed == 0


def test_the_faces_keep_the_object_they_were_given():
    options = Options(patience=4, peak_factor=0.5)
    assert AutoLR(options=options).options is options
    assert AutoLR().options == Options()
    assert WarmupDetector(options).options is options
    driver = WarmupDriver(AutoLRSchedule(total_steps=100), options=options, verbose=0)
    assert driver.options is options
    assert driver.controller.peak_factor == 0.5
    # The loop owns the weights: no rewind, no restore, whatever the options say.
    assert (driver.controller.rewind, driver.controller.restore_on_fault) == (False, False)


def test_the_faces_and_the_cli_take_the_same_names():
    """One name per knob: every option is an `Options` field, and a CLI flag."""
    assert set(inspect.signature(AutoLR).parameters) == {
        "schedule", "total_steps", "options", "optimizer", "monitor",
        "backup_dir", "log_dir", "verbose"}
    for face in (replay, WarmupDriver, keras_autolr.plot_decision):
        parameters = inspect.signature(face).parameters
        assert "options" in parameters
        assert not set(parameters) & (set(Options.names()) - {"options"})
    help_text = cli._build_parser()._subparsers._group_actions[0].choices[
        "replay"].format_help()
    for name in Options.names():
        assert "--" + name.replace("_", "-") in help_text
    for name in ("min_lr", "max_lr", "max_warmup_fraction", "warmup", "decay",
                 "cooldown_fraction"):
        assert "--" + name.replace("_", "-") in help_text
        assert name in inspect.signature(AutoLRSchedule).parameters


def test_autolr_takes_the_object_in_fit_and_replay_agrees():
    options = SMALL_GP.replace(seed=1)
    autolr = AutoLR(options=options, verbose=0)
    _training.fit_small_digits([autolr], epochs=8)
    assert autolr.controller.detector.options.seed == 1
    assert autolr.decision.tests  # it tested with these options
    again = replay(autolr.record.loss, total_steps=autolr.schedule.total_steps,
                   steps_per_epoch=14, own_lr=float(np.float32(1e-3)),
                   options=options)  # the own LR as Adam holds it
    assert _summary(again) == _summary(autolr.decision)
