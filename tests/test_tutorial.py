"""examples/large_batch_tutorial.py: keras.io format, and it runs end to end offline."""

import ast
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "examples", "large_batch_tutorial.py")


def test_the_header_has_the_keras_io_fields():
    with open(TUTORIAL, encoding="utf-8") as handle:
        module = ast.parse(handle.read())
    header = ast.get_docstring(module)
    fields = dict(re.findall(r"^([A-Z][a-z]+(?: [a-z]+)?): (.+)$", header, re.M))
    assert set(fields) == {"Title", "Author", "Date created", "Last modified",
                           "Description", "Accelerator"}
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", fields["Date created"])
    # Markdown between the code cells: strings that open with a `## ` heading.
    texts = [node.value.value for node in module.body
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
             and isinstance(node.value.value, str)]
    headings = [t.strip().splitlines()[0] for t in texts if t.strip().startswith("## ")]
    assert "## Introduction" in headings and "## Seeing the decision" in headings


@pytest.mark.slow
def test_the_quick_tutorial_runs_offline_and_saves_the_decision_plot(tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("mlxtend")
    env = dict(os.environ, KERAS_AUTOLR_TUTORIAL_QUICK="1",
               KERAS_AUTOLR_TUTORIAL_OUT=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, TUTORIAL], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for name in ("LAMB, constant 1e-3", "LAMB + AutoLR"):
        assert name in out
    assert re.search(r"warmup ended at step \d+ \((detected|cap)\), peak LR", out)
    png = tmp_path / "autolr_decision.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 30000  # a drawn figure, not an empty canvas
