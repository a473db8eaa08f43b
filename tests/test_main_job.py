"""The README's main job: the rewind leaves no loss spike after the switch (issue 11)."""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

import mnist_autolr  # noqa: E402


@pytest.mark.slow
def test_the_main_job_rewinds_and_its_loss_never_doubles_after_the_switch(
        tmp_path, capsys):
    plot = tmp_path / "main.png"
    assert mnist_autolr.main(["--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "warmup length:" in out and "peak LR:" in out
    assert "test accuracy:" in out and plot.exists()
    accuracy = float(out.split("test accuracy:")[1].split()[0])
    assert accuracy > 0.9
    ratio = float(out.split("highest loss after the switch:")[1].split("x")[0])
    assert np.isfinite(ratio) and ratio <= 2.0
