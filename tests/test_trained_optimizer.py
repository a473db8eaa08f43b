"""An optimizer that trained without AutoLR is refused before training.

AutoLR's schedule counts the optimizer's steps from 0. On an optimizer that
took `N` steps without it (a `fit` before AutoLR was added, or a model
loaded with its optimizer), the sweep would start `N` steps in: the digits
MLP fell to chance. AutoLR refuses it before the first step, naming the
steps and the remedy (a new optimizer), and changes nothing.
"""

import pytest

import keras_autolr
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from tests import _training

BATCH = 64  # 22 steps per epoch of the 1,400 digits


def _state(model):
    return _training.training_state(model, _keras.optimizer_of(model))


def _pretrained(epochs=2):
    """The digits MLP after `epochs` of Adam without AutoLR."""
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0)
    return model


def test_a_fit_after_one_without_autolr_is_refused_before_training():
    model = _pretrained(epochs=2)
    optimizer = _keras.optimizer_of(model)
    own = _keras.raw_learning_rate(optimizer)
    before = _state(model)
    (x, y), _ = _training.digits()
    with pytest.raises(ValueError, match="has taken 44 steps without AutoLR") as error:
        model.fit(x, y, batch_size=BATCH, epochs=5, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    assert "compile the model with a new optimizer" in str(error.value)
    assert "optimizer.iterations=44" in str(error.value)
    _training.assert_same_state(before, _state(model))
    assert _keras.raw_learning_rate(optimizer) is own
    # Without AutoLR the same fit trains on at the optimizer's own LR.
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert int(_keras.to_numpy(optimizer.iterations)) == 66


def test_a_new_optimizer_is_the_remedy_and_keeps_the_weights():
    model = _pretrained(epochs=2)
    (x, y), (x_test, y_test) = _training.digits()
    pretrained_loss = model.evaluate(x_test, y_test, verbose=0)[0]
    _training.compile_digits(model, keras.optimizers.Adam())
    assert model.evaluate(x_test, y_test, verbose=0)[0] == pytest.approx(pretrained_loss)
    autolr = keras_autolr.AutoLR(verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=6, verbose=0, callbacks=[autolr])
    assert autolr.decision.tests and autolr.schedule.total_steps == 6 * 22
    assert model.evaluate(x_test, y_test, verbose=0)[0] < pretrained_loss


@pytest.mark.skipif(not IS_KERAS_3, reason="the .keras format keeps the optimizer on Keras 3")
def test_a_model_loaded_with_its_trained_optimizer_is_refused(tmp_path):
    path = str(tmp_path / "pretrained.keras")
    _pretrained(epochs=1).save(path)
    model = keras.models.load_model(path)
    optimizer = _keras.optimizer_of(model)
    assert optimizer.built  # its slots and step counter, loaded
    (x, y), _ = _training.digits()
    before = _state(model)
    with pytest.raises(ValueError, match="has taken 22 steps without AutoLR"):
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    _training.assert_same_state(before, _state(model))
    assert not isinstance(_keras.raw_learning_rate(optimizer), AutoLRSchedule)


def test_a_list_with_one_trained_optimizer_puts_every_lr_back():
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    trained = keras.optimizers.SGD()
    trained.iterations.assign(5)  # stepped elsewhere, without AutoLR
    fresh = _keras.optimizer_of(model)
    own = _keras.raw_learning_rate(fresh)
    (x, y), _ = _training.digits()
    with pytest.raises(ValueError, match="this SGD has taken 5 steps"):
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0,
                  callbacks=[keras_autolr.AutoLR(optimizer=[fresh, trained], verbose=0)])
    assert _keras.raw_learning_rate(fresh) is own  # replaced first, then put back
    assert int(_keras.to_numpy(fresh.iterations)) == 0


@pytest.mark.skipif(IS_KERAS_3, reason="Keras 2's TensorFlow-format weights carry the optimizer")
def test_keras2_weights_of_a_run_without_autolr_are_refused(tmp_path):
    # Weights written by an AutoLR run hold its decision, placed when AutoLR
    # creates the state: a resume (tests/test_checkpoint_state.py). These
    # hold none: the optimizer trained without AutoLR.
    path = str(tmp_path / "weights")
    _pretrained(epochs=1).save_weights(path)
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    model.load_weights(path)
    (x, y), _ = _training.digits()
    with pytest.raises(ValueError, match="has taken 22 steps without AutoLR"):
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
