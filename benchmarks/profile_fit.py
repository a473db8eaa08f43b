"""Where AutoLR's `fit` spends its time, by function (cProfile).

    KERAS_BACKEND=jax python benchmarks/profile_fit.py [--width 4096] [--steps 200]

The wide MLP of benchmarks/speed.py's snapshot measurement (54.6M
parameters with Adam at the default width): one warmup-cosine `fit` first,
so compilation is paid once, then one with warmup-cosine and one with
`AutoLR()` under cProfile, each in the same process. Prints the two wall
times and AutoLR's functions by their own and cumulative time. A tool to
find a cost, not a result: benchmarks/speed.py and backend_speed.py measure.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import keras_autolr  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
import speed  # noqa: E402


def fit(kind, width, steps, batch_size=256, inputs=1024, peak=0.001):
    model = speed._wide_mlp(width, 4, inputs)
    rng = np.random.default_rng(0)
    per_epoch = 25
    x = rng.normal(size=(per_epoch * batch_size, inputs)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(inputs, 10)), axis=1)
    callbacks = []
    if kind == "autolr":
        optimizer = keras.optimizers.Adam()
        callbacks = [keras_autolr.AutoLR(verbose=0)]
    else:
        warm = max(1, steps // 8)
        optimizer = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            0.0, steps - warm, warmup_target=peak, warmup_steps=warm))
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch_size, epochs=max(1, steps // per_epoch),
              verbose=0, callbacks=callbacks)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--top", type=int, default=35)
    args = parser.parse_args()
    print("warmup (compiles)", round(fit("cosine", args.width, args.steps), 2), "s")
    print("cosine", round(fit("cosine", args.width, args.steps), 2), "s")
    profile = cProfile.Profile()
    profile.enable()
    seconds = fit("autolr", args.width, args.steps)
    profile.disable()
    print("autolr (profiled)", round(seconds, 2), "s")
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(key).print_stats(args.top)
        print("\n".join(line[:160] for line in out.getvalue().splitlines()[6:]))
    print("cosine again", round(fit("cosine", args.width, args.steps), 2), "s")


if __name__ == "__main__":
    main()
