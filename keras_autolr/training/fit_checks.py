"""What `AutoLR` checks about the `fit` it runs in, and what it says when one fails.

Each check is a function of what it looks at (the `fit`'s params, its other
callbacks, the optimizers' step counters, the controller). The checks that
fail a `fit` once it has begun return the error rather than raise it: the
callback puts the optimizers' learning rates back first (install.py).

Example:

```python
error = fit_checks.optimizer_not_stepped(optimizers, start_iterations)
if error is not None:
    installer.uninstall()
    raise error
```
"""

import math
import warnings

from keras_autolr import _keras
from keras_autolr import schedule_state
from keras_autolr.training import siblings
from keras_autolr.decision.controller import DECAY_BLOWUP_DEPTHS
from keras_autolr.decision.controller import lowered_peak
from keras_autolr.decision.controller import restored_copy
from keras_autolr.decision.detector import MIN_FINITE_LOSSES

# Shown when an optimizer AutoLR drives did not step (a custom `train_step`).
OPTIMIZER_HINT = (
    "Pass the optimizers your `train_step` applies to `AutoLR(optimizer=...)` "
    "(one, or a list sharing one schedule), e.g. a GAN's "
    "`AutoLR(optimizer=[d_optimizer, g_optimizer], monitor='g_loss')`.")


def budget(total_steps, schedule_total_steps, params):
    """The training budget in optimizer steps.

    Example:

    ```python
    budget(None, None, {"steps": 50, "epochs": 4})  # 200
    budget(1000, None, {"steps": 50, "epochs": 4})  # 1000
    ```

    Args:
        total_steps: int or None. `AutoLR(total_steps=...)`: first.
        schedule_total_steps: int or None. The schedule's: second.
        params: the `fit`'s params (or None): steps per epoch x epochs.

    Raises:
        ValueError: none of them tells it (an unsized dataset).
    """
    if total_steps is not None:
        return total_steps
    if schedule_total_steps is not None:
        return schedule_total_steps
    steps = (params or {}).get("steps")
    epochs = (params or {}).get("epochs")
    if not steps or not epochs:
        raise ValueError(
            "AutoLR cannot tell the training budget: `fit` does not know "
            "the steps per epoch of this dataset (an endless or unsized "
            "dataset). Pass `steps_per_epoch` to `fit`, or "
            "`total_steps` to `AutoLR`. "
            f"Received steps per epoch={steps!r}, epochs={epochs!r}"
        )
    return int(steps) * int(epochs)


def other_lr_setter(callback, fit_callbacks, model, driven):
    """The error when another callback of the `fit` sets the same LR, else None.

    A `ReduceLROnPlateau` or `LearningRateScheduler` sets the model's
    optimizer's learning rate: refused when AutoLR drives that optimizer.

    Args:
        callback: the `AutoLR` (named in the message).
        fit_callbacks: the callbacks of the `fit`, or None when unknown.
        model: the model.
        driven: the optimizers AutoLR drives.
    """
    other = siblings.first(fit_callbacks, siblings.LR_SETTERS)
    model_optimizer = _keras.optimizer_of(model)
    if other is None or not any(o is model_optimizer for o in driven):
        return None
    name = type(other).__name__
    return ValueError(
        f"AutoLR and {name} are in the same `fit`, and both would set the "
        f"learning rate of {type(model_optimizer).__name__}"
        f" (Keras would raise a TypeError when {name} first sets it, "
        "since the learning rate is now AutoLR's schedule). Pass one of "
        "them: AutoLR already decays the learning rate to 0 by the end "
        "of the budget. The optimizer's own learning rate was put back. "
        f"Received callbacks {callback!r} and {other!r}"
    )


