"""Keeps TensorFlow's native INFO lines from the detector's compiles off stderr.

The detector's Gaussian process is XLA-compiled (gp.py); the first compile
of a process, and each compile of a new shape, make TensorFlow's C++ side
log INFO lines straight to file descriptor 2 ("XLA service ... initialized",
"StreamExecutor ...", "disabling MLIR crash reproducer", "Compiled cluster
using XLA!"), which neither Python's `logging` nor `warnings` can silence,
and `TF_CPP_MIN_LOG_LEVEL` only when set before TensorFlow starts. Measured:
an 8-epoch digits `fit` printed 4 such lines at the first test.

`NativeInfoFilter` sends descriptor 2 to a temporary file while AutoLR
tests, then writes back every line except TensorFlow's native INFO lines
(`I0000 00:00:...] ...` from absl, `2024-01-01 ...: I tensorflow/...` from
TensorFlow 2.15) and the two other lines TensorFlow 2.15's first XLA compile
logs (absl's "All log messages before absl::InitializeLog()" banner and
"SetPriority unimplemented for this stream"). Warnings, errors and Python output written meanwhile are
kept, in order, only delayed to the end of the test.

Example:

```python
quiet = NativeInfoFilter()
with quiet:
    controller.observe(losses)  # may compile the GP
quiet.close()
```
"""

import os
import re
import sys
import tempfile

# absl (the seconds field may be a Unix time):
# "I0000 00:00:1796159551.150553    3990 service.cc:153] ..."
# TensorFlow 2.15: "2025-01-01 12:00:00.000000: I tensorflow/.../service.cc:168] ..."
_NATIVE_INFO = re.compile(
    rb"^(I\d{4} [\d:.]+ +\d+ [^\]]+\]"
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: I [^\]]+\]"
    # Two more lines of the first XLA compile on TensorFlow 2.15: absl's
    # banner, and an error-level line about stream priorities on the CPU.
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|.*\] SetPriority unimplemented for this stream)")
_FD = 2


class NativeInfoFilter:
    """A reusable context that drops native INFO log lines written to fd 2.

    Nested or concurrent use is not supported; a failure to redirect (no
    file descriptor 2) leaves stderr as it is.
    """

    def __init__(self):
        self._file = None
        self._saved = None

    def __enter__(self):
        try:
            sys.stderr.flush()
            if self._file is None:
                self._file = tempfile.TemporaryFile()
            self._saved = os.dup(_FD)
            os.dup2(self._file.fileno(), _FD)
        except (OSError, ValueError, AttributeError):
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is None:
            return False
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        os.dup2(self._saved, _FD)
        os.close(self._saved)
        self._saved = None
        self._file.seek(0)
        written = self._file.read()
        self._file.seek(0)
        self._file.truncate()
        kept = [line for line in written.splitlines(keepends=True)
                if not _NATIVE_INFO.match(line)]
        if kept:
            os.write(_FD, b"".join(kept))
        return False

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
