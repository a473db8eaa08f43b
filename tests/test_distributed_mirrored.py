"""MirroredStrategy on 2 logical CPU devices behaves as one device (issue 3).

`tests/distributed_workers/mirrored_worker.py` runs in its own process
(logical devices must exist before TensorFlow initializes its devices):
the same MLP from the same weights on the same global batches of 64, with
the same AutoLR options, on one device and mirrored on /cpu:0 and /cpu:1.
Tolerances: the losses the detector decided on (the steps before the
switch) differ only by float32 summation order across replicas (observed
~2e-6 relative; allowed 2e-4); then the decision is the same (the switch
step exactly) and the learning rate of every step agrees to 1e-6 relative
(observed: equal). After the switch the losses are not compared: the
warmup has by then pushed the LR far past the valley on purpose, where
summation-order differences grow chaotically; that changes no LR.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest

from keras_autolr._keras import IS_KERAS_3

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "distributed_workers"))
import _launch  # noqa: E402

# tf.distribute: TensorFlow's own (its workers import TensorFlow).
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None,
    reason="a TensorFlow test (TensorFlow is not installed)")

LOSS_RTOL = 2e-4
LR_RTOL = 1e-6
TOTAL_STEPS = 72  # 3 epochs of 24 global batches


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("mirrored"))
    (result,) = _launch.run("mirrored_worker.py", out, timeout=300)
    return result


def _assert_same_as_single_device(run, single):
    assert run["total_steps"] == single["total_steps"] == TOTAL_STEPS
    assert len(run["lrs"]) == len(single["lrs"]) == TOTAL_STEPS
    seen = single["switch_step"]  # the losses the decision rests on
    np.testing.assert_allclose(run["losses"][:seen], single["losses"][:seen],
                               rtol=LOSS_RTOL)
    assert run["switch_step"] == single["switch_step"]
    assert run["reason"] == single["reason"]
    assert run["peak_lr"] == pytest.approx(single["peak_lr"], rel=LR_RTOL)
    np.testing.assert_allclose(run["lrs"], single["lrs"], rtol=LR_RTOL)


def test_strategy_has_two_replicas(result):
    assert result["replicas"] == 2


def test_mirrored_strategy_is_one_worker(result):
    # One process drives both replicas: `agree` is the identity there.
    assert result["num_workers"] == 1


def test_broadcast_all_reduce_takes_replica_0_values_exactly(result):
    # The all-reduce SUM behind `agree`, run on 2 replicas: the second
    # replica contributes zeros, so the first's float64 values come back
    # bit for bit (not doubled).
    assert result["broadcast"]["received"] == result["broadcast"]["sent"]


def test_single_device_run_switches_during_warmup(result):
    single = result["runs"]["single"]
    assert single["reason"] == "detected"
    assert 0 < single["switch_step"] < TOTAL_STEPS // 2


def test_mirrored_fit_matches_single_device_at_every_step(result):
    # The detector sees the global mean loss (not one replica's), so it
    # takes the same decision and every step has the same LR.
    _assert_same_as_single_device(result["runs"]["mirrored"],
                                  result["runs"]["single"])


def test_fit_on_distributed_dataset_with_steps_per_epoch(result):
    # `experimental_distribute_dataset` of a repeated dataset: the budget
    # comes from `steps_per_epoch` x epochs.
    _assert_same_as_single_device(result["runs"]["distributed_steps"],
                                  result["runs"]["single"])


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 needs steps_per_epoch "
                    "for a distributed dataset")
def test_fit_on_finite_distributed_dataset(result):
    # No `steps_per_epoch`: the budget comes from the dataset's size.
    _assert_same_as_single_device(result["runs"]["distributed_finite"],
                                  result["runs"]["single"])


def test_checkpoint_restores_schedule_state_under_strategy(result):
    resumed = result["runs"]["resumed"]
    first, restored = resumed["first"], resumed["restored"]
    assert first["switch_step"] is not None and first["switch_step"] < 48
    assert restored["variables_mirrored"]
    assert restored["weights_equal"]
    assert restored["iterations"] == 48
    assert restored["switch_step"] == first["switch_step"]
    assert restored["peak_lr"] == pytest.approx(first["peak_lr"], rel=1e-7)


def test_restored_run_continues_with_the_same_learning_rates(result):
    mirrored = result["runs"]["mirrored"]
    last = result["runs"]["resumed"]["last"]
    assert last["reason"] == "restored"
    assert last["switch_step"] == mirrored["switch_step"]
    # Steps 48..71 after the restore: the same LR, bit for bit, and the
    # same losses as the run that was never interrupted.
    assert last["lrs"] == mirrored["lrs"][48:]
    np.testing.assert_allclose(last["losses"][48:], mirrored["losses"][48:],
                               rtol=1e-6)
