"""AutoLR beside Keras' other callbacks: LR setters, LR schedules, EarlyStopping."""

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from tests import _training


def _digits_model(learning_rate=1e-3):
    return _training.compile_digits(
        _training.mlp(units=32), keras.optimizers.Adam(learning_rate=learning_rate))


def _lr_setters():
    return [
        keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
    ]


@pytest.mark.parametrize("other", _lr_setters(), ids=lambda c: type(c).__name__)
def test_an_lr_setting_callback_in_the_same_fit_is_refused_before_training(other):
    (x, y), _ = _training.digits()
    model = _digits_model()
    with pytest.raises(ValueError, match=type(other).__name__) as error:
        model.fit(x[:256], y[:256], batch_size=64, epochs=2, verbose=0,
                  callbacks=[AutoLR(verbose=0), other])
    assert "same `fit`" in str(error.value)
    assert int(model.optimizer.iterations.numpy()) == 0  # not a step trained
    # The optimizer's own LR is back: the same fit without AutoLR runs.
    assert not isinstance(_keras.raw_learning_rate(model.optimizer), AutoLRSchedule)
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0, callbacks=[other])
    assert float(np.asarray(model.optimizer.learning_rate)) == pytest.approx(
        5e-4 if isinstance(other, keras.callbacks.LearningRateScheduler) else 1e-3)


def test_an_optimizer_lr_schedule_is_replaced_with_a_warning_naming_it():
    (x, y), _ = _training.digits()
    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 100, 0.9)
    model = _digits_model(learning_rate=decay)
    autolr = AutoLR(verbose=0)
    with pytest.warns(UserWarning, match="already a schedule, ExponentialDecay"):
        model.fit(x[:256], y[:256], batch_size=64, epochs=1, verbose=0,
                  callbacks=[autolr])
    assert isinstance(_keras.raw_learning_rate(model.optimizer), AutoLRSchedule)