def learning_rate_scales_weights(driven):
    """The error when an optimizer's weights scale with its LR (FTRL), else None.

    FTRL-Proximal computes each weight in closed form from its accumulators,
    times the learning rate (Keras' `Ftrl`: `(clip(linear) - linear) / quadratic`
    with `quadratic = accum ** -lr_power / lr + 2 * l2`): the LR is not a step
    size, and the decay to 0 at the end of the budget would set every weight
    to 0. Measured on the digits MLP: the loss fell to 0.55 after the switch,
    then rose back to 2.29 (chance) as the LR decayed.

    Args:
        driven: the optimizers AutoLR drives.
    """
    for optimizer in driven:
        if any(kind.__name__ == "Ftrl" for kind in type(optimizer).__mro__):
            return ValueError(
                "AutoLR cannot drive Ftrl: FTRL computes each weight from its "
                "accumulators times the learning rate, so AutoLR's decay of the "
                "learning rate to 0 would set every weight to 0. Train Ftrl "
                "with a constant learning rate, or use another optimizer "
                "(Adam, AdamW, SGD, RMSprop, Lamb) with AutoLR. The "
                "optimizer's own learning rate was put back. Received "
                f"optimizer={optimizer!r}")
    return None


def tensorboard_missing(fit_callbacks):
    """An `ImportError` when Keras' TensorBoard callback cannot write, else None.

    TensorFlow 2.21 no longer installs TensorBoard, and Keras' `TensorBoard`
    callback fails only when it first writes a scalar, after training has
    begun. AutoLR's own scalars need no TensorBoard package (they go through
    `tf.summary.write`), so this is checked only for a `TensorBoard` in the
    same `fit`, before the first step.
    """
    if not any(type(each) is _keras.keras.callbacks.TensorBoard
               for each in fit_callbacks or ()):
        return None
    try:
        import tensorboard  # noqa: F401 (only whether it imports)
    except ImportError:
        return ImportError(
            "keras.callbacks.TensorBoard in this `fit` needs the tensorboard "
            "package, which TensorFlow 2.16+ no longer installs: "
            "pip install tensorboard (or pip install keras_autolr[tensorboard]). "
            "AutoLR stopped before training, with the model unchanged.")
    return None


def trained_without_autolr(optimizer):
    """The error when AutoLR would take over an optimizer that has stepped, else None.

    The schedule counts the optimizer's steps from 0: on an optimizer that
    trained `N` steps without it (an earlier `fit`, or a model loaded with
    its optimizer), this `fit` would start `N` steps into the sweep, at an
    LR far above the optimizer's own, and a first `fit` longer than this one
    would leave no budget at all (the digits MLP, 110 steps of Adam and then
    `fit(epochs=10, callbacks=[AutoLR()])`: 9.8 % against 89.4 % without
    AutoLR). Call it before the learning rate is replaced.

    None too when the optimizer was restored from a TensorFlow checkpoint
    that holds AutoLR's decision, still to be placed (Keras 2's
    `load_weights`, `tf.train.Checkpoint`): a resumed AutoLR run.
    """
    # `.numpy()`: a tf.distribute variable (Keras 2 under a strategy) has no
    # NumPy `__array__`.
    steps = int(_keras.step_counter(optimizer).numpy())
    if steps == 0 or _keras.restore_pending(optimizer, schedule_state.ATTRIBUTE):
        return None
    return ValueError(
        "AutoLR's schedule counts the optimizer's steps from 0, and this "
        f"{type(optimizer).__name__} has taken {steps} steps without "
        "AutoLR (an earlier `fit`, or a model loaded with its optimizer): "
        f"the sweep would start {steps} steps in, far above the optimizer's "
        "own learning rate. To train on with AutoLR, compile the model "
        "with a new optimizer (`model.compile(optimizer=..., loss=...)` "
        "keeps the weights): AutoLR sweeps from its step 0. The optimizer "
        "and the weights are unchanged. Received "
        f"optimizer.iterations={steps}")


