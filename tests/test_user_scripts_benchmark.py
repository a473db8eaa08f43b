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
                           "digits-adagrad", "digits-adadelta", "digits-adafactor",
                           "digits-muon", "digits-sfadamw", "digits-multi"}
    assert {s.steps for s in others.values()} == {220}
    assert not any(s.grid for s in others.values())
    # Not the issue's scripts: its table keeps its own six.
    assert not set(others) & set(user_scripts_report.ISSUE_TABLE)


def test_the_other_optimizers_table_shows_each_gap_and_the_own_lr():
    runs = [dict(_run("digits-lion", "own", 0, 90.0), own_lr=1e-3, steps=220),
            dict(_run("digits-lion", "autolr", 0, 92.0), steps=220),
            dict(_run("digits-lion", "own", 1, 80.0), own_lr=1e-3, steps=220),
            dict(_run("digits-lion", "autolr", 1, 79.0), steps=220)]
    text = user_scripts_report.defaults_markdown(
        dict(runs=runs), user_scripts_report.OTHER_OPTIMIZERS)
    assert "| Lion (0.001), 220 | 85.0 | 85.5 | +0.5 | 220 / 220 | cap | 0.01 |" in text
    assert "Nadam" not in text  # no runs, no row


def test_the_early_stopping_scripts_fit_on_four_fifths_and_stop_early():
    scripts = {s.name: s for s in user_scripts_report.EARLY_STOPPING}
    assert set(scripts) == {"digits-es-adam", "digits-es-rmsprop"}
    # 1,120 digits after validation_split=0.2: 35 batches of 32, 40 epochs.
    assert {s.steps for s in scripts.values()} == {1400}
    assert all(s.early_stopping for s in scripts.values())
    runs = [dict(_run("digits-es-adam", "own", 0, 98.0), own_lr=1e-3, steps=1400),
            dict(_run("digits-es-adam", "autolr", 0, 97.0), steps=700),
            dict(_run("digits-es-adam", "autolr-esoff", 0, 95.5), steps=280)]
    text = user_scripts_report.defaults_markdown(dict(runs=runs), scripts.values(),
                                                 before="autolr-esoff")
    assert "| `autolr-esoff` | how warmup ended |" in text
    assert ("| Adam (0.001), 1400 | 98.0 | 97.0 | -1.0 | 1400 / 700 | 95.5 | cap "
            "| 0.01 |") in text


def test_the_fine_tuning_script_counts_both_fits():
    (script,) = user_scripts_report.FINE_TUNING
    # 1,491 digits 5-9 in batches of 64: 24 steps per epoch, 10 + 5 epochs.
    assert script.fine_tune_epochs == 5 and script.steps == 24 * 15


def test_the_tutorial_fine_tuning_differs_only_by_its_initial_epoch():
    (keras_io,) = user_scripts_report.FINE_TUNING
    (tutorial,) = user_scripts_report.FINE_TUNING_TF
    assert tutorial.initial_epoch and not keras_io.initial_epoch
    assert tutorial.steps == keras_io.steps == 24 * 15
    fields = ("data", "model", "optimizer", "batch_size", "epochs", "n_train",
              "fine_tune_epochs", "n_fit")
    assert [getattr(tutorial, f) for f in fields] == [getattr(keras_io, f) for f in fields]
    assert (user_scripts_report.FINE_TUNING_TF, "autolr-wholebudget") in \
        user_scripts_report.DEFAULTS_TABLES


def test_the_batch_norm_scripts_put_a_batch_norm_after_each_hidden_layer():
    import user_scripts

    scripts = {s.name: s for s in user_scripts_report.BATCH_NORM}
    assert {n: s.steps for n, s in scripts.items()} == {
        "digits-bn-sgd-x6": 132, "digits-bn-adam-x6": 132, "digits-bn-rmsprop-x6": 132,
        "digits-bn-sgd-x20": 440}
    model = user_scripts.build(scripts["digits-bn-sgd-x6"], seed=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "BatchNormalization", "Dense", "BatchNormalization", "Dense"]
    plain = user_scripts.build(user_scripts_report.SCRIPTS[0], seed=0)
    assert "BatchNormalization" not in [type(layer).__name__ for layer in plain.layers]


def test_the_forecast_windows_are_in_time_order_and_scored_as_r_squared():
    import numpy as np

    import user_scripts

    scripts = {s.name: s for s in user_scripts_report.FORECAST}
    assert {n: (s.optimizer, s.steps) for n, s in scripts.items()} == {
        "sine-lstm-rmsprop": ("rmsprop", 360), "sine-lstm-adam": ("adam", 360)}
    assert (user_scripts_report.FORECAST, "autolr-anycopy") in \
        user_scripts_report.DEFAULTS_TABLES
    split = user_scripts.load(scripts["sine-lstm-rmsprop"])
    window = user_scripts.SINE_WINDOW
    assert split.sizes == {"train": 9000, "val": 1000,
                           "test": user_scripts.SINE_LENGTH - window - 1 - 10000}
    assert split.x_train.shape == (9000, window, 1)
    # Each target is the value after its window: the next window's last value.
    np.testing.assert_array_equal(split.x_train[1:, -1, 0], split.y_train[:-1])
    np.testing.assert_array_equal(split.x_val[0, -1, 0], split.y_train[-1])
    # 100 x R^2: a model that predicts the test targets' mean scores 0.

    class Mean:
        def evaluate(self, x, y, **kwargs):
            return float(np.mean((y - np.mean(y)) ** 2))

    score = user_scripts._score(scripts["sine-lstm-rmsprop"], Mean(), split.x_test,
                                split.y_test)
    assert abs(score) < 1e-6
