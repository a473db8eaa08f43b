"""GrowingArray, LossRecord and ExecutionLossReader: the per-step loss record."""

import math
import types

import numpy as np
import pytest

from keras_autolr._keras import keras
from keras_autolr.training.loss_reader import ExecutionLossReader
from keras_autolr.decision.loss_record import GrowingArray
from keras_autolr.decision.loss_record import LossRecord
from keras_autolr.training.loss_reader import MissingLossError


def test_growing_array_keeps_every_value_in_order_past_its_capacity():
    array = GrowingArray(capacity=3)
    chunks = [np.arange(i, i + 1 + i % 4, dtype=np.float64) for i in range(50)]
    for chunk in chunks:
        array.extend(chunk)
    np.testing.assert_array_equal(array.values, np.concatenate(chunks))
    assert array.size == sum(len(c) for c in chunks)


def test_loss_record_places_an_execution_mean_at_each_of_its_steps():
    record = LossRecord()
    record.extend(np.full(3, 2.5))
    record.extend([math.nan])
    assert record.n_steps == 4
    np.testing.assert_array_equal(record.values, [2.5, 2.5, 2.5, math.nan])


def _model_with(*metrics):
    """What the reader looks at: a model's `metrics` (no compiled tracker)."""
    return types.SimpleNamespace(metrics=list(metrics))


def test_a_mean_metric_gives_the_weighted_mean_of_each_executions_steps():
    tracker = keras.metrics.Mean(name="loss")
    reader = ExecutionLossReader(_model_with(tracker))
    tracker.update_state(2.0, sample_weight=4.0)
    assert reader.read({"loss": 2.0}, steps=1) == pytest.approx(2.0)
    assert reader.source == "metric"
    # Two steps, the second a partial batch: weighted by batch size.
    tracker.update_state(4.0, sample_weight=4.0)
    tracker.update_state(1.0, sample_weight=2.0)
    assert reader.read({"loss": 0.0}, steps=2) == pytest.approx((16 + 2) / 6)


def test_after_reset_the_reader_counts_from_a_cleared_metric():
    tracker = keras.metrics.Mean(name="loss")
    reader = ExecutionLossReader(_model_with(tracker))
    tracker.update_state(math.nan, sample_weight=1.0)
    assert math.isnan(reader.read({}, steps=1))
    reader.reset()  # a restore after the NaN: the metric forgets it
    tracker.update_state(3.0, sample_weight=1.0)
    assert reader.read({}, steps=1) == pytest.approx(3.0)


def test_an_epoch_start_follows_keras_resetting_its_metrics():
    tracker = keras.metrics.Mean(name="loss")
    reader = ExecutionLossReader(_model_with(tracker))
    tracker.update_state(5.0)
    reader.read({}, steps=1)
    tracker.reset_state()
    reader.start_epoch()
    tracker.update_state(1.0)
    assert reader.read({}, steps=1) == pytest.approx(1.0)


def test_without_a_metric_the_logged_value_is_the_loss_of_the_batch():
    reader = ExecutionLossReader(_model_with(), monitor="g_loss")
    assert reader.read({"g_loss": np.float32(0.75), "d_loss": 9.0}, steps=1) == 0.75
    assert reader.source == "value"
    assert reader.read({"g_loss": 0.5}, steps=1) == 0.5


def test_a_metric_without_sum_and_count_is_a_running_mean_to_difference():
    running = types.SimpleNamespace(name="loss")  # no `total`/`count`
    reader = ExecutionLossReader(_model_with(running))
    assert reader.read({"loss": 3.0}, steps=1) == pytest.approx(3.0)
    assert reader.source == "running_mean"
    # Running mean over 3 steps is 2.0: the last two steps averaged 1.5.
    assert reader.read({"loss": 2.0}, steps=2) == pytest.approx(1.5)


def test_no_loss_at_all_raises_naming_the_monitor_and_the_logged_keys():
    reader = ExecutionLossReader(_model_with(), monitor="loss")
    with pytest.raises(MissingLossError, match=r"monitor='loss', logs keys=\['acc'\]"):
        reader.read({"acc": 0.5}, steps=1)
