"""The GP compile on a background thread: it compiles what the tests use, and changes nothing."""

import threading

import numpy as np

import keras_autolr
from keras_autolr import gp
from keras_autolr import precompile
from tests import _training


class _Recorder:
    def __init__(self):
        self.events = []

    def __enter__(self):
        self.events.append("enter")
        return self

    def __exit__(self, *exc):
        self.events.append("exit")
        return False


def test_the_thread_traces_every_shape_the_tests_use_and_nothing_more():
    smoother = gp.GaussianProcessSmoother(fit_points=40, predict_points=200,
                                          grid_points=64)
    precompile.wait(precompile.start(smoother))
    traced = smoother.tracing_count
    assert traced >= 1 + len(smoother.buckets)  # the fit and each posterior shape
    # A first test afterwards, at each bucket size: no new trace.
    for size in smoother.buckets:
        x = np.linspace(0.0, 1.0, min(size, 40), endpoint=False)
        y = (x - 0.6) ** 2
        params = smoother.fit(x, (y - y.mean()) / y.std(), gp.initial_params())
        x = np.linspace(0.0, 1.0, size, endpoint=False)
        smoother.posterior(x, (x - 0.6) ** 2, params)
    assert smoother.tracing_count == traced


def test_the_compile_starts_once_per_smoother():
    smoother = gp.GaussianProcessSmoother(fit_points=30, predict_points=60,
                                          grid_points=32)
    first = precompile.start(smoother)
    assert precompile.start(smoother) is first
    precompile.wait(first)
    assert not first.is_alive()


def test_the_first_test_waits_for_the_thread_then_enters_the_filter():
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    inner = _Recorder()
    waiting = precompile.Waiting(thread, inner)
    entered = threading.Event()

    def first_test():
        with waiting:
            entered.set()

    tester = threading.Thread(target=first_test, daemon=True)
    tester.start()
    assert not entered.wait(0.2)  # still compiling: the test waits
    assert inner.events == []
    release.set()
    tester.join(5)
    assert entered.is_set() and inner.events == ["enter", "exit"]
    with waiting:  # later tests do not wait
        pass
    assert inner.events == ["enter", "exit", "enter", "exit"]


def test_a_fit_takes_the_decision_replay_takes_on_its_record():
    # The compile runs beside training and touches no state of the detector:
    # the live decision is the offline one on the same losses.
    autolr = keras_autolr.AutoLR(verbose=0)
    _training.fit_small_digits([autolr], epochs=8)
    assert autolr.decision.tests
    offline = keras_autolr.replay(autolr.record.loss,
                                  total_steps=autolr.schedule.total_steps,
                                  steps_per_epoch=14, own_lr=1e-3)
    assert (offline.switch_step, offline.peak_lr, offline.reason) == (
        autolr.switch_step, autolr.peak_lr, autolr.decision.reason)
    assert [t.probabilities for t in offline.tests] == [
        t.probabilities for t in autolr.decision.tests]
    assert not getattr(autolr, "_compiling").is_alive()  # joined by the end of fit
