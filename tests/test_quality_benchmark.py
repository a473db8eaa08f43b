"""The quality benchmark's plumbing: one tiny study, its JSON and its report."""

import json
import os
import sys

import pytest

import keras_autolr

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import quality  # noqa: E402

RUN_KEYS = {
    "task", "batch_size", "seed", "contender", "run_id", "kind", "optimizer",
    "lr", "epochs", "steps", "steps_per_epoch", "test_accuracy", "test_loss",
    "val_accuracy", "val_loss", "final_train_loss", "wall_s", "warnings",
}


def test_contender_names_parse_to_optimizer_and_autolr_options():
    contender = quality.parse_contender("autolr-adam-steepest-f0.3")
    assert (contender.kind, contender.optimizer) == ("autolr", "adam")
    assert dict(contender.autolr_options) == {"peak": "steepest", "peak_factor": 0.3}
    paper = quality.parse_contender("autolr-paper").autolr_options
    assert keras_autolr.Options(**dict(paper)) == keras_autolr.PAPER
    assert dict(quality.parse_contender("autolr-norewind").autolr_options) == {
        "rewind": False}
    own = quality.parse_contender("own-lr-cosine-rmsprop")
    assert (own.kind, own.optimizer) == ("own", "rmsprop")
    assert quality.parse_contender("autolr").autolr_options == ()


@pytest.mark.parametrize("name", ["autolr", "autolr-norewind", "autolr-noguard-f0.5",
                                  "autolr-adam-steepest-f1-sweep", "autolr-nofloor"])
def test_canonical_names_round_trip_and_differ_when_options_differ(name):
    options = quality.parse_contender(name).resolved_options()
    canonical = quality.canonical_name(
        quality.parse_contender(name).optimizer, options)
    assert quality.parse_contender(canonical).resolved_options() == options


def test_stale_runs_of_different_options_get_different_names():
    # Old `autolr` and `autolr-norewind` runs, from a default peak_factor the
    # library no longer has: each keeps its own explicit name.
    runs = []
    for name in ("autolr", "autolr-norewind"):
        options = {**quality.parse_contender(name).resolved_options(),
                   "peak_factor": 0.123}
        runs.append(dict(contender=name, run_id=name, kind="autolr", optimizer="lamb",
                         task="digits", batch_size=64, seed=0,
                         autolr=dict(options=options)))
    contenders = [quality.parse_contender(n) for n in ("autolr", "autolr-norewind")]
    quality._relabel_stale(runs, contenders)
    assert [r["contender"] for r in runs] == [
        "autolr-min-f0.123", "autolr-min-f0.123-norewind"]
    assert [r["relabelled_from"] for r in runs] == ["autolr", "autolr-norewind"]


def test_unknown_contender_is_rejected_with_its_name():
    with pytest.raises(ValueError, match="autolr-sgd"):
        quality.parse_contender("autolr-sgd")


def test_grid_contender_costs_one_run_per_learning_rate():
    runs = quality.parse_contender("grid").runs([0.01, 0.1])
    assert runs == [("grid@0.01", 0.01), ("grid@0.1", 0.1)]


def test_batches_option_sets_every_task_or_one():
    batches = quality.parse_batches(["64,128", "digits=32"], ["digits", "mnist"], False)
    assert batches == {"digits": [32], "mnist": [64, 128]}


@pytest.mark.slow
def test_tiny_study_writes_json_markdown_and_plot(tmp_path):
    argv = ["--tasks", "digits", "--batches", "600", "--seeds", "0",
            "--contenders", "autolr,autolr-paper,grid,constant",
            "--grid", "0.01,0.1", "--epochs", "2", "--name", "tiny",
            "--out-dir", str(tmp_path)]
    assert quality.main(argv) == 0

    with open(tmp_path / "tiny.json") as f:
        results = json.load(f)
    assert {"schema", "machine", "versions", "started", "finished", "config",
            "tasks", "runs"} <= set(results)
    assert {"tensorflow", "keras", "numpy", "keras_autolr"} <= set(results["versions"])
    assert results["tasks"]["digits"]["sizes"] == {"train": 1200, "val": 200, "test": 397}
    runs = {r["run_id"]: r for r in results["runs"]}
    assert set(runs) == {"autolr", "autolr-paper", "grid@0.01", "grid@0.1", "constant"}
    for run in runs.values():
        assert RUN_KEYS <= set(run)
        assert run["steps"] == 2 * 2  # ceil(1200 / 600) x 2 epochs
    assert {"switch_step", "peak_lr", "reason", "options"} <= set(runs["autolr"]["autolr"])
    # Two names for one configuration train once.
    if runs["autolr"]["autolr"]["options"] == runs["autolr-paper"]["autolr"]["options"]:
        assert runs["autolr-paper"].get("same_as") == "autolr"

    markdown = (tmp_path / "tiny.md").read_text()
    assert "| `grid` |" in markdown and "| `constant` |" in markdown
    assert (tmp_path / "tiny.png").stat().st_size > 0


@pytest.mark.slow
def test_resume_keeps_runs_and_adds_only_new_ones(tmp_path):
    base = ["--tasks", "digits", "--batches", "600", "--seeds", "0",
            "--epochs", "1", "--name", "parts", "--out-dir", str(tmp_path),
            "--no-report"]
    quality.main(base + ["--contenders", "constant"])
    first = json.loads((tmp_path / "parts.json").read_text())["runs"]
    quality.main(base + ["--contenders", "constant,plateau", "--resume"])
    runs = json.loads((tmp_path / "parts.json").read_text())["runs"]
    assert [r["run_id"] for r in runs] == ["constant", "plateau"]
    assert runs[0] == first[0]
