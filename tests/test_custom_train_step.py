"""A custom `train_step` (keras.io, "Customizing what happens in `fit()`").

The losses AutoLR records are what the step really reports: its own loss
tracker (the guide's "Going lower-level"), or the loss of the batch it
returns; a step that reports no loss fails at the end of the first step,
naming what AutoLR needs, with that step undone.
"""

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


class OwnTrackerModel(keras.Model):
    """The guide's "Going lower-level": compile(optimizer) only, own `Mean` tracker."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.loss_fn(y, y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    @property
    def metrics(self):
        return [self.loss_tracker]


class BatchLossModel(keras.Model):
    """Returns the loss of the batch itself (no tracker); `key` names it."""

    key = "loss"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.loss_fn(y, self(x, training=True))
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        return {self.key: loss}


class CrossEntropyModel(BatchLossModel):
    key = "ce"


def _model(cls):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    model = cls(inputs, keras.layers.Dense(10)(hidden))
    model.compile(optimizer=keras.optimizers.Adam())
    return model


def _fit(model, autolr, logged):
    (x, y), _ = _training.digits()
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[autolr, logged])


def test_own_loss_tracker_gives_the_loss_of_every_step():
    model = _model(OwnTrackerModel)
    autolr, logged = AutoLR(options=Options(check_every=4), verbose=0), _training.LoggedLosses()
    _fit(model, autolr, logged)
    # The loss of step b of an epoch, from the running means the step logs.
    expected = np.concatenate([
        np.diff(np.asarray(means) * np.arange(1, len(means) + 1), prepend=0.0)
        for means in logged.epochs])
    record = autolr.record
    assert len(record.loss) == 56
    assert np.all(np.isfinite(record.loss))
    np.testing.assert_allclose(record.loss, expected, rtol=1e-4)
    assert autolr.decision.reason != "diverged"
    assert len(autolr.decision.tests) >= 3
    assert isinstance(_keras.raw_learning_rate(model.optimizer), AutoLRSchedule)


def test_a_loss_returned_per_batch_is_taken_as_it_is():
    model = _model(BatchLossModel)
    autolr, logged = AutoLR(options=Options(check_every=4), verbose=0), _training.LoggedLosses()
    _fit(model, autolr, logged)
    np.testing.assert_allclose(autolr.record.loss, np.concatenate(logged.epochs),
                               rtol=1e-6)
    assert autolr.decision.reason != "diverged"
    assert autolr.decision.tests


def test_a_step_that_reports_no_loss_fails_at_the_first_step_naming_what_is_needed():
    model = _model(CrossEntropyModel)
    (x, y), _ = _training.digits()
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(ValueError, match="needs the training loss") as error:
        model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
                  callbacks=[AutoLR(verbose=0)])
    message = str(error.value)
    assert "monitor='loss'" in message and "['ce']" in message
    assert "AutoLR(monitor=...)" in message
    # The one step it took to find out is undone: the model, the step
    # counter and the learning rate are as they were before `fit`.
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(weight.numpy(), value)
    assert int(model.optimizer.iterations.numpy()) == 0
    for variable in model.optimizer.variables:
        if "iteration" not in variable.name and "learning_rate" not in variable.name:
            assert not np.any(variable.numpy()), variable.name  # fresh slots
    assert not isinstance(_keras.raw_learning_rate(model.optimizer), AutoLRSchedule)


def test_monitor_names_the_loss_a_custom_step_logs():
    model = _model(CrossEntropyModel)
    autolr, logged = AutoLR(monitor="ce", options=Options(check_every=4), verbose=0), _training.LoggedLosses("ce")
    _fit(model, autolr, logged)
    np.testing.assert_allclose(autolr.record.loss, np.concatenate(logged.epochs),
                               rtol=1e-6)
    assert autolr.decision.tests
