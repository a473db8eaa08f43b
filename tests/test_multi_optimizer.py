"""Keras' `MultiOptimizer`: an optimizer per group of variables.

A `MultiOptimizer` (Keras 3.15 and later) has no learning rate of its own.
Zero-config `AutoLR()` drives the sub-optimizers that train, with one
shared schedule (as a list given to `AutoLR(optimizer=...)`), when they
have one learning rate; sub-optimizers with different ones are refused
before training, since one schedule would erase their ratio. `find_lr`
sweeps them together, under the same rule. Runs on every Keras 3 backend.
"""

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from tests import _training

pytestmark = pytest.mark.skipif(
    not hasattr(getattr(keras, "optimizers", None), "MultiOptimizer"),
    reason="keras.optimizers.MultiOptimizer is new in Keras 3.15")

BATCH, EPOCHS = 64, 6  # 22 steps per epoch, 132 steps


def _multi(head, base=None, unused=None):
    """The digits MLP, `base` for the hidden layer, `head` for the last one."""
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu", name="hidden"),
        keras.layers.Dense(10, name="head"),
    ])
    mapping = keras.optimizers.OptimizerMap(
        default_optimizer=base if base is not None else keras.optimizers.Adam())
    mapping[".*/head/.*"] = head
    if unused is not None:  # a pattern no variable matches
        mapping[".*/no_such_layer/.*"] = unused
    optimizer = keras.optimizers.MultiOptimizer(mapping)
    keras.utils.set_random_seed(0)
    return _training.compile_digits(model, optimizer), optimizer


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_autolr_drives_every_sub_optimizer_that_trains_with_one_schedule():
    head = keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9)
    unused = keras.optimizers.RMSprop(learning_rate=0.5)
    model, optimizer = _multi(head, unused=unused)
    (x, y), (x_test, y_test) = _training.digits()
    own_loss = model.evaluate(x_test, y_test, verbose=0)[0]
    autolr = keras_autolr.AutoLR(verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[autolr])
    base = optimizer.optimizers[-1]
    assert base.name != head.name and base is not unused
    steps = EPOCHS * 22
    for each in (head, base):
        assert _keras.raw_learning_rate(each) is autolr.schedule
        assert int(_keras.to_numpy(each.iterations)) == steps
        assert float(_keras.to_numpy(each.learning_rate)) == 0.0  # decayed to 0
    # The sub-optimizer no variable maps to keeps its own LR (0.5).
    assert not isinstance(_keras.raw_learning_rate(unused), AutoLRSchedule)
    assert float(_keras.to_numpy(unused.learning_rate)) == pytest.approx(0.5)
    assert autolr.schedule.total_steps == steps
    np.testing.assert_array_equal(autolr.record.step, np.arange(steps))
    assert autolr.decision.tests and autolr.decision.warmup_steps > 0
    assert model.evaluate(x_test, y_test, verbose=0)[0] < own_loss / 2


def test_the_rewind_puts_back_every_sub_optimizers_state():
    head = keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9)
    model, optimizer = _multi(head)
    (x, y), _ = _training.digits()
    weights = _training.WeightsAtEachStep()
    slots = {}
    autolr = keras_autolr.AutoLR(verbose=0)

    class Slots(keras.callbacks.Callback):  # as WeightsAtEachStep, the slots
        def on_train_batch_begin(self, batch, logs=None):
            step = int(_keras.to_numpy(_keras.step_counter(optimizer)))
            # All but iterations and the decision (on JAX, optimizer variables).
            decision = {id(v) for v in autolr.schedule.state_variables}
            slots[step] = [np.array(_keras.to_numpy(v)) for o in optimizer.optimizers
                           for v in o.variables[1:] if id(v) not in decision]

    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0,
              callbacks=[weights, Slots(), autolr])
    decision = autolr.decision
    assert decision.restored_step is not None
    first_after = min(s for s in weights.at if s >= decision.switch_step)
    for after, before in zip(weights.at[first_after],
                             weights.at[decision.restored_step]):
        np.testing.assert_array_equal(after, before)
    # Both sub-optimizers' slots (SGD's momentum, Adam's moments) too.
    assert len(slots[first_after]) == 2 + 2 * 2  # a kernel and a bias each
    for after, before in zip(slots[first_after], slots[decision.restored_step]):
        np.testing.assert_array_equal(after, before)


