"""One AutoLR fit of a digits MLP on the backend of `KERAS_BACKEND`; prints JSON.

Run by tests/test_backends.py in a fresh process (one backend per process):

    KERAS_BACKEND=jax python tests/backend_scripts/digits_fit.py '{"form": "zero"}'

Options (a JSON object, all optional): `form` "zero" (`AutoLR()` replaces
SGD's LR) or "pair" (an `AutoLRSchedule` given to SGD and to `AutoLR`),
`steps_per_execution` (1), `jit_compile` ("auto"), `epochs` (10),
`data_parallel` (false; JAX: `keras.distribution.DataParallel` over every
device, the first 1,792 digits so that each batch splits evenly), `logs`
(false; AutoLR's TensorBoard scalars and a `CSVLogger`, in a temporary
directory, and `AutoLR.plot()`).

The model carries a probe: a scalar weight `b` added to the loss (scaled), whose
gradient is the constant `PROBE_SCALE` at every step, so plain SGD moves it
by minus that times the LR the compiled step applied. Its value at each epoch end is printed with the
step counter and the decision; the test checks the sum of the LRs against
the schedule's formula, rewind included.
"""

import csv
import json
import os
import sys
import tempfile

import keras
import keras_autolr


PROBE_SCALE = 2.0 ** -10  # small: the probe barely moves the loss AutoLR sees


class LossProbe(keras.layers.Layer):
    """Adds `PROBE_SCALE * b` to the loss: d loss / d b is that constant."""

    def build(self, input_shape):
        self.b = self.add_weight(shape=(), initializer="zeros", name="b")

    def call(self, x):
        self.add_loss(PROBE_SCALE * keras.ops.convert_to_tensor(self.b))
        return x


class EpochEnds(keras.callbacks.Callback):
    """The probe and the step counter at each epoch end (state already synced)."""

    def __init__(self):
        super().__init__()
        self.b, self.steps = [], []

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        self.b.append(float(keras.ops.convert_to_numpy(model.get_layer("probe").b)))
        self.steps.append(int(keras.ops.convert_to_numpy(model.optimizer.iterations)))


def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype("float32"), y.astype("int32")


def build_model(optimizer, steps_per_execution=1, jit_compile="auto"):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        LossProbe(name="probe"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    return model


def main(options):
    x, y = digits()
    if options.get("data_parallel"):
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        x, y = x[:1792], y[:1792]
    log_dir = tempfile.mkdtemp() if options.get("logs") else None
    if options.get("form", "zero") == "pair":
        schedule = keras_autolr.AutoLRSchedule(min_lr=0.01)
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
        autolr = keras_autolr.AutoLR(schedule=schedule, verbose=0, log_dir=log_dir)
    else:
        optimizer = keras.optimizers.SGD(0.01)
        autolr = keras_autolr.AutoLR(verbose=0, log_dir=log_dir)
    model = build_model(optimizer, options.get("steps_per_execution", 1),
                        options.get("jit_compile", "auto"))
    ends = EpochEnds()
    callbacks = [autolr, ends]
    if log_dir is not None:
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(log_dir, "log.csv")))
    history = model.fit(x, y, batch_size=64, epochs=options.get("epochs", 10),
                        shuffle=False, verbose=0, callbacks=callbacks)
    logs = {}
    if log_dir is not None:
        with open(os.path.join(log_dir, "log.csv")) as f:
            logs["csv_learning_rate"] = [float(row["learning_rate"])
                                         for row in csv.DictReader(f)]
        logs["event_files"] = [name for _, _, names in os.walk(log_dir)
                               for name in names if "tfevents" in name]
        import matplotlib

        matplotlib.use("Agg")
        logs["plot_axes"] = len(autolr.plot().axes)  # the schedule on the host
    schedule = autolr.schedule
    controller = autolr.controller
    print(json.dumps({
        "backend": keras.backend.backend(),
        "devices": (len(keras.distribution.list_devices())
                    if options.get("data_parallel") else 1),
        "switch_step": autolr.switch_step,
        "peak_lr": autolr.peak_lr,
        "restored_step": controller.restored_step,
        "schedule_switch_step": schedule.switch_step,
        "schedule_peak_lr": schedule.peak_lr,
        "total_steps": schedule.total_steps,
        "warmup_steps": schedule.warmup_steps,
        "min_lr": schedule.min_lr,
        "max_lr": schedule.max_lr,
        "probe_scale": PROBE_SCALE,
        "b": ends.b,
        "steps": ends.steps,
        "logged_lr": history.history.get("learning_rate"),
        "loss": history.history["loss"],
        **logs,
    }))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
