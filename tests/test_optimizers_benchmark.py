"""The optimizers benchmark's design and plumbing (benchmarks/optimizers.py)."""

import json
import math
import os
import sys

import numpy as np
import pytest

import keras_autolr
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras
from tests import _training

BENCHMARKS = os.path.join(os.path.dirname(__file__), "..", "benchmarks")
sys.path.insert(0, BENCHMARKS)

import _user_tasks  # noqa: E402
import optimizers  # noqa: E402

TRAIN = {"digits": 1200, "mnist": 3500, "teacher": 200_000, "transformer": 20_000,
         "conv1d": 20_000, "gru": 20_000, "friedman": 20_000, "chars": 20_000,
         "diabetes": 300, "blobs": 20_000, "boston": 406, "autompg": 312,
         "friedman2": 20_000, "counts": 20_000, "cancer": 469, "wine": 142}


def _steps(cell):
    return math.ceil(TRAIN[cell.task] / cell.batch_size) * cell.epochs


def test_the_split_is_by_task_and_every_optimizer_is_in_every_set():
    by_set = {which: [c for c in optimizers.CELLS if c.set == which]
              for which in (optimizers.DEVELOPMENT, optimizers.VALIDATION, optimizers.HOLDOUT)}
    assert sum(map(len, by_set.values())) == len(optimizers.CELLS)
    tasks = {optimizers.DEVELOPMENT: optimizers.DEVELOPMENT_TASKS,
             optimizers.VALIDATION: optimizers.VALIDATION_TASKS,
             optimizers.HOLDOUT: optimizers.HOLDOUT_TASKS}
    everyone = {"adam", "adamw", "sgd", "rmsprop", "lamb"}
    for which, cells in by_set.items():
        assert {c.task for c in cells} == set(tasks[which])
        assert {c.optimizer for c in cells} == everyone
    assert sum(map(len, tasks.values())) == len(set().union(*tasks.values()))  # disjoint
    assert set(_user_tasks.TASKS) == set(TRAIN)


def test_the_budgets_span_ten_to_two_thousand_steps_with_short_and_large_cells():
    steps = [_steps(c) for c in optimizers.CELLS]
    assert min(steps) <= 13 and 1500 <= max(steps) <= 2000
    for which in (optimizers.DEVELOPMENT, optimizers.VALIDATION):  # the two
        cells = [c for c in optimizers.CELLS if c.set == which]
        assert any(c.epochs == 1 and _steps(c) <= 100 for c in cells)  # keras.io size
        assert any(c.batch_size >= 1024 for c in cells)
        assert any(_steps(c) >= 1000 for c in cells)


def test_each_optimizer_starts_at_its_keras_default_learning_rate():
    assert optimizers.own_lr("adam") == pytest.approx(1e-3)
    assert optimizers.own_lr("sgd") == pytest.approx(1e-2)
    assert optimizers.own_lr("rmsprop") == pytest.approx(1e-3)
    assert float(optimizers.make_optimizer("sgd").momentum) == pytest.approx(0.9)
    grid = [lr for _, lr in optimizers.runs_of("grid", optimizers.CELLS[2])]
    assert len(grid) == 7 and grid[2] == pytest.approx(1e-2)  # SGD's own LR in it
    assert grid[0] == pytest.approx(1e-3) and grid[-1] == pytest.approx(1.0)


@pytest.mark.skipif(not hasattr(keras.optimizers, "MultiOptimizer"),
                    reason="keras.optimizers.MultiOptimizer is new in Keras 3.15")
def test_the_multi_optimizer_gives_adam_to_the_biases_at_one_lr():
    optimizer = optimizers.make_optimizer("multi", learning_rate=0.02)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    optimizer.build(model.trainable_variables)
    kernel, bias = model.trainable_variables
    assert isinstance(optimizer._optimizer_map(kernel), keras.optimizers.AdamW)
    for_bias = optimizer._optimizer_map(bias)  # Adam (a backend's subclass on torch)
    assert isinstance(for_bias, keras.optimizers.Adam)
    assert not isinstance(for_bias, keras.optimizers.AdamW)
    assert [float(np.asarray(o.learning_rate)) for o in optimizer.optimizers] == (
        pytest.approx([0.02, 0.02]))
    assert optimizers.own_lr("multi") == pytest.approx(1e-3)


def test_autolr_contender_names_map_to_options():
    assert optimizers.autolr_options("autolr") == keras_autolr.Options()
    assert optimizers.autolr_options("autolr-paper") == keras_autolr.PAPER
    assert optimizers.autolr_options("autolr-f0.6-nofloor") == keras_autolr.Options(
        peak_factor=0.6, own_lr_floor=False)
    with pytest.raises(ValueError, match="Received contender='autolr-fast'"):
        optimizers.autolr_options("autolr-fast")


