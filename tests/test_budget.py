"""The budget when `fit` is chunked or stopped early (README, "The budget")."""

import re
import warnings

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr import _keras
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

STEPS_PER_EPOCH = 8  # 256 digits, batch 32


def _model():
    return _training.compile_digits(_training.mlp(units=32), keras.optimizers.Adam())


def _data():
    (x, y), _ = _training.digits()
    return x[:256], y[:256]


@pytest.mark.parametrize("initial_epoch", [2, 0], ids=["initial_epoch=2", "no-initial_epoch"])
def test_a_second_chunk_says_which_total_steps_to_pass(initial_epoch):
    """`fit(epochs=2)` then `fit(initial_epoch=2, epochs=4)`: the run is 32 steps."""
    x, y = _data()
    model = _model()
    autolr = AutoLR(verbose=0)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[autolr])
    epochs = 4 if initial_epoch else 2
    with pytest.raises(ValueError) as error:
        model.fit(x, y, batch_size=32, initial_epoch=initial_epoch, epochs=epochs,
                  verbose=0, callbacks=[autolr])
    message = str(error.value)
    assert "budget of 16 steps is spent" in message
    assert re.search(r"AutoLR\(total_steps=32\) \(the 16 steps trained so far \+ "
                     r"8 steps per epoch x 2 epochs of this fit\)", message), message
    assert int(model.optimizer.iterations.numpy()) == 16


def test_the_total_steps_the_error_names_trains_the_chunks_as_one_fit():
    x, y = _data()
    whole = AutoLR(options=Options(check_every=2), verbose=0)
    model = _model()
    model.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0, callbacks=[whole])
    chunked = AutoLR(total_steps=4 * STEPS_PER_EPOCH, options=Options(check_every=2),
                     verbose=0)
    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                  callbacks=[chunked])
        model.fit(x, y, batch_size=32, initial_epoch=2, epochs=4, shuffle=False,
                  verbose=0, callbacks=[chunked])
    assert not [w for w in caught if "past the budget" in str(w.message)]
    np.testing.assert_array_equal(chunked.record.learning_rate, whole.record.learning_rate)
    np.testing.assert_array_equal(chunked.record.loss, whole.record.loss)
    assert chunked.decision.switch_step == whole.decision.switch_step
    assert float(chunked.schedule(4 * STEPS_PER_EPOCH)) == 0.0


def test_early_stopping_ends_fit_before_the_lr_reaches_zero():
    """The budget is `epochs` x steps per epoch; EarlyStopping does not shorten it."""
    x, y = _data()
    model = _model()
    autolr = AutoLR(verbose=0)
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=1e9, patience=0)
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0,
                        callbacks=[autolr, stop])
    assert len(history.history["loss"]) < 10  # stopped early
    trained = int(model.optimizer.iterations.numpy())
    assert autolr.schedule.total_steps == 10 * STEPS_PER_EPOCH > trained
    assert float(autolr.schedule(trained)) > 0.0  # the LR was not yet 0


def test_an_interrupted_fit_run_again_warns_of_the_steps_past_the_budget():
    # A notebook cell stopped at step 12 and run again as it was: the same
    # run goes on to its budget (32 steps), and the fit's last 12 steps
    # (12 + 32 = 44) would train at LR 0: say so, with the figures.
    x, y = _data()
    model = _model()
    autolr = AutoLR(verbose=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=32, epochs=4, verbose=0,
                  callbacks=[autolr, _training.Interrupt(12)])
    with pytest.warns(UserWarning, match="past the budget") as caught:
        model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[autolr])
    message = next(str(w.message) for w in caught if "past the budget" in str(w.message))
    assert "runs to step 44, past the budget of 32 steps" in message
    assert "its last 12 steps do not train" in message
    assert "the optimizer starts at step 12" in message
    assert autolr.schedule.total_steps == 32  # the run of the first fit, continued
    assert float(_keras.to_numpy(autolr.schedule(32))) == 0.0