def test_sub_optimizers_with_different_lrs_are_refused_before_training():
    head = keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9)
    model, optimizer = _multi(head, base=keras.optimizers.Adam(learning_rate=1e-5))
    (x, y), _ = _training.digits()
    before = _weights(model)
    with pytest.raises(ValueError, match="different ones") as error:
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0,
                  callbacks=[keras_autolr.AutoLR(verbose=0)])
    message = str(error.value)
    assert "SGD" in message and "0.01" in message and "1e-05" in message
    assert "AutoLR(optimizer=[...])" in message
    for each in optimizer.optimizers:  # untouched, and nothing trained
        assert not isinstance(_keras.raw_learning_rate(each), AutoLRSchedule)
        assert int(_keras.to_numpy(each.iterations)) == 0
    for now, then in zip(_weights(model), before):
        np.testing.assert_array_equal(now, then)
    # The same fit without AutoLR trains as the user set it.
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert float(_keras.to_numpy(head.learning_rate)) == pytest.approx(1e-2)


def test_the_sub_optimizers_to_drive_can_be_given():
    head = keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9)
    base = keras.optimizers.Adam(learning_rate=1e-5)
    model, _ = _multi(head, base=base)
    (x, y), _ = _training.digits()
    autolr = keras_autolr.AutoLR(optimizer=head, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[autolr])
    assert _keras.raw_learning_rate(head) is autolr.schedule
    assert float(_keras.to_numpy(base.learning_rate)) == pytest.approx(1e-5)
    assert autolr.decision.tests


def test_find_lr_sweeps_the_sub_optimizers_together_and_puts_all_back():
    model, optimizer = _multi(keras.optimizers.SGD(learning_rate=1e-3, momentum=0.9))
    (x, y), _ = _training.digits()
    model.fit(x[:64], y[:64], batch_size=64, epochs=1, verbose=0)  # built
    before = _training.training_state(model, optimizer)
    rates = [_keras.raw_learning_rate(o) for o in optimizer.optimizers]
    seen = []

    class LearningRates(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            _keras.sync_model_state(self.model)  # JAX: the values, mid-fit
            seen.append([float(_keras.to_numpy(o.learning_rate))
                         for o in optimizer.optimizers])

    result = keras_autolr.find_lr(model, x, y, batch_size=64,
                                  callbacks=[LearningRates()])
    # Both swept, from the same LR at every step, up a decade or more.
    assert len(seen) == len(result.losses) and seen[-1][0] > 10 * seen[0][0]
    assert all(head == base for head, base in seen)
    assert result.own_lr == pytest.approx(1e-3)
    assert result.own_lr <= result.suggestion < 1.0
    _training.assert_same_state(before, _training.training_state(model, optimizer))
    assert all(_keras.raw_learning_rate(o) is rate  # the very objects
               for o, rate in zip(optimizer.optimizers, rates))


def test_find_lr_refuses_sub_optimizers_with_different_lrs_untouched():
    model, optimizer = _multi(keras.optimizers.SGD(learning_rate=1e-2))
    (x, y), _ = _training.digits()
    with pytest.raises(ValueError, match="`find_lr` sweeps one learning rate"):
        keras_autolr.find_lr(model, x, y, batch_size=64)
    assert all(int(_keras.to_numpy(o.iterations)) == 0 for o in optimizer.optimizers)
    assert [float(_keras.to_numpy(o.learning_rate)) for o in optimizer.optimizers] == (
        pytest.approx([1e-2, 1e-3]))