def test_the_sequence_labels_follow_their_rules():
    x = np.array([[0, 1, 1, 2, 5], [3, 3, 2, 9, 0], [7, 8, 9, 10, 11]])
    np.testing.assert_array_equal(_user_tasks.most_frequent_of_four(x), [1, 3, 0])
    np.testing.assert_array_equal(_user_tasks.first_of_one_to_four(x), [0, 2, 0])
    quartiles = _user_tasks.ascending_quartile(np.array([[0, 1, 2, 3], [3, 2, 1, 0],
                                                         [0, 2, 1, 3], [1, 1, 1, 1]]))
    assert quartiles[0] == quartiles.max() and quartiles[1] == quartiles.min()


def test_the_rms_token_sets_the_factor_of_rmsprop_alone():
    assert optimizers.autolr_options("autolr-rms1.0", "rmsprop").peak_factor == 1.0
    assert optimizers.autolr_options("autolr-rms1.0", "adam") == keras_autolr.Options()
    assert optimizers.autolr_options("autolr-rms1.0") == keras_autolr.Options()
    assert optimizers.autolr_options("autolr-steepest-f1.0") == keras_autolr.Options(
        peak="steepest", peak_factor=1.0)


def _arrays(split):
    return [split.x_train, split.y_train, split.x_val, split.y_val, split.x_test, split.y_test]


def test_the_momentum_study_runs_its_own_cells_outside_the_three_sets():
    assert float(optimizers.make_optimizer("sgdplain").momentum) == 0.0
    assert float(optimizers.make_optimizer("rmspropm").momentum) == pytest.approx(0.9)
    assert optimizers.own_lr("sgdplain") == pytest.approx(optimizers.own_lr("sgd"))
    assert optimizers.own_lr("rmspropm") == pytest.approx(optimizers.own_lr("rmsprop"))
    assert {c.set for c in optimizers.MOMENTUM_CELLS} == {optimizers.MOMENTUM}
    assert not set(optimizers.MOMENTUM_CELLS) & set(optimizers.CELLS)
    # Each one's task and budget is a development cell's, with the other optimizer.
    development = {(c.task, c.batch_size, c.epochs) for c in optimizers.CELLS
                   if c.set == optimizers.DEVELOPMENT}
    assert all((c.task, c.batch_size, c.epochs) in development
               for c in optimizers.MOMENTUM_CELLS)


def test_the_huge_loss_study_runs_new_tasks_outside_the_three_sets():
    cells = optimizers.HUGELOSS_CELLS
    assert {c.set for c in cells} == {optimizers.HUGELOSS}
    seen = set(optimizers.DEVELOPMENT_TASKS + optimizers.VALIDATION_TASKS
               + optimizers.HOLDOUT_TASKS)
    assert not {c.task for c in cells} & seen
    assert {c.optimizer for c in cells} == {"adam", "adamw", "sgd", "rmsprop", "lamb"}
    assert all(100 <= _steps(c) <= 600 for c in cells)


@pytest.mark.parametrize("name", ["boston", "autompg", "friedman2", "counts", "cancer", "wine"])
def test_the_huge_loss_tasks_load_finite_data_of_the_stated_sizes(name):
    """autompg's last column is the car's name (NaN in mlxtend's array):
    kept, it made every input NaN."""
    task = _user_tasks.TASKS[name]
    split = task.load()
    assert len(split.x_train) == TRAIN[name]
    assert all(np.all(np.isfinite(a)) for a in _arrays(split))
    model = task.build_model(0)
    assert model.input_shape[-1] == split.x_train.shape[1]
    if task.regression:
        assert task.poisson == (name == "counts")
        assert (split.y_train.min() >= 0) == task.poisson
    else:
        assert model.output_shape[-1] == len(np.unique(split.y_train))


def test_the_nohuge_token_is_the_rule_before_the_huge_loss_rule_and_hugepast_is_the_rule():
    from tests.test_huge_loss import _replay

    library = _replay()
    with optimizers.study_patches("autolr-nohuge"):
        before = _replay()
    with optimizers.study_patches("autolr-nohuge-hugepast10"):
        study = _replay()
    assert library.peak_lr < 0.03 < 0.3 < before.peak_lr
    assert study.peak_lr == library.peak_lr
    assert _replay().peak_lr == library.peak_lr  # the patch is lifted


def test_the_noguard_and_guard1_tokens_are_the_library_before_the_guard_and_its_first_form():
    from tests.test_decay_guard import _switched

    with optimizers.study_patches("autolr-noguard"):
        controller, _ = _switched()
        assert controller.decay_ceiling == float("inf")
        assert controller._copies_on_path() == controller.snapshot_steps
        peak = controller.decay_peak_lr
        controller.observe([1e30])
        assert controller.faults == [] and controller.decay_peak_lr == peak
    controller, _ = _switched()  # the patch is lifted
    assert controller.decay_ceiling < float("inf")
    assert controller._copies_on_path() != controller.snapshot_steps
    with optimizers.study_patches("autolr-guard1"):  # the first form: one execution
        controller.observe([controller.decay_ceiling * 2.0])
        assert len(controller.faults) == 1
    controller.observe([controller.decay_ceiling * 2.0])
    assert len(controller.faults) == 1  # the library waits for 3 of 5


