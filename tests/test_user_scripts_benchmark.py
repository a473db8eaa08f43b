"""The user-scripts benchmark's design and tables (benchmarks/user_scripts.py)."""

import os
import sys

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import user_scripts_report  # noqa: E402


def test_the_scripts_have_the_budgets_of_the_issue():
    steps = {s.name: s.steps for s in user_scripts_report.SCRIPTS}
    assert steps == {"digits-rmsprop": 22, "mnist-rmsprop": 47, "cnn-sgd": 80,
                     "cnn-adam": 112, "guide-steps": 45, "guide-validation": 47}
    assert set(user_scripts_report.ISSUE_TABLE) == set(steps)
    guide = {s.name: s for s in user_scripts_report.SCRIPTS if s.tf_data}
    assert guide["guide-steps"].steps_per_epoch == 15
    assert guide["guide-validation"].validation_steps == 10
    assert {s.name for s in user_scripts_report.SCRIPTS if s.grid} == {"cnn-sgd", "cnn-adam"}


def _run(script, contender, seed, score, lr=None, val=None):
    record = dict(script=script, seed=seed, contender=contender, lr=lr,
                  test_score=score, val_score=score if val is None else val)
    if contender == "autolr":
        record["autolr"] = dict(switch_step=10, peak_lr=0.01, reason="cap",
                                restored_step=3)
    return record


def test_the_grid_is_tuned_on_validation_and_the_table_shows_the_gap():
    runs = [_run("cnn-adam", "own", 0, 90.0), _run("cnn-adam", "autolr", 0, 93.0),
            _run("cnn-adam", "autolr-before", 0, 80.0),
            _run("cnn-adam", "grid", 0, 99.0, lr=0.01, val=50.0),  # best on test only
            _run("cnn-adam", "grid", 0, 95.0, lr=0.03, val=60.0)]
    table = user_scripts_report.summarize(dict(runs=runs))
    assert table["cnn-adam"]["grid"] == 95.0 and table["cnn-adam"]["grid_lr"] == 0.03
    text = user_scripts_report.markdown(dict(runs=runs, updated="2026-12-05"))
    assert "| 90.0 | 93.0 | +3.0 | 80.0 | 95.0 (0.03) | 92.5 / 95.1 / 96.4 | cap |" in text
    assert "mean +3.0, worst +3.0 (1 script)" in text


def test_the_other_keras_optimizers_run_the_guides_mlp_at_their_defaults():
    others = {s.name: s for s in user_scripts_report.OTHER_OPTIMIZERS}
    assert set(others) == {"digits-lion", "digits-nadam", "digits-adamax",
                           "digits-adagrad", "digits-adadelta", "digits-adafactor"}
    assert {s.steps for s in others.values()} == {220}
    assert not any(s.grid for s in others.values())
    # Not the issue's scripts: its table keeps its own six.
    assert not set(others) & set(user_scripts_report.ISSUE_TABLE)


def test_the_other_optimizers_table_shows_each_gap_and_the_own_lr():
    runs = [dict(_run("digits-lion", "own", 0, 90.0), own_lr=1e-3),
            _run("digits-lion", "autolr", 0, 92.0),
            dict(_run("digits-lion", "own", 1, 80.0), own_lr=1e-3),
            _run("digits-lion", "autolr", 1, 79.0)]
    text = user_scripts_report.other_optimizers_markdown(dict(runs=runs))
    assert "| Lion (0.001) | 85.0 | 85.5 | +0.5 | cap | 0.01 |" in text
    assert "Nadam" not in text  # no runs, no row
