"""Keras' `TerminateOnNaN` beside AutoLR: it stops only what AutoLR did not repair.

A sweep that overshoots can end an execution with a non-finite loss; AutoLR
then puts back its newest copy of the weights and trains on
(`restore_on_fault`, and the rewind of a diverged warmup). Keras'
`TerminateOnNaN` sees the same loss in the batch's logs and stops the `fit`
(or raises, `raise_error=True`): measured on an MLP regression with SGD
(momentum 0.9), a run AutoLR had repaired at step 23 ended there, 24 steps
of 378, where the same script without AutoLR trained its whole budget.

While AutoLR runs a `fit`, each `TerminateOnNaN` among its callbacks is
held: its batch check runs after AutoLR has read the batch (at once when it
comes after AutoLR in the list, from AutoLR's own hook when it comes
before), and only when AutoLR did not restore the weights at that batch. A
non-finite loss AutoLR could not repair stops the run as before. The hold
is lifted at the end of the `fit`, and by the callback itself in a later
`fit` of which this AutoLR is not part (one that raised before its end).

Example:

```python
held = HeldTerminateOnNaN(autolr, fit_callbacks)  # in on_train_begin
...
held.batch_read(restored=True)  # at the end of AutoLR's on_train_batch_end
...
held.release()  # in on_train_end
```
"""

from keras_autolr._keras import keras


class HeldTerminateOnNaN:
    """Holds the `TerminateOnNaN` callbacks of one `fit` behind AutoLR's reads.

    Args:
        autolr: the `AutoLR` running the `fit`.
        fit_callbacks: the `fit`'s callbacks in Keras' order, or None when
            unknown (then nothing is held).
    """

    def __init__(self, autolr, fit_callbacks):
        self._params = autolr.params
        self._pending = []  # (check, batch, logs) of this batch, read later
        self._restored = False  # AutoLR restored the weights at its last read
        self.held = []
        members = list(fit_callbacks or ())
        ours = next((i for i, m in enumerate(members) if m is autolr), len(members))
        for index, member in enumerate(members):
            if isinstance(member, keras.callbacks.TerminateOnNaN):
                self._hold(member, before_autolr=index < ours)

    def _hold(self, member, before_autolr):
        check = _unheld(member)

        def on_batch_end(batch, logs=None):
            if member.params is not self._params:  # a later `fit`: lift the hold
                _lift(member)
                return check(batch, logs)
            if before_autolr:  # AutoLR has not read this batch yet
                self._pending.append((check, batch, logs))
            elif not self._restored:
                check(batch, logs)

        on_batch_end.check = check
        member.on_batch_end = on_batch_end
        self.held.append(member)

    def batch_read(self, restored):
        """AutoLR read a batch: runs the checks held for it unless it restored.

        Args:
            restored: bool. AutoLR put back a copy of the weights at this
                batch (after a non-finite loss, or the rewind at a switch).
        """
        self._restored = restored
        pending, self._pending = self._pending, []
        if not restored:
            for check, batch, logs in pending:
                check(batch, logs)

    def release(self):
        """The `fit` ends: each held `TerminateOnNaN` checks on its own again."""
        for member in self.held:
            _lift(member)
        self.held, self._pending = [], []


def _unheld(member):
    """`member`'s own batch check, under any hold left on it."""
    held = member.__dict__.get("on_batch_end")
    return held.check if hasattr(held, "check") else member.on_batch_end


def _lift(member):
    if hasattr(member.__dict__.get("on_batch_end"), "check"):
        del member.on_batch_end
