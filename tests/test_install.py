"""`ScheduleInstaller`, `driven`, `claim`: the schedule on, checked, and off again."""

import numpy as np
import pytest

from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr.training import install
from keras_autolr import schedule_state
from keras_autolr._keras import keras
from tests import _training


def _model(learning_rate=1e-3):
    return _training.compile_digits(
        _training.mlp(units=8), keras.optimizers.Adam(learning_rate=learning_rate))


def _lr(optimizer):
    return float(np.asarray(optimizer.learning_rate))


def test_zero_config_replaces_the_constant_lr_and_uninstall_puts_it_back():
    model = _model(1e-3)
    lines = []
    installer = install.ScheduleInstaller(AutoLRSchedule(min_lr=1e-4, decay="linear"))
    installer.install(model.optimizer, model, report=lines.append)
    schedule = _keras.raw_learning_rate(model.optimizer)
    assert schedule is installer.schedule
    assert (schedule.min_lr, schedule.decay) == (1e-4, "linear")  # the template's
    assert installer.own_lr == pytest.approx(1e-3)
    assert lines == ["AutoLR: replacing the learning rate of Adam (0.001) "
                     "with AutoLRSchedule."]
    # The decision goes into the optimizer's checkpoint.
    state = getattr(model.optimizer, schedule_state.ATTRIBUTE)
    assert state is schedule.checkpoint_state
    installer.uninstall()
    assert _lr(model.optimizer) == pytest.approx(1e-3)
    assert installer.replaced is None


def test_optimizers_share_one_schedule_and_the_own_lr_is_the_lowest():
    first, second = _model(1e-2), _model(1e-3)
    installer = install.ScheduleInstaller(AutoLRSchedule())
    installer.install(first.optimizer, first)
    installer.install(second.optimizer, second)
    assert (_keras.raw_learning_rate(first.optimizer)
            is _keras.raw_learning_rate(second.optimizer))
    assert installer.own_lr == pytest.approx(1e-3)
    installer.uninstall()
    assert _lr(first.optimizer) == pytest.approx(1e-2)
    assert _lr(second.optimizer) == pytest.approx(1e-3)


def test_installing_again_replaces_nothing_more():
    model = _model()
    lines = []
    installer = install.ScheduleInstaller(AutoLRSchedule())
    installer.install(model.optimizer, model)
    installer.install(model.optimizer, model, report=lines.append)
    assert lines == [] and len(installer.replaced) == 1


def test_a_schedule_loaded_with_the_optimizer_is_adopted_as_it_is():
    loaded = AutoLRSchedule(total_steps=100)
    model = _model(loaded)
    installer = install.ScheduleInstaller(AutoLRSchedule())
    installer.install(model.optimizer, model)
    assert installer.schedule is loaded
    assert installer.replaced is None and installer.own_lr is None


def test_another_schedule_is_replaced_with_a_warning_and_put_back_after():
    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
    model = _model(decay)
    installer = install.ScheduleInstaller(AutoLRSchedule())
    with pytest.warns(UserWarning, match="already a schedule, ExponentialDecay"):
        installer.install(model.optimizer, model)
    assert installer.own_lr is None  # no constant LR to floor the peak
    installer.uninstall()
    assert _keras.raw_learning_rate(model.optimizer) is decay


def test_pair_form_checks_the_optimizer_has_the_given_schedule():
    schedule = AutoLRSchedule()
    model = _model(schedule)
    installer = install.ScheduleInstaller(schedule, schedule)
    installer.install(model.optimizer, model)
    assert installer.replaced is None
    other = _model(keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9))
    with pytest.raises(ValueError, match="another learning-rate schedule"):
        installer.install(other.optimizer, other)


def test_driven_is_the_given_optimizers_else_the_models():
    model = _model()
    given = keras.optimizers.SGD()
    assert install.driven(model) == [model.optimizer]
    assert install.driven(model, [given]) == [given]
    assert install.driven(_training.mlp(units=8)) == []  # not compiled
    assert install.driven(None) == []


def test_a_second_callback_cannot_claim_an_optimizer_in_the_same_fit():
    optimizer, params = keras.optimizers.SGD(), {"steps": 10}
    first, second = object(), object()
    try:
        install.claim(optimizer, first, params)
        install.claim(optimizer, first, params)  # the same callback again
        with pytest.raises(ValueError, match="Two AutoLR callbacks"):
            install.claim(optimizer, second, params)
        install.claim(optimizer, second, {"steps": 10})  # a later fit
        assert install.OWNERS[id(optimizer)] == (second, {"steps": 10})
    finally:
        install.OWNERS.pop(id(optimizer), None)
