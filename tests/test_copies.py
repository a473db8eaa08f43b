"""Copies: `copy.deepcopy` and `pickle` of a schedule and of a trained `AutoLR`.

keras_tuner deep-copies the callbacks list for each trial, and scikit-learn's
`clone` its parameters. The copy of an `AutoLR` after its `fit` failed: in
Keras 3's pickling of the schedule's checkpoint object, and on Keras 2 in
the copy of the run's distribution strategy and optimizers.
"""

import copy
import pickle

import numpy as np
import pytest

import keras_autolr
from keras_autolr import AutoLRSchedule
from keras_autolr import _keras
from keras_autolr._keras import keras
from tests import _training

BATCH = 64  # 22 steps per epoch of the 1,400 digits


def _fit(callbacks, seed=0, epochs=6):
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(seed=seed), keras.optimizers.Adam())
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=callbacks)
    return model


def _learning_rates(schedule, steps):
    return np.asarray(_keras.to_numpy(schedule(np.asarray(steps, "int32"))),
                      np.float64)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_decided_schedule_copies_with_its_decision(how):
    autolr = keras_autolr.AutoLR(verbose=0)
    _fit([autolr])
    schedule = autolr.schedule  # built, its decision in its variables
    duplicate = (copy.deepcopy(schedule) if how == "deepcopy"
                 else pickle.loads(pickle.dumps(schedule)))
    assert duplicate is not schedule
    assert duplicate.get_config() == schedule.get_config()
    assert (duplicate.switch_step, duplicate.peak_lr) == (
        schedule.switch_step, schedule.peak_lr)
    assert duplicate.switch_step == autolr.switch_step
    total = schedule.total_steps
    steps = [0, autolr.switch_step - 1, autolr.switch_step, total - 1]
    np.testing.assert_allclose(_learning_rates(duplicate, steps),
                               _learning_rates(schedule, steps), rtol=1e-6)


def test_a_copy_of_a_trained_autolr_sweeps_afresh_on_a_new_model():
    # keras_tuner's pattern: the same callbacks list, copied for each trial,
    # after it served in a fit of its own.
    callbacks = [keras_autolr.AutoLR(verbose=0)]
    _fit(callbacks)
    original = callbacks[0].decision
    copies = copy.deepcopy(callbacks)
    model = _fit(copies, seed=1)
    autolr = copies[0]
    assert autolr is not callbacks[0]
    assert autolr.decision.tests and autolr.decision.reason in ("detected", "cap")
    # A new sweep from the new optimizer's own LR, over its own budget.
    assert autolr.record.learning_rate[0] == pytest.approx(1e-3, rel=1e-6)
    assert len(autolr.record.loss) == 6 * 22
    schedule = _keras.raw_learning_rate(_keras.optimizer_of(model))
    assert isinstance(schedule, AutoLRSchedule) and schedule is not callbacks[0].schedule
    # The original keeps its own decision.
    assert callbacks[0].decision.switch_step == original.switch_step
    assert callbacks[0].decision.peak_lr == original.peak_lr

