"""`AutoLRSchedule`'s LR at a few steps on the backend of `KERAS_BACKEND`; prints JSON.

Run by tests/test_backends.py, which compares the values with the formulas
of tests/test_schedule.py: every warmup and decay, before and after a
switch, called eagerly and, on JAX, inside `jax.jit`.
"""

import json
import sys

import numpy as np

import keras
import keras_autolr


def main(steps):
    out = {"backend": keras.backend.backend(), "values": {}}
    for warmup in ("exponential", "linear"):
        for decay in ("cosine", "linear", "constant_then_cosine"):
            for switched in (False, True):
                schedule = keras_autolr.AutoLRSchedule(
                    total_steps=1000, warmup=warmup, decay=decay)
                if switched:
                    schedule.switch(300, 0.02)
                t = keras.ops.convert_to_tensor(np.asarray(steps, "int32"))
                calls = {"eager": schedule}
                if keras.backend.backend() == "jax":
                    import jax

                    calls["jit"] = jax.jit(schedule)
                for how, call in calls.items():
                    key = f"{warmup}/{decay}/{switched}/{how}"
                    out["values"][key] = np.asarray(
                        keras.ops.convert_to_numpy(call(t)), np.float64).tolist()
    print(json.dumps(out))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
