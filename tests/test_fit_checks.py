"""`fit_checks`: the budget, refused siblings, idle optimizers, warnings."""

import collections
import warnings

import pytest

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import Options
from keras_autolr.training import fit_checks
from keras_autolr._keras import keras
from keras_autolr.decision.controller import WarmupController
from tests import _training


def test_the_budget_is_total_steps_then_the_schedules_then_the_fits():
    params = {"steps": 50, "epochs": 4}
    assert fit_checks.budget(None, None, params) == 200
    assert fit_checks.budget(None, 300, params) == 300
    assert fit_checks.budget(1000, 300, params) == 1000
    with pytest.raises(ValueError, match="cannot tell the training budget"):
        fit_checks.budget(None, None, {"steps": None, "epochs": 4})


def test_an_lr_setter_is_refused_only_when_autolr_drives_the_models_optimizer():
    model = _training.compile_digits(_training.mlp(units=8), keras.optimizers.Adam())
    plateau = keras.callbacks.ReduceLROnPlateau()
    autolr = AutoLR(verbose=0)
    error = fit_checks.other_lr_setter(
        autolr, [autolr, plateau], model, [model.optimizer])
    assert isinstance(error, ValueError)
    assert "AutoLR and ReduceLROnPlateau are in the same `fit`" in str(error)
    # Another optimizer (a GAN's) or no setter: nothing to refuse.
    assert fit_checks.other_lr_setter(
        autolr, [autolr, plateau], model, [keras.optimizers.SGD()]) is None
    for siblings in ([autolr], None):
        assert fit_checks.other_lr_setter(
            autolr, siblings, model, [model.optimizer]) is None


def test_the_first_optimizer_that_did_not_step_is_named():
    stepped, idle = keras.optimizers.SGD(), keras.optimizers.Adam()
    stepped.iterations.assign(3)
    idle.iterations.assign(3)
    assert fit_checks.optimizer_not_stepped([stepped], [2]) is None
    error = fit_checks.optimizer_not_stepped([stepped, idle], [2, 3])
    assert "learning rate of Adam" in str(error)
    assert "iterations 3 before the step and 3 after it" in str(error)


def _controller(total_steps, check_every="auto"):
    schedule = AutoLRSchedule(total_steps=total_steps)
    schedule.build()
    return schedule, WarmupController(schedule, Options(), check_every)


def test_a_budget_with_no_test_before_the_cap_warns_once_at_the_start():
    schedule, controller = _controller(12)
    with pytest.warns(UserWarning, match="too short for a test") as caught:
        fit_checks.warn_if_too_short(controller, schedule)
    assert caught[0].filename == __file__  # the caller's line
    schedule, controller = _controller(2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_checks.warn_if_too_short(controller, schedule)  # room for tests


def test_the_fault_message_says_what_was_restored():
    Fake = collections.namedtuple("Fake", ["faults"])
    assert fit_checks.fault_message(Fake([(7, "restored 4")])) == (
        "AutoLR: non-finite loss at step 7; the weights and optimizer state "
        "were restored from step 4 and training goes on.")
    assert fit_checks.fault_message(Fake([(7, "none")])).endswith(
        "no snapshot was available (restore_on_fault=False).")