def test_a_new_optimizer_from_initial_epoch_gets_the_epochs_its_fit_runs():
    """TensorFlow's fine-tuning tutorial: recompile, then `fit(initial_epoch=2,
    epochs=6)`. The budget is the 4 epochs it runs (32 steps), not 6: the
    same LRs and decision as `fit(epochs=4)`, and the LR reaches 0."""
    x, y = _data()
    options = Options(check_every=2)
    plain, resumed = AutoLR(options=options, verbose=0), AutoLR(options=options, verbose=0)
    _model().fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0, callbacks=[plain])
    model = _model()
    model.fit(x, y, batch_size=32, initial_epoch=2, epochs=6, shuffle=False, verbose=0,
              callbacks=[resumed])
    assert resumed.schedule.total_steps == 4 * STEPS_PER_EPOCH  # 6 epochs before
    assert resumed.decision.reason == plain.decision.reason != "short_budget"
    assert resumed.decision.switch_step == plain.decision.switch_step
    np.testing.assert_array_equal(resumed.record.learning_rate, plain.record.learning_rate)
    assert float(_keras.to_numpy(resumed.schedule(4 * STEPS_PER_EPOCH))) == 0.0
    assert int(_keras.to_numpy(model.optimizer.iterations)) == 4 * STEPS_PER_EPOCH


def test_a_new_optimizer_from_initial_epoch_with_a_short_fit_keeps_its_own_lr():
    # 8 epochs of 8 steps would sweep; the 3 this fit runs (24 steps) do not.
    x, y = _data()
    autolr = AutoLR(verbose=0)
    model = _model()
    with pytest.warns(UserWarning, match="own LR 0.001, constant"):
        model.fit(x, y, batch_size=32, initial_epoch=5, epochs=8, verbose=0,
                  callbacks=[autolr])
    assert autolr.schedule.total_steps == 3 * STEPS_PER_EPOCH
    assert autolr.decision.reason == "short_budget"
    np.testing.assert_allclose(autolr.record.learning_rate, 1e-3, rtol=1e-5)


def test_a_budget_given_is_kept_whatever_the_initial_epoch():
    x, y = _data()
    autolr = AutoLR(total_steps=40, verbose=0)
    _model().fit(x, y, batch_size=32, initial_epoch=2, epochs=4, verbose=0,
                 callbacks=[autolr])
    assert autolr.schedule.total_steps == 40


def test_a_fit_of_no_epochs_leaves_the_optimizer_as_it_was():
    x, y = _data()
    model = _model()
    try:
        model.fit(x, y, batch_size=32, epochs=0, verbose=0)
    except ValueError:
        pytest.skip("this Keras refuses `epochs=0` itself (tf-keras 2.21)")
    autolr = AutoLR(verbose=0)
    model.fit(x, y, batch_size=32, epochs=0, verbose=0, callbacks=[autolr])
    assert int(_keras.to_numpy(model.optimizer.iterations)) == 0
    assert float(_keras.to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-3)
    assert autolr.controller is None
    model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[autolr])
    assert autolr.schedule.total_steps == 4 * STEPS_PER_EPOCH
    assert autolr.decision.reason != "short_budget"


def test_the_same_autolr_after_a_recompile_from_initial_epoch_sweeps_the_new_fit():
    # TensorFlow's fine-tuning tutorial with AutoLR in both fits' callbacks:
    # the second fit's new optimizer gets a new sweep over the epochs it runs.
    x, y = _data()
    autolr = AutoLR(verbose=0)
    model = _model()
    model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[autolr])
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, initial_epoch=4, epochs=8, verbose=0,
              callbacks=[autolr])
    assert autolr.schedule.total_steps == 4 * STEPS_PER_EPOCH
    assert autolr.decision.reason != "short_budget"
    assert float(_keras.to_numpy(autolr.schedule(4 * STEPS_PER_EPOCH))) == 0.0
    assert autolr.record.learning_rate[0] == pytest.approx(1e-4, rel=1e-4)
