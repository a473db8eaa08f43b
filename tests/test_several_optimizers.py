"""Several optimizers in one `train_step` (keras.io's GAN: `compile(d_optimizer, g_optimizer)`)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_autolr import AutoLR
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

BATCH, EPOCHS = 100, 4  # 14 steps per epoch, 56 steps


def _images():
    (x, _), _ = _training.digits()
    return tf.data.Dataset.from_tensor_slices(x).batch(BATCH)


def test_the_unused_compiled_optimizer_fails_at_the_end_of_the_first_step():
    gan, d_optimizer, _ = _training.gan()
    with pytest.raises(ValueError, match="did not take a step") as error:
        gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[AutoLR(verbose=0)])
    assert "AutoLR(optimizer=[d_optimizer, g_optimizer]" in str(error.value)
    assert int(d_optimizer.iterations.numpy()) == 1  # one step, then the error
    assert not isinstance(_keras.raw_learning_rate(gan.optimizer), AutoLRSchedule)


def test_both_optimizers_share_one_schedule_driven_by_the_monitored_loss():
    gan, d_optimizer, g_optimizer = _training.gan()
    autolr = AutoLR(optimizer=[d_optimizer, g_optimizer], monitor="g_loss",
                    options=Options(check_every=4), verbose=0)
    logged = _training.LoggedLosses("g_loss")
    gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[autolr, logged])
    for optimizer in (d_optimizer, g_optimizer):
        assert _keras.raw_learning_rate(optimizer) is autolr.schedule
        assert int(optimizer.iterations.numpy()) == EPOCHS * 14
    expected = np.concatenate([
        np.diff(np.asarray(means, np.float64) * np.arange(1, len(means) + 1),
                prepend=0.0)
        for means in logged.epochs])
    # The logged running means are float32: undoing the mean multiplies
    # their rounding by the step count (up to 14 ulps of the largest mean).
    largest = max(abs(m) for means in logged.epochs for m in means)
    atol = 14 * float(np.spacing(np.float32(largest)))
    np.testing.assert_allclose(autolr.record.loss, expected, rtol=1e-4, atol=atol)
    assert autolr.decision.tests
    assert autolr.schedule.total_steps == EPOCHS * 14


def test_one_optimizer_given_leaves_the_other_at_its_own_lr():
    gan, d_optimizer, g_optimizer = _training.gan()
    autolr = AutoLR(optimizer=g_optimizer, monitor="g_loss",
                    options=Options(check_every=4), verbose=0)
    gan.fit(_images(), epochs=EPOCHS, verbose=0, callbacks=[autolr])
    assert _keras.raw_learning_rate(g_optimizer) is autolr.schedule
    assert float(np.asarray(d_optimizer.learning_rate)) == pytest.approx(3e-4)
    assert len(autolr.record.loss) == EPOCHS * 14
    assert np.all(np.isfinite(autolr.record.loss))


@pytest.mark.parametrize("optimizer, error", [
    ("adam", TypeError), ([], ValueError), ([1.0], TypeError)])
def test_bad_optimizer_arguments_are_refused(optimizer, error):
    with pytest.raises(error, match=r"`optimizer` .*Received optimizer="):
        AutoLR(optimizer=optimizer)


def test_the_same_optimizer_twice_is_refused():
    optimizer = keras.optimizers.Adam()
    with pytest.raises(ValueError, match="twice"):
        AutoLR(optimizer=[optimizer, optimizer])


@pytest.mark.parametrize("monitor", ["", 3, None])
def test_bad_monitor_is_refused(monitor):
    with pytest.raises(TypeError, match=r"Received monitor="):
        AutoLR(monitor=monitor)
