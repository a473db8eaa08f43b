"""Compiles the detector's Gaussian process on a background thread.

The first test in a process compiles the GP (gp.py: the XLA fit and the
posterior's two padded shapes): about 1 s on an idle 2-core machine, 2 to 4
s on a loaded one, on the critical path of `fit`. When a `fit` starts
warming up, `AutoLR` starts that compile on a daemon thread, with dummy data
of the same fixed shapes, so that it overlaps Keras' own tracing of the
train step and the first steps; the first test waits for it to finish.
Compiling changes no state of the detector, so decisions are the same, bit
for bit, with or without it. A compile that fails here is left to the first
test, which compiles as it always did.

The thread keeps TensorFlow's native INFO lines of the compile off stderr
with its own `quiet.NativeInfoFilter`; the first test waits for the thread
before entering the callback's filter, so the two never overlap.

Example:

```python
compiling = precompile.start(detector.smoother)
...  # training goes on
with precompile.Waiting(compiling, quiet_filter):
    controller.observe_mean(loss)  # the first test: the GP is compiled
```
"""

import threading

import numpy as np

from keras_autolr import gp
from keras_autolr import quiet

_LOCK = threading.Lock()
_THREADS = {}  # id(smoother) -> its compile thread (smoothers live per process)


def start(smoother):
    """Starts compiling `smoother` once per process; returns the thread."""
    with _LOCK:
        thread = _THREADS.get(id(smoother))
        if thread is None:
            thread = threading.Thread(target=_compile, args=(smoother,),
                                      name="keras_autolr-gp-compile", daemon=True)
            _THREADS[id(smoother)] = thread
            thread.start()
    return thread


def wait(thread):
    """Waits for a compile thread (None: nothing to wait for)."""
    if thread is not None and thread is not threading.current_thread():
        thread.join()


class Waiting:
    """A context that waits for the compile, then enters `context`.

    Args:
        thread: the compile thread, or None.
        context: the context manager to enter afterwards (the callback's
            stderr filter).
    """

    def __init__(self, thread, context):
        self.thread = thread
        self.context = context

    def __enter__(self):
        wait(self.thread)
        self.thread = None  # joined once; later tests do not wait
        return self.context.__enter__()

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


def _compile(smoother):
    native_info = quiet.NativeInfoFilter()
    try:
        with native_info:
            x = np.linspace(0.0, 1.0, smoother.fit_points, endpoint=False)
            params = smoother.fit(x, np.sin(6.0 * x), gp.initial_params())
            for size in smoother.buckets:
                x = np.linspace(0.0, 1.0, size, endpoint=False)
                smoother.posterior(x, np.sin(6.0 * x), params)
    except Exception:  # noqa: BLE001 - the first test compiles instead
        pass
    finally:
        native_info.close()