def test_the_held_out_tasks_load_their_data_as_described():
    chars = _user_tasks.load_chars()
    assert [len(a) for a in _arrays(chars)] == [20_000, 20_000, 2_000, 2_000, 2_000, 2_000]
    assert chars.x_train.shape[1] == _user_tasks.CONTEXT
    classes = len(_user_tasks.CHARS) + 1
    assert all(0 <= a.min() and a.max() < classes for a in _arrays(chars))
    assert len(np.unique(chars.y_train)) > 30  # text, not a constant
    ids = _user_tasks._char_ids()
    start = int(0.9 * len(ids))  # the test windows come from the last tenth
    text = ids[start:].tobytes()
    assert all(window.astype(np.int32).tobytes() in text for window in chars.x_test[:20])
    again = _user_tasks.load_chars()
    np.testing.assert_array_equal(chars.x_test, again.x_test)  # a fixed seed
    diabetes = _user_tasks.load_diabetes()
    assert [len(a) for a in _arrays(diabetes)] == [300, 300, 70, 70, 72, 72]
    blobs = _user_tasks.load_blobs()
    assert set(np.unique(blobs.y_train)) == set(range(6))
    assert blobs.x_train.shape == (20_000, 20)


@pytest.mark.skipif(not IS_KERAS_3, reason="the study runs on Keras 3")
def test_a_tiny_study_writes_its_runs_and_the_table(tmp_path, monkeypatch):
    cell = optimizers.Cell("digits", "adam", 600, 2)  # 4 steps
    monkeypatch.setattr(optimizers, "CELLS", (cell,))
    path = tmp_path / "tiny.json"
    argv = ["--contenders", "own,autolr", "--seeds", "0", "--results", str(path)]
    assert optimizers.main(argv) == 0
    runs = json.loads(path.read_text())["runs"]
    assert [r["contender"] for r in runs] == ["own", "autolr"]
    assert all(r["steps"] == 4 and r["set"] == optimizers.DEVELOPMENT for r in runs)
    assert all(0 <= r["test_score"] <= 100 for r in runs)
    assert runs[1]["autolr"]["reason"] == "short_budget"  # 4 steps: own LR kept
    table = (tmp_path / "tiny.md").read_text()
    assert "| digits adam b600 x2 (4) |" in table and "AutoLR - own" in table


def _points(losses):
    from keras_autolr.decision.controller import _Points

    points = _Points()
    points.extend(np.arange(len(losses), dtype=float), np.asarray(losses, float))
    return points


def test_the_blowup_study_finds_a_sustained_rise_above_the_start_only():
    descent = list(np.linspace(2.3, 0.5, 20))
    # Three points in a row above the start (2.3) and 2x the best median.
    assert optimizers._blowup_start(_points(descent + [3.0, 4.0, 5.0]), 2.0) == 20
    # One spike is not a blow-up; nor is a rise that stays below the start.
    assert optimizers._blowup_start(_points(descent + [9.0, 0.5, 0.5]), 2.0) is None
    assert optimizers._blowup_start(_points(descent + [1.6, 1.7, 1.8]), 2.0) is None
    # Above the start but under the factor times the best median.
    assert optimizers._blowup_start(_points(descent + [3.0, 4.0, 5.0]), 8.0) is None


def test_the_blowup_study_ends_warmup_early_and_only_inside_its_context():
    rng = np.random.default_rng(0)
    steps = 400
    losses = 2.3 - 1.5 * np.arange(steps) / 100 + 0.02 * rng.standard_normal(steps)
    losses[100:] = 2.3 * 4 + 0.02 * rng.standard_normal(steps - 100)  # the blow-up
    plain = keras_autolr.replay(losses, total_steps=steps)
    with optimizers.blowup_stop(2.0):
        stopped = keras_autolr.replay(losses, total_steps=steps)
    again = keras_autolr.replay(losses, total_steps=steps)
    assert stopped.reason == "diverged" and 100 < stopped.switch_step < 110
    assert plain.switch_step > stopped.switch_step
    assert (again.switch_step, again.reason) == (plain.switch_step, plain.reason)


