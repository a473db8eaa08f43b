"""State files: atomic writes, and a clear error for corrupt or foreign ones."""

import os

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr.training import state
from keras_autolr._keras import keras
from tests import _training

FINGERPRINT = {"total_steps": 100, "seed": 0, "check_every": "auto"}


def _save(path, n=30):
    losses = np.linspace(2.0, 1.0, n)
    losses[7] = np.nan
    state.save(path, losses, [10, 20, n], [True, False, True], FINGERPRINT,
               {"switch_step": None, "peak_lr": None, "reason": None})
    return losses


def test_round_trip(tmp_path):
    path = str(tmp_path / state.FILENAME)
    losses = _save(path)
    loaded, ends, observed, decision = state.load(path, FINGERPRINT)
    np.testing.assert_array_equal(loaded, losses)  # NaN kept in place
    assert ends.tolist() == [10, 20, 30]
    assert observed.tolist() == [True, False, True]
    assert decision["switch_step"] is None


def test_truncated_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / state.FILENAME)
    _save(path)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(state.StateFileError, match="corrupt or truncated"):
        state.load(path, FINGERPRINT)


def test_foreign_file_is_a_clear_error(tmp_path):
    path = str(tmp_path / state.FILENAME)
    np.savez(open(path, "wb"), weights=np.ones(3))
    with pytest.raises(state.StateFileError, match="not an AutoLR state file"):
        state.load(path, FINGERPRINT)
    with open(path, "w") as f:
        f.write("epoch,loss\n0,1.0\n")
    with pytest.raises(state.StateFileError, match="corrupt or truncated"):
        state.load(path, FINGERPRINT)


def test_state_of_other_options_names_the_option(tmp_path):
    path = str(tmp_path / state.FILENAME)
    _save(path)
    with pytest.raises(state.StateFileError, match="seed=0 there, seed=1 here"):
        state.load(path, {**FINGERPRINT, "seed": 1})


def test_a_kill_during_the_write_leaves_the_previous_state(tmp_path, monkeypatch):
    path = str(tmp_path / state.FILENAME)
    losses = _save(path)

    def dies(*args, **kwargs):
        raise KeyboardInterrupt  # the process stops in the middle of a write

    monkeypatch.setattr(np, "savez", dies)
    with pytest.raises(KeyboardInterrupt):
        _save(path, n=40)
    monkeypatch.undo()
    loaded, *_ = state.load(path, FINGERPRINT)
    np.testing.assert_array_equal(loaded, losses)


def test_corrupt_state_in_fit_fails_before_training(tmp_path):
    """A resumed fit with a corrupt state file raises before any step."""
    (x, y), _ = _training.digits()
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam())
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)  # step 2
    with open(os.path.join(tmp_path, state.FILENAME), "wb") as f:
        f.write(b"PK\x03\x04 not really a zip")
    autolr = AutoLR(backup_dir=str(tmp_path), total_steps=50, verbose=0)
    weights = [w.numpy().copy() for w in model.weights]
    with pytest.raises(state.StateFileError, match="corrupt or truncated"):
        model.fit(x[:128], y[:128], batch_size=64, epochs=2, verbose=0,
                  callbacks=[autolr])
    assert int(model.optimizer.iterations.numpy()) == 2
    for before, after in zip(weights, model.weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_the_snapshot_steps_round_trip_and_an_older_file_has_none(tmp_path):
    path = str(tmp_path / state.FILENAME)
    losses = np.linspace(2.0, 1.0, 30)
    decision = {"switch_step": None, "peak_lr": None, "reason": None,
                "restored_step": None}
    state.save(path, losses, [30], [True], FINGERPRINT, decision,
               snapshot_steps=[13, 26])
    saved = state.load_state(path, FINGERPRINT)
    assert saved.snapshot_steps == [13, 26] and saved.decision == decision
    assert len(state.load(path, FINGERPRINT)) == 4
    _save(path)  # without the list, as an older keras_autolr wrote it
    assert state.load_state(path, FINGERPRINT).snapshot_steps is None
