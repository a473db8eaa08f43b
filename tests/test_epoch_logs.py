"""What `fit` logs for each epoch with AutoLR: what it trained, as without it."""

import numpy as np

from keras_autolr import AutoLR
from keras_autolr import Options
from keras_autolr._keras import keras
from tests import _training

STEPS_PER_EPOCH = 8  # 256 digits, batch 32


def _fit_to_the_cap(*callbacks):
    """8 epochs of Adam on the digits MLP with `AutoLR`, whose warmup ends at
    the cap (no detection): step 32, the last step of epoch 4."""
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(units=32), keras.optimizers.Adam())
    autolr = AutoLR(options=Options(patience=1000), verbose=0)
    history = model.fit(x[:256], y[:256], batch_size=32, epochs=8, shuffle=False,
                        verbose=0, callbacks=[autolr, *callbacks])
    return autolr, history


def test_the_epoch_of_a_rewind_at_its_last_step_logs_the_mean_of_its_losses():
    # With an even number of epochs the warmup cap, half the budget, is the
    # last step of an epoch: the rewind there cleared Keras' loss metric and
    # the epoch logged a loss of 0.0, which `ModelCheckpoint(monitor="loss",
    # save_best_only=True)` and `EarlyStopping(monitor="loss")` take for the
    # best epoch of the run.
    autolr, history = _fit_to_the_cap()
    decision = autolr.decision
    assert decision.reason == "cap" and decision.switch_step == 4 * STEPS_PER_EPOCH
    assert decision.restored_step is not None
    logged = np.asarray(history.history["loss"])
    assert np.all(logged > 0.0)
    per_epoch = autolr.record.loss.reshape(8, STEPS_PER_EPOCH).mean(axis=1)
    np.testing.assert_allclose(logged, per_epoch, rtol=1e-4)


def test_an_early_stopping_on_the_loss_is_not_stopped_by_a_rewind_at_an_epochs_end():
    autolr, history = _fit_to_the_cap(keras.callbacks.EarlyStopping(monitor="loss",
                                                                    patience=1))
    assert autolr.decision.switch_step == 4 * STEPS_PER_EPOCH
    logged = history.history["loss"]
    assert all(b < a for a, b in zip(logged[3:], logged[4:])), logged  # falls after it
    assert len(logged) == 8  # a logged 0.0 at the switch stopped it at epoch 6
