"""Non-finite losses: a bad batch is undone and training goes on; a too-large LR ends warmup."""

import warnings

import numpy as np
import pytest

from keras_autolr import AutoLR
from keras_autolr._keras import keras
from keras_autolr import Options
from tests import _training

EPOCHS, BATCH = 12, 64  # 22 steps per epoch, 264 steps, warmup cap 132


def _fit(nan_step=None, seed=0, restore=True):
    """Digits MLP with Adam; the loss of step `nan_step` is NaN (NaN gradients)."""
    if nan_step is not None:
        _training.skip_if_the_loss_reads_the_optimizer()
    (x, y), (x_test, y_test) = _training.digits()
    model = _training.mlp(seed=seed)
    optimizer = keras.optimizers.Adam()
    base = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss(y_true, y_pred):
        value = base(y_true, y_pred)
        if nan_step is None:
            return value
        poisoned = _training.ops.equal(optimizer.iterations, nan_step)
        return _training.nan_where(poisoned, value)

    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    autolr = AutoLR(verbose=0,
                    options=Options(seed=seed, restore_on_fault=restore, rewind=restore))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[autolr])
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    finite = all(np.all(np.isfinite(w.numpy())) for w in model.weights)
    return autolr, accuracy, finite


@pytest.fixture(scope="module")
def fault_free():
    autolr, accuracy, finite = _fit()
    assert finite and autolr.decision.reason == "detected"
    return autolr, accuracy


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10))
def test_a_nan_at_a_random_step_is_undone_and_training_goes_on(fault_free, seed):
    """One bad batch, in warmup (even seeds) or in decay (odd seeds)."""
    reference, reference_accuracy = fault_free
    rng = np.random.default_rng(seed)
    if seed % 2 == 0:
        nan_step = int(rng.integers(15, reference.switch_step))
    else:
        nan_step = int(rng.integers(reference.switch_step + 2, EPOCHS * 22 - 2))
    with pytest.warns(RuntimeWarning, match="non-finite loss at step"):
        autolr, accuracy, finite = _fit(nan_step)
    assert finite
    assert autolr.decision.faults[0][0] == nan_step
    assert autolr.decision.faults[0][1].startswith("restored")
    assert autolr.decision.reason == "detected"  # a lone bad batch: no divergence
    assert accuracy >= reference_accuracy - 0.02


def test_without_snapshots_a_nan_leaves_non_finite_weights():
    """The switches that turn snapshots off do what they say."""
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        autolr, accuracy, finite = _fit(nan_step=30, restore=False)
    # The weights turned NaN, so the next loss is NaN too: the LR is blamed.
    assert autolr.decision.faults[:2] == [(30, "none"), (31, "diverged")]
    assert not finite
    assert autolr._snapshot.copies == 0


def test_a_nan_restores_the_newest_snapshot_taken_before_it():
    with pytest.warns(RuntimeWarning, match="restored from step"):
        autolr, accuracy, finite = _fit(nan_step=40)
    assert finite
    restored = int(autolr.decision.faults[0][1].split()[1])
    assert restored <= 40
    # The plan takes one per doubling of the LR: the newest before step 40.
    schedule = autolr.schedule
    decades = np.log(schedule.max_lr / schedule.min_lr)  # from the own LR
    assert 40 - restored <= schedule.warmup_steps * np.log(2) / decades + 1


def _poisson(y_true, log_rate):
    """Poisson loss with a log link: `exp` overflows once the LR is too large."""
    ops = _training.ops
    target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), 10)
    return ops.mean(ops.exp(log_rate) - target * log_rate, axis=-1)


def _fit_poisson(seed, check_every):
    (x, y), (x_test, y_test) = _training.digits()
    model = _training.mlp(seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(), loss=_poisson,
                  metrics=["sparse_categorical_accuracy"])
    autolr = AutoLR(verbose=0, options=Options(seed=seed, check_every=check_every))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[autolr])
    finite = all(np.all(np.isfinite(w.numpy())) for w in model.weights)
    return autolr, model.evaluate(x_test, y_test, verbose=0)[1], finite


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_adam_up_to_lr_one_truly_diverges_and_the_run_survives(seed):
    """Adam, max_lr=1.0, a log-link Poisson loss: the loss overflows to NaN.

    Tested once per epoch (the reference's cadence), warmup is still going
    when the loss overflows (about step 125 of 264); the fault-free run is
    the default cadence, which switches before the overflow.
    """
    _, reference, _ = _fit_poisson(seed, "auto")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        autolr, accuracy, finite = _fit_poisson(seed, "epoch")
    losses = np.asarray(autolr.record.loss, dtype=np.float64)
    if np.all(np.isfinite(losses)):
        # The overflow is float32's (exp above 88.7): on some machines' kernels
        # one seed's loss peaks just below it before the cap (2026-12-06,
        # PyTorch, seed 2: 3.8e25 at step 127). Without a non-finite loss
        # there is no divergence to survive, so nothing to check here.
        pytest.skip(f"seed {seed}: the loss never overflowed (peak {losses.max():.3g} "
                    f"at step {int(np.argmax(losses))}) before the warmup cap")
    assert any(issubclass(w.category, RuntimeWarning) and "non-finite loss" in str(w.message)
               for w in caught)
    assert autolr.decision.reason == "diverged"  # it truly diverged
    assert autolr.decision.faults[-1][1] == "diverged"
    assert finite
    # Margin: 10 points (measured: 92-97 % against 95-96 % fault-free).
    assert accuracy >= reference - 0.10
