"""`DetectorOptions`: one source of the detector's options, for every face."""

import dataclasses

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import DetectorOptions
from keras_autolr import WarmupDetector
from keras_autolr import WarmupDriver
from keras_autolr import replay
from keras_autolr.decision.controller import WarmupController
from keras_autolr.decision.options import DEFAULT_PEAK_FACTOR
from tests import _training
from tests.conftest import valley

T = 400
SMALL_GP = dict(fit_points=50, predict_points=100, grid_points=100)
FLAT = dict(SMALL_GP, patience=2, seed=3, peak="steepest", peak_factor=0.5,
            require_descent=False, initial_noise=1e-3, confidence=0.9)


def _summary(decision):
    return (decision.switch_step, decision.peak_lr, decision.reason,
            [(t.step, t.probabilities, t.positive) for t in decision.tests])


def test_flat_options_and_the_object_give_the_same_decision():
    losses = valley(T, lr_min=1e-2)
    flat = replay(losses, total_steps=T, check_every=10, **FLAT)
    given = replay(losses, total_steps=T, check_every=10,
                   detector=DetectorOptions(**FLAT))
    assert flat.switch_step is not None
    assert _summary(given) == _summary(flat)


def test_the_default_object_is_the_default_decision():
    losses = valley(T, lr_min=1e-2)
    assert _summary(replay(losses, total_steps=T, detector=DetectorOptions())) == (
        _summary(replay(losses, total_steps=T)))


def test_the_options_change_the_decision():
    """The object is read, not ignored: another seed and factor, another peak."""
    losses = valley(T, lr_min=1e-2)
    default = replay(losses, total_steps=T, detector=DetectorOptions(**SMALL_GP))
    halved = replay(losses, total_steps=T,
                    detector=DetectorOptions(**SMALL_GP,
                                             peak_factor=DEFAULT_PEAK_FACTOR / 2))
    assert halved.peak_lr == pytest.approx(default.peak_lr / 2, rel=1e-12)


def test_a_controller_built_from_options_is_one_built_from_a_detector():
    losses = valley(T, lr_min=1e-2)
    options = DetectorOptions(**FLAT)

    def run(detector):
        controller = WarmupController(AutoLRSchedule(total_steps=T), detector, 10)
        controller.observe_executions(losses, np.arange(1, len(losses) + 1),
                                      stop_at_switch=True)
        return _summary(controller.decision)

    assert run(options) == run(WarmupDetector(**FLAT)) == run(WarmupDetector(options))


@pytest.mark.parametrize("name, value, error", [
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
    ("require_descent", 1, TypeError),
    ("peak_factor", 1.5, ValueError),
])
def test_a_bad_option_names_the_argument_and_the_value(name, value, error):
    message = f"Received {name}={value!r}"
    with pytest.raises(error, match=f"`{name}`.*{message}"):
        DetectorOptions(**{name: value})
    for face in (AutoLR, WarmupDetector):  # the flat form: the same check
        with pytest.raises(error, match=message):
            face(**{name: value})
    with pytest.raises(error, match=message):
        replay(np.ones(20), total_steps=40, **{name: value})


@pytest.mark.parametrize("face", [
    lambda **kw: AutoLR(**kw),
    lambda **kw: WarmupDetector(kw.pop("detector"), **kw),
    lambda **kw: replay(np.ones(20), total_steps=40, **kw),
    lambda **kw: WarmupDriver(AutoLRSchedule(total_steps=100), verbose=0, **kw),
], ids=["AutoLR", "WarmupDetector", "replay", "WarmupDriver"])
def test_an_option_given_flat_and_in_the_object_is_an_error(face):
    with pytest.raises(ValueError, match=r"not both\. Received patience=4 and "
                       r".*DetectorOptions\(.*patience=3"):
        face(detector=DetectorOptions(), patience=4)


def test_an_unknown_option_is_a_type_error_that_names_it():
    with pytest.raises(TypeError, match="Received patiense=4"):
        AutoLR(patiense=4)
    with pytest.raises(TypeError, match="Received detector='fast'"):
        AutoLR(detector="fast")


def test_the_object_is_frozen_hashable_and_printable():
    options = DetectorOptions(patience=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.patience = 5
    assert hash(options) == hash(DetectorOptions(patience=4))
    assert {options, DetectorOptions(patience=4)} == {options}
    assert options != DetectorOptions()
    assert "patience=4" in repr(options)
    assert eval(repr(options), {"DetectorOptions": DetectorOptions}) == options
    assert DetectorOptions.from_config(options.get_config()) == options
    assert dataclasses.replace(options, seed=1).seed == 1


def test_the_defaults_are_the_documented_ones():
    assert DetectorOptions().get_config() == dict(
        confidence=0.95, patience=3, num_posteriors=5, fit_points=100,
        predict_points=500, grid_points=500, seed=0, initial_noise=None,
        peak="minimum", require_descent=True, peak_factor=0.4)


def test_the_faces_keep_the_object_they_were_given():
    options = DetectorOptions(patience=4, peak_factor=0.5)
    autolr = AutoLR(detector=options)
    assert autolr.detector_options is options
    assert autolr.peak_factor == 0.5
    assert AutoLR(patience=4, peak_factor=0.5).detector_options == options
    assert WarmupDetector(options).patience == 4
    driver = WarmupDriver(AutoLRSchedule(total_steps=100), detector=options, verbose=0)
    assert driver.controller.detector.options is options
    assert driver.controller.peak_factor == 0.5


def test_the_paper_options_still_go_flat():
    autolr = AutoLR(**keras_autolr.PAPER)
    assert autolr.detector_options.peak_factor == 1.0
    assert autolr.detector_options.require_descent is False
    assert autolr.detector_options.initial_noise == 1e-3


def test_autolr_takes_the_object_in_fit():
    options = DetectorOptions(**SMALL_GP, seed=1)
    autolr = AutoLR(detector=options, verbose=0)
    _training.fit_small_digits([autolr], epochs=8)
    assert autolr.controller.detector.options is options
    assert autolr.decision.tests  # it tested with these options
    flat = replay(autolr.record.loss, total_steps=autolr.schedule.total_steps,
                  steps_per_epoch=14, own_lr=1e-3, **SMALL_GP, seed=1)
    assert _summary(flat) == _summary(autolr.decision)
