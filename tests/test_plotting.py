"""plot_decision and AutoLR.plot: real pictures of a decision, drawn headless."""

import io
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import keras_autolr  # noqa: E402
from keras_autolr.tools import plotting  # noqa: E402
from keras_autolr import Options  # noqa: E402
from keras_autolr import replay  # noqa: E402
from keras_autolr.decision.detector import WarmupDetector  # noqa: E402
from keras_autolr.schedule import AutoLRSchedule  # noqa: E402
from tests import _training  # noqa: E402
from tests.conftest import falling  # noqa: E402
from tests.conftest import valley  # noqa: E402

T = 2000  # budget; warmup cap 1000 steps
DPI = 60


def _png_pixels(figure):
    """Renders `figure` to PNG bytes and reads them back as an RGBA array."""
    from matplotlib import image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return image.imread(io.BytesIO(data), format="png")


def _assert_real_picture(figure):
    pixels = _png_pixels(figure)
    width, height = figure.get_size_inches() * DPI
    assert pixels.shape[:2] == (round(height), round(width))
    rgb = pixels[..., :3]
    ink = np.any(rgb < 0.9, axis=-1)  # not white
    assert 0.03 < ink.mean() < 0.6
    colours = np.unique((rgb * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 50  # lines, points, band and text, not a blank frame
    # Both panels carry ink: the top and bottom halves are drawn.
    assert ink[: len(ink) // 2].mean() > 0.02 and ink[len(ink) // 2:].mean() > 0.02


def test_a_run_that_switched_draws_two_panels_with_the_gp():
    losses = valley(T)
    decision = replay(losses, total_steps=T)
    assert decision.reason == "detected"
    figure = keras_autolr.plot_decision(losses, decision)
    top, bottom = figure.axes[:2]
    assert top.get_xscale() == "log"
    labels = top.get_legend_handles_labels()[1]
    assert any(label.startswith("GP posterior mean") for label in labels)
    assert "2 sigma" in labels
    assert f"peak LR {decision.peak_lr:.3g}" in labels
    bottom_labels = bottom.get_legend().get_texts()
    assert f"switch at step {decision.switch_step}" in [t.get_text() for t in bottom_labels]
    _assert_real_picture(figure)


def test_a_run_that_reached_the_warmup_cap_is_drawn():
    losses = falling(T)
    decision = replay(losses, total_steps=T)
    assert decision.reason == "cap"
    figure = keras_autolr.plot_decision(losses, decision)
    assert "warmup cap reached" in figure._suptitle.get_text()
    _assert_real_picture(figure)


def test_a_blowup_in_the_decay_is_marked_and_the_lr_drawn_lowered():
    losses = valley(T)
    decision = replay(losses, total_steps=T)
    peak = decision.peak_lr
    step = decision.switch_step + 200
    decision.faults.append((step, f"restored {decision.switch_step}, "
                                  f"peak {peak:.6g} -> {peak / 4:.6g}"))
    figure = keras_autolr.plot_decision(losses, decision)
    bottom = figure.axes[1]
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert f"blow-up at step {step}: peak {peak:.3g} to {peak / 4:.3g}" in labels
    line = next(l for l in bottom.get_lines() if l.get_label() == "learning rate")
    x, y = line.get_data()
    schedule = AutoLRSchedule(total_steps=T, switch_step=decision.switch_step,
                              peak_lr=peak)
    before = x <= step
    expected = np.asarray(schedule(x.astype(np.int64)), np.float64)
    np.testing.assert_allclose(y[before], expected[before], rtol=1e-5)
    np.testing.assert_allclose(y[~before], expected[~before] / 4, rtol=1e-4)
    _assert_real_picture(figure)


def test_the_options_and_schedule_of_replay_pass_through_unchanged():
    options = Options(seed=3, check_every=20)
    schedule = AutoLRSchedule(max_warmup_fraction=0.4)
    losses = valley(T, n=int(0.4 * T))
    decision = replay(losses, total_steps=T, schedule=schedule, options=options)
    figure = keras_autolr.plot_decision(losses, decision, schedule=schedule,
                                        options=options)
    _assert_real_picture(figure)
    # The schedule panel draws the LR on a log axis: the sweep is a line.
    assert figure.axes[1].get_yscale() == "log"


def test_the_recomputed_posterior_is_the_one_the_test_saw():
    """Same draws, same hyperparameters: the same probabilities and peak LR."""
    losses = valley(T, noise=0.1, seed=2)
    decision = replay(losses, total_steps=T, options=Options(seed=5))
    test = decision.tests[-1]
    posterior = plotting.recompute_posterior(
        losses, test, WarmupDetector(seed=5), AutoLRSchedule(total_steps=T))
    np.testing.assert_allclose(posterior.probabilities, test.probabilities,
                               rtol=0, atol=1e-8)
    assert posterior.peak_lr == pytest.approx(test.peak_lr, rel=1e-9)
    assert np.all(posterior.variance >= 0)
    # The band is tight where the data are: within the losses' range.
    assert posterior.mean.min() > losses.min() - 0.2
    assert posterior.lr[0] == pytest.approx(1e-5)


def test_subsampled_records_recompute_every_draw():
    """Above `predict_points` finite losses, the 5 seeded draws come back."""
    losses = valley(T, noise=0.1)
    options = Options(seed=1, predict_points=200, fit_points=50)
    decision = replay(losses, total_steps=T, options=options)
    test = decision.tests[-1]
    posterior = plotting.recompute_posterior(
        losses, test, WarmupDetector(options), AutoLRSchedule(total_steps=T))
    assert len(posterior.probabilities) == 5
    np.testing.assert_allclose(posterior.probabilities, test.probabilities, atol=1e-8)


def test_a_record_still_warming_up_is_drawn_without_a_switch():
    losses = falling(T, n=300)
    decision = replay(losses, total_steps=T)
    assert decision.switch_step is None
    figure = keras_autolr.plot_decision(losses, decision)
    assert "still warming up" in figure._suptitle.get_text()
    _assert_real_picture(figure)


def test_a_schedule_or_options_of_the_wrong_kind_is_refused():
    losses = valley(T)
    decision = replay(losses, total_steps=T)
    with pytest.raises(TypeError, match="Received schedule={'min_lr': 0.0001}"):
        keras_autolr.plot_decision(losses, decision, schedule={"min_lr": 1e-4})
    with pytest.raises(TypeError, match="Received options={'seed': 1}"):
        keras_autolr.plot_decision(losses, decision, options={"seed": 1})


def test_without_matplotlib_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    decision = replay(valley(T), total_steps=T)
    with pytest.raises(ImportError, match=r"pip install keras_autolr\[plot\]"):
        keras_autolr.plot_decision(valley(T), decision)


def test_autolr_plot_draws_the_live_decision():
    autolr = keras_autolr.AutoLR(options=Options(check_every=4), verbose=0)
    _training.fit_small_digits([autolr], epochs=6)
    figure = autolr.plot()
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert f"peak LR {autolr.peak_lr:.3g}" in labels
    assert any(label.startswith("GP posterior mean") for label in labels)
    _assert_real_picture(figure)
    # The live posterior is the one the last test computed.
    test = autolr.decision.tests[-1]
    posterior = plotting.recompute_posterior(
        autolr.record.loss, test, autolr.controller.detector, autolr.schedule)
    assert posterior.probabilities == pytest.approx(test.probabilities, abs=1e-8)


def test_autolr_plot_before_fit_says_so():
    with pytest.raises(ValueError, match="after `fit`"):
        keras_autolr.AutoLR().plot()


def test_the_package_imports_without_matplotlib():
    """matplotlib is optional: imported only when a plot is drawn."""
    code = ("import sys; sys.modules['matplotlib'] = None; import keras_autolr; "
            "print('imported')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "imported"