def test_the_cap_median_study_takes_the_lr_of_a_narrow_dip_at_the_cap():
    rng = np.random.default_rng(0)
    # A plateau, a dip a few steps wide, then spikes (the loss blowing up):
    # the GP smooths the dip away; the running median keeps it.
    losses = 1.386 + 0.01 * rng.standard_normal(200)
    losses[150:155] = 1.25
    losses[155:] += 0.3 * np.abs(rng.standard_normal(45))
    assert optimizers._median_argmin(_points(losses)) in range(150, 155)
    steps = 400  # the cap is step 200
    plain = keras_autolr.replay(losses, total_steps=steps)
    with optimizers.cap_median("capmed"):
        median = keras_autolr.replay(losses, total_steps=steps)
    assert plain.reason == median.reason == "cap"
    schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
    dip = [keras_autolr.Options().peak_factor * float(schedule.warmup_lr(s))
           for s in (150, 155)]
    assert plain.peak_lr < dip[0] / 10
    assert dip[0] <= median.peak_lr <= dip[1]
    assert keras_autolr.replay(losses, total_steps=steps).peak_lr == plain.peak_lr


@pytest.mark.parametrize("mode", ["detrend", "diffsd"])
def test_the_start_spread_study_leaves_out_the_trend_only_inside_its_context(mode):
    from keras_autolr.decision import detector

    descent = np.linspace(2.3, 0.3, 40) + 0.01 * np.random.default_rng(0).standard_normal(40)
    plain = detector._start_spread(descent)
    with optimizers.start_spread(mode):
        without_trend = detector._start_spread(descent)
    assert plain > 0.1 and 0.005 < without_trend < 0.02
    assert detector._start_spread(descent) == plain


def test_the_studies_get_their_own_table_beside_the_default():
    import optimizers_report

    def run(contender, score):
        return dict(cell="digits adam b64 x20", set=optimizers.DEVELOPMENT, steps=380,
                    seed=0, contender=contender, lr=None, test_score=score,
                    val_score=score)

    results = dict(runs=[run("own", 90.0), run("autolr", 95.0), run("autolr-bu2", 96.0)],
                   updated="2026-12-04")
    text = optimizers_report.markdown(results)
    main, studies = text.split("The studies on the development set")
    assert "`AutoLR()`" in main and "blow-up stop" not in main
    header = studies.splitlines()[2]
    assert "`AutoLR()`" in header and "the blow-up stop at 2x (study)" in header
    assert "| digits adam b64 x20 (380) | 95.0 | 96.0 | +5.0 | - |" in studies


def test_study_tokens_patch_only_their_own_runs():
    from keras_autolr.decision import controller
    from keras_autolr.decision import detector

    decide, final, test = (controller.WarmupController._decide,
                           controller.WarmupController._final_test,
                           detector.WarmupDetector.test)
    with optimizers.study_patches("autolr-bu2-capmed-clip"):
        assert controller.WarmupController._decide is not decide
        assert controller.WarmupController._final_test is not final
        assert detector.WarmupDetector.test is not test
    with optimizers.study_patches("autolr-detrend9"):
        assert detector.DESCENT_START_SPREADS == 9.0
    for contender in ("own", "autolr", "grid"):
        with optimizers.study_patches(contender):
            assert controller.WarmupController._decide is decide
    assert (controller.WarmupController._decide, controller.WarmupController._final_test,
            detector.WarmupDetector.test) == (decide, final, test)
    assert detector.DESCENT_START_SPREADS == 6.0


def test_study_tokens_are_parsed_in_one_place():
    assert optimizers.study_token("bu2") == ("bu", 2.0)
    assert optimizers.study_token("w0.35") == ("w", 0.35)
    assert optimizers.study_token("span1.5") == ("span", 1.5)
    assert optimizers.study_token("clip") == ("clip", None)
    assert optimizers.study_token("f0.7") is None  # an `Options` token
    assert optimizers.study_token("w1.5") is None  # a fraction is below 1
    assert optimizers.autolr_options("autolr-span2-f0.7").peak_factor == 0.7
    with pytest.raises(ValueError, match="spanx"):
        optimizers.autolr_options("autolr-spanx")


def test_the_sweep_span_study_ends_the_sweep_decades_above_the_own_lr():
    from keras_autolr.training import short_budget

    def swept(contender):
        schedule = keras_autolr.AutoLRSchedule(total_steps=200)
        with optimizers.study_patches(contender):
            assert short_budget.start_sweep_at_own_lr(schedule, 200, 1e-3)
        return schedule.min_lr, schedule.max_lr

    assert swept("autolr") == (pytest.approx(1e-3), 1.0)
    assert swept("autolr-span2") == (pytest.approx(1e-3), pytest.approx(0.1))
    assert swept("autolr-span4") == (pytest.approx(1e-3), 1.0)  # never above max_lr
    schedule = keras_autolr.AutoLRSchedule(total_steps=200, min_lr=1e-2)
    with optimizers.study_patches("autolr-span2"):  # no own LR above min_lr: no move
        assert not short_budget.start_sweep_at_own_lr(schedule, 200, 1e-3)
    assert (schedule.min_lr, schedule.max_lr) == (1e-2, 1.0)


