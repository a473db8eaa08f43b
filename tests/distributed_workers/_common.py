"""What the distributed test workers share: data, model, results.

The workers run as separate processes (`python tests/distributed_workers/...`),
started by `tests/test_distributed_*.py`, so that logical devices and
multi-worker collectives never touch the pytest process.
"""

import hashlib
import json
import os

import numpy as np

GLOBAL_BATCH = 64
STEPS_PER_EPOCH = 24  # 1536 digits / 64
EXAMPLES = GLOBAL_BATCH * STEPS_PER_EPOCH

# Small and fast: a short budget, a test every 4 steps, small GP shapes.
SCHEDULE = dict(min_lr=1e-3, max_lr=300.0)
# The paper's test, without the descent guard: these runs check that workers
# agree on a detected switch, and with this small GP the guard holds every
# seed back to the cap (the guard is tested in test_descent_guard.py).
DETECTOR = dict(check_every=4, fit_points=50, predict_points=100,
                grid_points=100, require_descent=False)  # keras_autolr.Options fields

# Steps whose loss is read 1e4 times too high (`--poison-seeds`): past the
# warmup cap (36 of 72 steps), 5 steps, so 3 of 5 executions in a row.
POISONED = (54, 59)


def digits():
    """The first 1536 scikit-learn digits, scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.data[:EXAMPLES] / 16.0).astype("float32")
    y = data.target[:EXAMPLES].astype("int32")
    return x, y


def dataset(tf, repeat=False):
    """Digits in order (no shuffle), global batches of 64, sharded by data."""
    x, y = digits()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(GLOBAL_BATCH, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    return ds.with_options(options)


def make_model(keras, seed):
    """A 64-32-10 MLP with weights drawn from `seed`."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ])


def task_index():
    """This worker's index in TF_CONFIG (0 is the chief), or 0."""
    config = os.environ.get("TF_CONFIG")
    return json.loads(config)["task"]["index"] if config else 0


def hexes(values):
    """Floats as exact hex strings: equal strings mean equal bits."""
    return [float(v).hex() for v in np.asarray(values, np.float64).reshape(-1)]


def write(path, payload):
    with open(path + ".tmp", "w") as f:
        json.dump(payload, f)
    os.replace(path + ".tmp", path)


def weights_digest(model):
    """A hash of the model's weights, bit for bit."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(weight.tobytes())
    return digest.hexdigest()
