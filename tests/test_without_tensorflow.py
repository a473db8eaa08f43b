"""The package without TensorFlow: Keras 3 on JAX or PyTorch (issue 24).

Each case runs a script in a fresh process on a backend other than
TensorFlow, with TensorFlow made unimportable (None in `sys.modules`, and
`tensorboard` too where a case says so), as on a machine where it was
never installed. CI's jax and
torch lanes, which have no TensorFlow at all, run the same cases.

- a `fit` with `AutoLR()`, its plot, `find_lr`, `replay`, the command line,
  AdamP and TensorBoard scalars run, and TensorFlow is never imported;
- the decision on one recorded loss curve is the same, to the bit, as on
  TensorFlow: the host math is the same code (SciPy's LAPACK, NumPy);
- on the TensorFlow backend with TensorFlow missing, and for `log_dir`
  without TensorFlow or TensorBoard, the errors name the `pip install`.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_autolr._keras import IS_KERAS_3

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(not IS_KERAS_3, reason="Keras 2 has only TensorFlow")

# Makes the named top-level packages unimportable, first thing in the process:
# `import` raises ModuleNotFoundError and `importlib.util.find_spec` gives None,
# as for a package never installed (None in `sys.modules`).
_BLOCK = """
import sys
for name in {blocked!r}:
    sys.modules[name] = None
"""

# A falling, then rising loss (a sweep past its best LR), as a fit records it.
_CURVE = """
import numpy as np
steps = np.arange(400)
rng = np.random.default_rng(0)
LOSSES = 2.0 - 1.5 * np.exp(-((steps - 250) / 120.0) ** 2) + 0.03 * rng.normal(size=400)
"""

_REPLAY = _CURVE + """
import json
import keras_autolr
decision = keras_autolr.replay(LOSSES, total_steps=800)
print(json.dumps({"switch_step": decision.switch_step,
                  "peak_lr": decision.peak_lr.hex() if decision.peak_lr else None,
                  "reason": decision.reason,
                  "probabilities": [[p.hex() for p in t.probabilities]
                                    for t in decision.tests]}))
"""


def _backend():
    """A backend other than TensorFlow that is installed here, or skip."""
    for name in ("torch", "jax"):
        if importlib.util.find_spec(name) is not None:
            return name
    pytest.skip("neither torch nor jax is installed here")


def _run(script, backend, blocked=("tensorflow",), check=True):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    code = _BLOCK.format(blocked=set(blocked)) + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=str(ROOT),
                          capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.mark.slow
def test_fit_plot_find_lr_replay_and_cli_never_import_tensorflow(tmp_path):
    script = _CURVE + textwrap.dedent(f"""
    import json, sys
    import numpy as np
    import keras
    import keras_autolr
    from keras_autolr.optimizers import AdamP
    from keras_autolr.tools import cli
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = (x / 16.0).astype("float32"), y.astype("int32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(AdamP(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    autolr = keras_autolr.AutoLR(verbose=0, log_dir={str(tmp_path / "logs")!r})
    history = model.fit(x, y, batch_size=64, epochs=9, verbose=0, callbacks=[autolr])
    figure = autolr.plot()
    found = keras_autolr.find_lr(model, x, y, batch_size=64)
    np.savetxt({str(tmp_path / "losses.txt")!r}, LOSSES)
    status = cli.main(["replay", {str(tmp_path / "losses.txt")!r}, "--total-steps", "800",
                       "--json"])
    print(json.dumps({{
        "switch_step": autolr.switch_step,
        "weights_finite": all(bool(np.isfinite(w.numpy()).all()) for w in model.weights),
        "logged_lr": history.history["learning_rate"],
        "axes": len(figure.axes), "suggestion": found.suggestion, "cli": status,
        "tensorflow": sorted(m for m, module in sys.modules.items()
                             if m.split(".")[0] == "tensorflow" and module is not None),
    }}))
    """)
    out = json.loads(_run(script, _backend()).stdout.strip().splitlines()[-1])
    assert out["tensorflow"] == []
    assert out["switch_step"] is not None and out["weights_finite"]
    assert out["logged_lr"][-1] == 0.0  # decayed to 0 at the end of the budget
    assert out["axes"] >= 2 and out["suggestion"] > 0 and out["cli"] == 0
    events = list((tmp_path / "logs" / "train").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0


def test_a_recorded_curve_gets_the_same_decision_without_tensorflow():
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("compares with TensorFlow, which is not installed")
    here = subprocess.run(
        [sys.executable, "-c", _REPLAY], cwd=str(ROOT), capture_output=True, text=True,
        timeout=600, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                              KERAS_BACKEND="tensorflow"))
    assert here.returncode == 0, here.stderr[-4000:]
    without = _run(_REPLAY, _backend())
    on_tf = json.loads(here.stdout.strip().splitlines()[-1])
    assert on_tf["switch_step"] is not None
    assert json.loads(without.stdout.strip().splitlines()[-1]) == on_tf


def test_the_tensorflow_backend_without_tensorflow_names_the_install():
    done = _run("import keras_autolr", "tensorflow", check=False)
    assert done.returncode != 0
    assert 'pip install "keras_autolr[tensorflow]"' in done.stderr
    assert "KERAS_BACKEND=jax" in done.stderr


def test_log_dir_without_tensorflow_or_tensorboard_fails_before_training():
    script = """
    import keras_autolr
    try:
        keras_autolr.AutoLR(log_dir="logs")
    except ImportError as error:
        print(error)
    """
    done = _run(script, _backend(), blocked=("tensorflow", "tensorboard"))
    assert "pip install tensorboard" in done.stdout
    assert "log_dir='logs" in done.stdout

