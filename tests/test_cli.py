"""`python -m keras_autolr replay`: the decision on a loss file, or a one-line error."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_autolr import replay
from keras_autolr.tools.cli import load_losses
from keras_autolr.tools.cli import main
from keras_autolr import Options
from tests.conftest import valley

T = 2000


@pytest.fixture(scope="module")
def losses():
    return valley(T)


@pytest.fixture(scope="module")
def expected(losses):
    return replay(losses, total_steps=T)


def _run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _write_text(path, losses):
    path.write_text("".join(f"{float(v)!r}\n" for v in losses))
    return path


def _write_csv_logger(path, losses):
    """The layout of `keras.callbacks.CSVLogger`: a header, one row per epoch."""
    rows = ["epoch,accuracy,loss"]
    rows += [f"{i},0.5,{float(v)!r}" for i, v in enumerate(losses)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_text_file_prints_the_decision_as_a_table(tmp_path, capsys, losses, expected):
    path = _write_text(tmp_path / "losses.txt", losses)
    status, out, err = _run(capsys, "replay", path, "--total-steps", T)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert f"warmup ends at step {expected.switch_step} (detected)" in lines[1]
    assert f"peak LR {expected.peak_lr:.4g}" in lines[1]
    rows = lines[3:]
    assert len(rows) == len(expected.tests)
    last = rows[-1].split()
    assert last[:3] == [str(len(expected.tests)), str(expected.switch_step),
                        f"{expected.tests[-1].probability:.3f}"]


def test_a_csv_logger_file_reads_its_loss_column(tmp_path, capsys, losses, expected):
    path = _write_csv_logger(tmp_path / "log.csv", losses)
    status, out, _ = _run(capsys, "replay", path, "--total-steps", T, "--json")
    assert status == 0
    decision = json.loads(out)
    assert decision["switch_step"] == expected.switch_step
    assert decision["peak_lr"] == pytest.approx(expected.peak_lr)
    assert decision["reason"] == "detected"
    assert [t["probability"] for t in decision["tests"]] == pytest.approx(
        expected.probabilities)


def test_a_npy_array_and_the_options_reach_replay(tmp_path, capsys, losses):
    path = tmp_path / "losses.npy"
    np.save(path, losses)
    status, out, _ = _run(capsys, "replay", path, "--total-steps", T, "--json",
                          "--check-every", 50, "--seed", 2)
    assert status == 0
    decision = json.loads(out)
    want = replay(losses, total_steps=T, options=Options(check_every=50, seed=2))
    assert decision["switch_step"] == want.switch_step
    assert [t["step"] for t in decision["tests"]] == [t.step for t in want.tests]


def test_nan_losses_and_csv_logger_na_become_null_free_json(tmp_path, capsys, losses):
    values = [repr(float(v)) for v in losses]
    values[3], values[7] = "nan", "NA"
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)))
    assert np.isnan(load_losses(path)[[3, 7]]).all()
    status, out, _ = _run(capsys, "replay", path, "--total-steps", T, "--json")
    assert status == 0 and "NaN" not in out
    json.loads(out)


def test_plot_writes_a_png(tmp_path, capsys, losses):
    pytest.importorskip("matplotlib")
    path = _write_text(tmp_path / "losses.txt", losses)
    png = tmp_path / "decision.png"
    status, out, _ = _run(capsys, "replay", path, "--total-steps", T, "--plot", png)
    assert status == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(png) > 20000
    assert out.splitlines()[-1] == f"plot written to {png}"


@pytest.mark.parametrize("name, content, total, problem", [
    ("log.csv", "epoch,accuracy\n0,0.5\n1,0.6\n", 100, "no column 'loss'"),
    ("log.csv", "epoch,loss\n0,2.3\n1,abc\n", 100, "line 3: 'abc' in column 'loss' is not a number"),
    ("losses.txt", "2.3\n2.2\nfast\n", 100, "line 3: 'fast' is not a number"),
    ("empty.txt", "", 100, "contains no losses (empty file)"),
    ("header.csv", "epoch,loss\n", 100, "a header row only"),
    ("missing.txt", None, 100, "no such file"),
    ("losses.txt", "2.3\n2.2\n", -5, "--total-steps: must be a positive integer, received -5"),
    ("losses.txt", "2.3\n2.2\n", "many", "--total-steps: must be a positive integer"),
    ("two.txt", "2.3,1\n2.2,1\n", 100, "2 fields and the file has no header"),
    ("short.csv", "epoch,acc,loss\n0,1,2.0\n1,1\n", 100, "line 3 has 2 fields"),
])
def test_a_malformed_input_fails_with_one_line_naming_the_problem(
        tmp_path, capsys, name, content, total, problem):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    status, out, err = _run(capsys, "replay", path, "--total-steps", total)
    assert status != 0
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert problem in err
    assert "Traceback" not in err


def test_bad_npy_files_fail_with_one_line(tmp_path, capsys):
    (tmp_path / "text.npy").write_text("not numpy")
    np.save(tmp_path / "matrix.npy", np.ones((3, 4)))
    np.save(tmp_path / "empty.npy", np.zeros(0))
    for name, problem in [("text.npy", "not a NumPy .npy array"),
                          ("matrix.npy", "shape (3, 4)"),
                          ("empty.npy", "contains no losses")]:
        status, _, err = _run(capsys, "replay", tmp_path / name, "--total-steps", 10)
        assert status == 1 and problem in err and err.count("\n") == 1


def test_an_option_replay_refuses_is_one_line_too(tmp_path, capsys):
    path = _write_text(tmp_path / "losses.txt", [2.0] * 20)
    status, _, err = _run(capsys, "replay", path, "--total-steps", 100,
                          "--check-every", "epoch")
    assert status == 2 and "steps_per_epoch" in err and err.count("\n") == 1
    status, _, err = _run(capsys, "replay", path, "--total-steps", 100,
                          "--min-lr", "2", "--max-lr", "1")
    assert status == 2 and err.count("\n") == 1


def test_python_dash_m_runs_the_cli_without_a_traceback(tmp_path, losses):
    path = _write_text(tmp_path / "losses.txt", losses[:300])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-m", "keras_autolr", "replay", str(path), "--total-steps",
         str(T), "--json"], capture_output=True, text=True, env=env)
    assert done.returncode == 0
    assert json.loads(done.stdout)["switch_step"] is None  # still warming up
    failed = subprocess.run(
        [sys.executable, "-m", "keras_autolr", "replay", str(tmp_path / "nope.csv"),
         "--total-steps", "10"], capture_output=True, text=True, env=env)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    # TensorFlow may log while importing; the command's own line comes last.
    assert failed.stderr.strip().splitlines()[-1].endswith("nope.csv: no such file")


def test_the_console_script_entry_point_is_main():
    from keras_autolr import __main__

    assert __main__.main is main
