"""A NaN loss mid-warmup, restored from a snapshot, on the backend of `KERAS_BACKEND`.

As tests/test_divergence.py on TensorFlow, run by tests/test_backends.py:
a digits MLP with Adam and `AutoLR()`, fed by a generator whose batch
number `NAN_STEP` (counted over the whole fit) has NaN sample weights, so
that step's loss and gradients are NaN, and the weights with them. Prints JSON: the warnings
given, the faults and the decision, whether the weights are finite at the
end, and the last epoch's loss.
"""

import json
import warnings

import numpy as np

import keras
import keras_autolr
from digits_fit import digits
from tests import _training

EPOCHS, BATCH, STEPS_PER_EPOCH = 12, 64, 22  # 1,408 digits, 264 steps
NAN_STEP = 30  # mid-warmup: the second epoch


def main():
    # digits_fit's digits, unshuffled: 1,408 of them (tests/_training's train split
    # has 1,400, not a whole number of batches).
    x, y = digits()
    x, y = x[:STEPS_PER_EPOCH * BATCH], y[:STEPS_PER_EPOCH * BATCH]
    # The loss alone, as this fit always ran: no accuracy, which nothing reads.
    model = _training.compile_digits(_training.mlp(), keras.optimizers.Adam(), metrics=None)
    autolr = keras_autolr.AutoLR(verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(_training.nan_weight_batches(x, y, BATCH, NAN_STEP),
                            steps_per_epoch=STEPS_PER_EPOCH,
                            epochs=EPOCHS, verbose=0, callbacks=[autolr])
    decision = autolr.decision
    print(json.dumps({
        "backend": keras.backend.backend(),
        "nan_step": NAN_STEP,
        "warnings": [str(w.message) for w in caught
                     if issubclass(w.category, RuntimeWarning)],
        "faults": [list(fault) for fault in decision.faults],
        "switch_step": decision.switch_step,
        "reason": decision.reason,
        "warmup_steps": decision.warmup_steps,
        "min_lr": autolr.schedule.min_lr,
        "max_lr": autolr.schedule.max_lr,
        "record_steps": len(autolr.record.loss),
        "weights_finite": all(bool(np.isfinite(keras.ops.convert_to_numpy(w)).all())
                              for w in model.weights),
        "epoch_losses": history.history["loss"],
    }))


if __name__ == "__main__":
    main()
