"""The docs' examples run, every example is shown, and the README keeps its front-page shape."""

import glob
import importlib.util
import os
import re
import subprocess
import sys

import pytest

from keras_autolr import _keras
from keras_autolr._keras import IS_KERAS_3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "docs", "examples", "*.py")))
FRESH_MACHINE_COMMANDS = [
    'python3.11 -m venv .venv && . .venv/bin/activate && pip install -e ".[examples]" '
    "&& python examples/mnist_autolr.py",
    'pip install -e ".[tests]" && python -m pytest',
]


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _docs_pages():
    return {path: _read(path)
            for path in glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True)}


def test_there_are_examples():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_every_example_is_included_by_a_docs_page(path):
    snippet = f'--8<-- "docs/examples/{os.path.basename(path)}"'
    including = [page for page, text in _docs_pages().items() if snippet in text]
    assert including, f"no page under docs/ includes {snippet}"


def test_every_included_example_exists():
    for page, text in _docs_pages().items():
        for name in re.findall(r'--8<-- "(docs/examples/[^"]+)"', text):
            assert os.path.exists(os.path.join(ROOT, name)), f"{page} includes {name}"


def test_readme_is_a_front_page_with_the_fresh_machine_commands():
    readme = _read(os.path.join(ROOT, "README.md"))
    lines = readme.splitlines()
    assert len(lines) <= 200
    # The first fenced bash block is the fresh-machine block, on the first screen.
    start = lines.index("```bash")
    assert start < 25
    end = lines.index("```", start + 1)
    block = [line for line in lines[start + 1:end] if line and not line.startswith("#")]
    assert block == FRESH_MACHINE_COMMANDS


def test_readme_names_no_private_module():
    readme = _read(os.path.join(ROOT, "README.md"))
    assert "._" not in re.sub(r"\(docs/[^)]*\)|https?://\S+", "", readme)
    assert "StateFileError" not in readme


@pytest.mark.slow
@pytest.mark.skipif(not IS_KERAS_3, reason="the guide's examples are Keras 3 code "
                    "(keras.optimizers.Lamb, keras.ops); the legacy lane has Keras 2")
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_runs(path, tmp_path):
    source = _read(path)
    if _keras.tf is None and importlib.util.find_spec("tensorflow") is None and (
            "import tensorflow" in source or "keras.callbacks.TensorBoard" in source):
        pytest.skip("a TensorFlow example (tf.GradientTape, tf.distribute, or "
                    "Keras' TensorBoard callback, which writes through tf.summary)")
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, path], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (
        f"{os.path.basename(path)} exited {done.returncode}\n"
        f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