def optimizer_not_stepped(optimizers, start_iterations):
    """The error when an optimizer did not step in the first step, else None.

    Args:
        optimizers: the optimizers AutoLR drives.
        start_iterations: their step counters when the `fit` started.
    """
    for optimizer, before in zip(optimizers, start_iterations):
        after = int(_keras.step_counter(optimizer).numpy())
        if after > before:
            continue
        return ValueError(
            f"AutoLR sets the learning rate of {type(optimizer).__name__}, "
            "but it did not take a step in the first training step of "
            "this `fit`: the model trains with other optimizers (a custom "
            "`train_step`), so AutoLR's schedule would drive nothing. "
            f"{OPTIMIZER_HINT} The optimizer's own learning rate was put back. "
            f"Received optimizer={optimizer!r} with iterations {before} "
            f"before the step and {after} after it"
        )
    return None


def warn_if_too_short(controller, schedule, stacklevel=2):
    """Warns when no test fits before the warmup cap: warmup ends at the cap.

    Only at the start of a sweep that has recorded nothing yet. The warning
    names the caller's line.

    Args:
        controller: the `WarmupController` of this `fit`.
        schedule: the `AutoLRSchedule` the optimizers read.
        stacklevel: int. The frame the warning names, counted as by
            `warnings.warn` called here: 2 (default) is the caller's.
    """
    if not controller.sweep:
        return
    first = max(controller.next_test, MIN_FINITE_LOSSES)
    cap = schedule.warmup_steps
    if controller.warming_up and controller.record.n_steps == 0 and first >= cap:
        warnings.warn(
            f"AutoLR: the budget is too short for a test: the first test "
            f"is due at step {first}, but the warmup cap is step {cap} "
            f"(max_warmup_fraction x {schedule.total_steps} steps). "
            "Warmup will end at the cap. Train for more steps, or lower "
            "check_every.", UserWarning, stacklevel=stacklevel)


def finite_at_end(snapshot, stacklevel):
    """At the end of training: non-finite weights are replaced by the
    newest copy in `snapshot` (a `SnapshotRing`; its copies are finite),
    with a warning `stacklevel` frames above the caller. Never leave
    non-finite weights."""
    if snapshot.steps and not snapshot.weights_finite():
        step = snapshot.steps[-1]
        snapshot.restore(step)
        warnings.warn(
            "AutoLR: the weights were not finite at the end of training "
            f"and were restored from the copy of step {step}.",
            RuntimeWarning, stacklevel=stacklevel + 1)


def warn_fault(controller):
    """Warns after the controller's newest fault (`fault_message`), at the
    line of the engine that found it."""
    warnings.warn(fault_message(controller), RuntimeWarning, stacklevel=3)


def fault_message(controller):
    """The warning after the controller's newest fault: a non-finite loss,
    or a blow-up in the decay."""
    fault, action = controller.faults[-1]
    lowered, restored = lowered_peak(action), restored_copy(action)
    if lowered is not None:  # a blow-up in the decay (`_back_off`)
        old, new = (f"{peak:.6g}" for peak in lowered)
        ceiling = controller.decay_ceiling  # inf once the guard is spent
        height = (f"above {ceiling:.4g}, " if math.isfinite(ceiling) else "more than ")
        if restored is not None:
            what = (f"the weights and optimizer state were restored from step "
                    f"{restored}, and the decay's peak LR is lowered from {old} "
                    f"to {new}. Training goes on.")
        else:
            what = (f"the decay's peak LR is lowered from {old} to {new}; no copy "
                    "of the weights was put back, so the guard will not act "
                    "again. Training goes on.")
        if not math.isfinite(controller.record.values[fault]):  # `_decay_fault`
            how = (f"a non-finite loss after a loss {height}"
                   f"{DECAY_BLOWUP_DEPTHS:g} descent depths above where training began")
        else:
            how = (f"most of the newest executions {height}{DECAY_BLOWUP_DEPTHS:g} "
                   "descent depths above where training began")
        return f"AutoLR: the loss blew up in the decay at step {fault} ({how}); {what}"
    what = (f"the weights and optimizer state were restored from step "
            f"{restored} and training goes on" if restored is not None else
            "no snapshot was available (restore_on_fault=False)")
    return f"AutoLR: non-finite loss at step {fault}; {what}."