def test_the_cap_end_study_decays_from_a_minimum_at_the_sweeps_end_whole():
    rng = np.random.default_rng(0)
    steps = 200
    falling = np.linspace(2.3, 0.5, steps // 2) + 0.01 * rng.standard_normal(steps // 2)
    plain = keras_autolr.replay(falling, total_steps=steps)
    with optimizers.study_patches("autolr-capend"):
        whole = keras_autolr.replay(falling, total_steps=steps)
    assert plain.reason == whole.reason == "cap"
    factor = keras_autolr.Options().peak_factor
    assert whole.peak_lr == pytest.approx(plain.peak_lr / factor)
    # A minimum in the middle of the sweep: the study changes nothing.
    t = np.linspace(-1.0, 1.0, steps // 2)
    valley = 1.0 + t ** 2 + 0.01 * rng.standard_normal(steps // 2)
    valley[-20:] = np.linspace(2.0, 2.5, 20)  # still no detection? then the cap
    plain = keras_autolr.replay(valley, total_steps=steps, options=keras_autolr.Options(
        require_descent=False, patience=1000))
    with optimizers.study_patches("autolr-capend"):
        same = keras_autolr.replay(valley, total_steps=steps, options=keras_autolr.Options(
            require_descent=False, patience=1000))
    assert plain.reason == same.reason == "cap"
    assert same.peak_lr == plain.peak_lr


def test_many_studies_are_split_into_tables_of_a_readable_width():
    import optimizers_report

    def run(contender, score):
        return dict(cell="digits adam b64 x20", set=optimizers.DEVELOPMENT, steps=380,
                    seed=0, contender=contender, lr=None, test_score=score,
                    val_score=score)

    studies = [f"autolr-f0.{k}" for k in range(1, 10)]  # 9 studies
    results = dict(runs=[run("own", 90.0), run("autolr", 95.0)]
                   + [run(c, 96.0) for c in studies], updated="2026-12-05")
    text = optimizers_report.markdown(results).split("The studies on the development set")[1]
    headers = [line for line in text.splitlines() if line.startswith("| cell")]
    assert len(headers) == 2
    assert headers[0].count("`AutoLR()`") == headers[1].count("`AutoLR()`") == 1
    # the cell, `AutoLR()`, the studies and the two gaps: one more bar than columns
    assert headers[0].count("|") - 1 == 2 + optimizers_report.STUDY_COLUMNS + 2
    assert headers[1].count("|") - 1 == 2 + 1 + 2
    assert "`autolr-f0.9`" in headers[1]


def test_the_reports_peak_factor_is_the_librarys():
    import optimizers_report

    assert optimizers_report.DEFAULT_PEAK_FACTOR == keras_autolr.Options().peak_factor


def test_the_cap_previous_study_decays_from_the_test_before_the_cap():
    rng = np.random.default_rng(1)
    steps = 200
    t = np.linspace(0.0, 1.0, steps // 2)
    losses = 2.0 - t + np.where(t > 0.7, 20.0 * (t - 0.7) ** 2, 0.0)
    losses = losses + 0.02 * rng.standard_normal(steps // 2)
    losses[-2:] = 60.0  # a blow-up that only the test at the cap sees whole
    options = keras_autolr.Options(patience=1000)  # no detection: the cap
    plain = keras_autolr.replay(losses, total_steps=steps, options=options)
    tests = [r.peak_lr for r in plain.tests if r.peak_lr is not None]
    with optimizers.study_patches("autolr-capprev"):
        previous = keras_autolr.replay(losses, total_steps=steps, options=options)
    assert plain.reason == previous.reason == "cap"
    assert abs(tests[-1] / tests[-2] - 1.0) > 0.01  # the two tests chose apart
    factor = options.peak_factor
    assert plain.peak_lr == pytest.approx(factor * tests[-1])
    assert previous.peak_lr == pytest.approx(factor * tests[-2])


def test_the_edge_study_counts_a_best_lr_at_the_end_as_nothing_whatever_the_loss():
    from keras_autolr.decision.controller import WarmupController
    from keras_autolr.decision.detector import TestResult

    schedule = keras_autolr.AutoLRSchedule(total_steps=100)
    controller = WarmupController(schedule, keras_autolr.Options())
    controller.observe(np.linspace(2.0, 1.0, 20))  # still falling at the end
    end = TestResult(index=0, step=20, probabilities=(), positive=False,
                     peak_lr=float(schedule.warmup_lr(19)))
    assert not controller._located_nothing(end)  # the library's rule (edge2)
    with optimizers.study_patches("autolr-edge"):
        assert controller._located_nothing(end)
    with optimizers.study_patches("autolr-edge2"):
        assert not controller._located_nothing(end)
    assert not controller._located_nothing(end)


def test_the_esoff_study_lets_an_early_stopping_watch_the_sweep():
    from keras_autolr._keras import keras
    from keras_autolr.training.early_stopping import EarlyStoppingAfterWarmup

    stopping = keras.callbacks.EarlyStopping()
    with optimizers.study_patches("autolr-esoff"):
        held = EarlyStoppingAfterWarmup([stopping])
        held.epoch_begins(4, sweeping=True)
        assert stopping.start_from_epoch == 0
    held.epoch_begins(4, sweeping=True)  # the patch is gone with the context
    assert stopping.start_from_epoch == 5


def test_the_reuse_study_keeps_the_earlier_schedule_for_a_new_optimizer():
    autolr = keras_autolr.AutoLR(verbose=0)
    autolr.controller = object()  # an earlier fit's decision
    assert autolr._new_run([keras_autolr._keras.keras.optimizers.Adam()])
    with optimizers.study_patches("autolr-reuse"):
        assert not autolr._new_run([keras_autolr._keras.keras.optimizers.Adam()])


def test_two_jobs_resuming_one_results_file_keep_each_others_runs(tmp_path):
    path = str(tmp_path / "optimizers.json")
    run = lambda cell, run_id: dict(cell=cell, seed=0, run_id=run_id)  # noqa: E731
    optimizers._save(dict(runs=[run("a", "own")]), path)
    first = json.load(open(path))  # each job loads the file at its start
    second = json.load(open(path))
    second["runs"].append(run("a", "autolr"))
    optimizers._save(second, path, key=optimizers.run_key)
    first["runs"].append(run("a", "grid@0.1"))
    optimizers._save(first, path, key=optimizers.run_key)
    saved = json.load(open(path))["runs"]
    assert sorted(r["run_id"] for r in saved) == ["autolr", "grid@0.1", "own"]
    # A fresh (not resumed) job writes only its own runs, as before.
    optimizers._save(dict(runs=[run("b", "own")]), path)
    assert [r["cell"] for r in json.load(open(path))["runs"]] == ["b"]


def _overshoot(steps, rise, seed=3):
    """A detected curve: the loss falls, then rises by `rise` past its minimum."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps // 2)
    losses = 2.0 - 1.5 * t + np.where(t > 0.5, rise * (t - 0.5) ** 2, 0.0)
    return losses + 0.01 * rng.standard_normal(len(losses))


def _rewound_at_the_cap(losses, steps=400):
    """The controller's rewind after `losses`, ended at the cap from the LR
    of step 5 (the oldest copy, taken before most of the fall)."""
    from keras_autolr.decision import controller as controller_lib

    schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
    controller = controller_lib.WarmupController(schedule, keras_autolr.Options())
    for loss in losses:
        controller.observe([loss])
    controller._end_warmup(len(losses), float(schedule.warmup_lr(5)), controller_lib.CAP)
    return controller.restored_step


def test_the_keepbetter_study_skips_the_rewind_only_below_the_copys_loss():
    fell = np.concatenate([np.full(10, 2.0), np.linspace(2.0, 0.5, 90)])
    blew_up = np.concatenate([fell[:-5], np.full(5, 50.0)])
    for losses, skipped in ((fell, True), (blew_up, False)):
        plain = _rewound_at_the_cap(losses)
        with optimizers.study_patches("autolr-keepbetter"):
            study = _rewound_at_the_cap(losses)
        assert plain is not None and plain < 20  # before most of the fall
        assert study == (None if skipped else plain)
    assert _rewound_at_the_cap(fell) is not None  # outside the context


def test_the_allcopies_study_restores_the_step_of_the_lr_chosen():
    steps = 400
    losses = _overshoot(steps, 60.0)
    plain = keras_autolr.replay(losses, total_steps=steps)
    with optimizers.study_patches("autolr-allcopies"):
        study = keras_autolr.replay(losses, total_steps=steps)
    assert (plain.switch_step, plain.peak_lr) == (study.switch_step, study.peak_lr)
    schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
    chosen = study.peak_lr / keras_autolr.Options().peak_factor
    lr = lambda s: float(schedule.warmup_lr(s))  # noqa: E731
    assert lr(study.restored_step) <= chosen * (1 + 1e-6) < lr(study.restored_step + 1)
    assert plain.restored_step < study.restored_step


def test_the_wholebudget_study_gives_a_new_optimizer_all_the_epochs_inside_its_context():
    from keras_autolr.training import fit_run

    (x, y), _ = _training.digits()
    original = fit_run.FitRun._budget_from_initial_epoch
    totals = {}
    for contender in ("autolr", "autolr-wholebudget"):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
        model.compile(optimizer=keras.optimizers.Adam(),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        autolr = keras_autolr.AutoLR(verbose=0)
        with optimizers.study_patches(contender):
            model.fit(x[:256], y[:256], batch_size=32, initial_epoch=2, epochs=6,
                      verbose=0, callbacks=[autolr])
        totals[contender] = autolr.schedule.total_steps
    assert totals == {"autolr": 32, "autolr-wholebudget": 48}
    assert fit_run.FitRun._budget_from_initial_epoch is original


def test_the_anycopy_study_keeps_a_damaged_copy_only_inside_its_context():
    from keras_autolr.decision.controller import WarmupController

    schedule = keras_autolr.AutoLRSchedule(total_steps=100)
    controller = WarmupController(schedule, keras_autolr.Options())
    for loss in np.concatenate([np.linspace(2.0, 1.0, 20), np.full(10, 9.0)]):
        controller.observe([loss])  # one execution a step
    assert controller._damaged(30) and not controller._damaged(20)
    with optimizers.study_patches("autolr-anycopy"):
        assert not controller._damaged(30)
    with optimizers.study_patches("autolr-soundcopy"):  # the library's rule
        assert controller._damaged(30)
    assert controller._damaged(30)


@pytest.mark.skipif(not IS_KERAS_3, reason="the study runs on Keras 3")
def test_find_lr_with_the_users_optimizers_scores_each_rule_against_the_grid(
        tmp_path, monkeypatch):
    import lr_finder_optimizers

    cell = optimizers.Cell("digits", "adam", 600, 2)  # 4 steps to train
    monkeypatch.setattr(optimizers, "CELLS", (cell,))
    grid = tmp_path / "grid.json"  # 7 LRs; 0.01 validates best, tests worst
    grid.write_text(json.dumps({"runs": [
        dict(cell=cell.name, set=cell.set, steps=4, contender="grid", lr=lr, seed=0,
             val_score=60.0 if lr == 0.01 else 50.0,
             test_score=40.0 if lr == 0.01 else 55.0)
        for lr in (0.001 * 10 ** e for e in optimizers.GRID_EXPONENTS)]}))
    path = tmp_path / "finder.json"
    argv = ["--seeds", "0", "--sweep-steps", "30", "--results", str(path),
            "--grid", str(grid)]
    assert lr_finder_optimizers.main(argv) == 0
    results = json.loads(path.read_text())
    (sweep,) = results["sweeps"]
    assert sweep["steps"] == len(sweep["losses"]) and 20 <= sweep["steps"] <= 30
    rules = sweep["rules"]
    # The 1.0 rule is the GP minimum itself, floored at the own LR and kept
    # within the sweep; the 0.4 rule, find_lr's suggestion, 0.4x of it.
    within = min(rules["minimum"], sweep["learning_rates"][-1])
    assert rules["factor_1.0"] == pytest.approx(max(sweep["own_lr"], within), rel=1e-6)
    assert rules["factor_0.4"] == pytest.approx(max(sweep["own_lr"], 0.4 * within),
                                                rel=1e-6)
    contenders = [r["contender"] for r in results["runs"]]
    assert contenders[:2] == ["factor-0.4", "factor-1.0"]
    for run in results["runs"]:  # each rule's LR is the grid recipe's peak
        assert run["lr"] == pytest.approx(rules[run["rule"]])
        assert run["steps"] == 4 and 0 <= run["test_score"] <= 100
    table = (tmp_path / "finder.md").read_text()
    # The tuned grid is the best validation score (0.01), scored on the test.
    assert "| digits adam b600 x2 (4) |" in table and "| 0.01 |" in table
    assert "| 40.0 |" in table


def test_the_oracle_study_decays_from_the_tuned_grid_lr_and_rewinds_as_autolr_chose(tmp_path):
    from unittest import mock

    import optimizers_report

    from keras_autolr.training import short_budget

    cell = optimizers.CELLS[1]  # digits adam b64 x20
    runs = [dict(cell=cell.name, set=cell.set, steps=380, seed=0, contender="grid",
                 lr=lr, val_score=90.0 + (5.0 if i == 4 else 0.0), test_score=80.0 + i)
            for i, (_, lr) in enumerate(optimizers.runs_of("grid", cell))]
    path = tmp_path / "optimizers.json"
    path.write_text(json.dumps({"runs": runs}))
    tuned = optimizers.tuned_lr(cell, path=str(path))
    assert tuned == pytest.approx(1e-2)  # the best on validation, not on test
    steps = 400
    losses = _overshoot(steps, 60.0)
    plain = keras_autolr.replay(losses, total_steps=steps)
    # The benchmark's own results file stands for this one.
    with mock.patch.dict(optimizers._TUNED,
                         {optimizers.RESULTS: optimizers._TUNED[str(path)]}):
        with optimizers.study_patches("autolr-oracle", cell):
            study = keras_autolr.replay(losses, total_steps=steps)
    assert plain.peak_lr != pytest.approx(tuned)
    assert study.peak_lr == pytest.approx(tuned)
    assert (study.switch_step, study.reason, study.restored_step) == (
        plain.switch_step, plain.reason, plain.restored_step)
    with pytest.raises(ValueError, match="No tuned grid"):
        optimizers.tuned_lr(optimizers.CELLS[0], path=str(path))
    # The report's copies of the library's constants.
    assert optimizers_report.SHORT_BUDGET_STEPS == short_budget.MIN_SWEEP_STEPS
    assert optimizers_report.DEFAULT_PEAK_FACTOR == keras_autolr.Options().peak_factor


def test_a_run_that_diverged_scores_minus_100_with_or_without_a_finite_score():
    import optimizers_report

    assert optimizers_report.score(None) == -100.0
    assert optimizers_report.score(-4.7e7) == -100.0  # 100 x R^2 of a blown-up regression
    assert optimizers_report.score(-12.5) == -12.5
    assert optimizers_report.score(93.2) == 93.2


def test_the_plateau_study_finds_where_a_flat_sweep_left_its_start():
    from keras_autolr.decision.controller import _Points

    def points(losses):
        record = _Points()
        record.extend(np.arange(len(losses), dtype=float), np.asarray(losses, float))
        return record

    rng = np.random.default_rng(0)
    flat = 1.386 + 0.002 * rng.standard_normal(60)
    blown = np.concatenate([flat[:40], np.linspace(1.5, 9.0, 20)])
    edge = optimizers.plateau_edge(points(blown))
    assert edge is not None and 36 <= edge <= 41  # where the loss left the band
    assert optimizers.plateau_edge(points(flat)) is None  # never left: no edge
    falling = np.concatenate([np.linspace(2.3, 0.4, 40), np.linspace(0.5, 9.0, 20)])
    assert optimizers.plateau_edge(points(falling)) is None  # a descent
    # At the cap of a flat sweep that blew up, the study decays from the edge.
    steps = 2 * len(blown)
    plain = keras_autolr.replay(blown, total_steps=steps)
    with optimizers.study_patches("autolr-plateau"):
        study = keras_autolr.replay(blown, total_steps=steps)
    assert plain.reason == study.reason == "cap"
    schedule = keras_autolr.AutoLRSchedule(total_steps=steps)
    factor = keras_autolr.Options().peak_factor
    edge_lr = float(schedule.warmup_lr(edge))
    assert edge_lr > plain.peak_lr / factor  # the GP's minimum of a flat curve lay lower
    assert study.peak_lr == pytest.approx(factor * edge_lr)


def test_the_anymin_study_counts_a_minimum_inside_a_blow_up_only_inside_its_context():
    from unittest import mock

    from keras_autolr.decision.controller import WarmupController
    from keras_autolr.decision.detector import TestResult

    schedule = keras_autolr.AutoLRSchedule(total_steps=100)
    controller = WarmupController(schedule, keras_autolr.Options())
    losses = np.concatenate([np.linspace(2.0, 1.0, 20), np.full(10, 9.0), np.full(5, 1.5)])
    for loss in losses:
        controller.observe([loss])  # one execution a step
    lr = lambda step: float(schedule.warmup_lr(step))  # noqa: E731

    def located_nothing(step):
        result = mock.Mock(spec=TestResult, peak_lr=lr(step))
        return controller._located_nothing(result)

    # The library's rule (damagedmin's since 2026-12-06): a best LR inside the
    # blow-up, its losses above the start's, locates nothing; one before it does.
    assert not located_nothing(15) and located_nothing(27)
    with optimizers.study_patches("autolr-damagedmin"):  # patches nothing now
        assert not located_nothing(15) and located_nothing(27)
    with optimizers.study_patches("autolr-anymin"):  # the rule before
        assert not located_nothing(15) and not located_nothing(27)
    assert located_nothing(27)


def test_the_lag_study_moves_the_minimum_back_by_the_momentum_lag():
    import types

    rng = np.random.default_rng(0)
    steps = np.arange(60)
    losses = 2.0 - 1.5 * np.exp(-((steps - 30) / 12.0) ** 2) + 0.01 * rng.standard_normal(60)
    losses[40:] += np.linspace(0, 3, 20)
    plain = keras_autolr.replay(losses, total_steps=200)
    schedule = keras_autolr.AutoLRSchedule(total_steps=200)
    growth = float(schedule.warmup_lr(1)) / float(schedule.warmup_lr(0))
    chosen = plain.peak_lr / keras_autolr.Options().peak_factor
    for optimizer, lag in (("adam", 9.0), ("rmsprop", 0.0)):
        with optimizers.study_patches("autolr-lag", types.SimpleNamespace(optimizer=optimizer)):
            study = keras_autolr.replay(losses, total_steps=200)
        assert study.switch_step == plain.switch_step
        expected = max(chosen / growth ** lag, float(schedule.warmup_lr(0)))
        assert study.peak_lr == pytest.approx(keras_autolr.Options().peak_factor * expected)
    assert study.peak_lr == pytest.approx(plain.peak_lr)  # RMSprop: no lag
