"""Keras' `EarlyStopping` beside AutoLR: it starts watching when the sweep ends.

AutoLR's warmup sweeps the learning rate up until the loss turns, on
purpose: the monitored loss rises at the sweep's end, and the rewind then
puts back earlier weights. An `EarlyStopping` in the same `fit` counted
those epochs as a run going bad, and stopped it before or just after the
switch, with no decay. Measured on keras.io's pattern (the digits,
`validation_split=0.2`, `EarlyStopping(monitor="val_loss", patience=3,
restore_best_weights=True)`, 3 seeds; benchmarks/user_scripts.py): Adam
95.3 % and RMSprop 93.7 % against 98.5 % and 98.0 % without AutoLR, two of
the six runs stopped still sweeping; with the hold, 98.1 % and 97.6 %.

Keras' own answer to "no improvement is expected yet" is the callback's
`start_from_epoch`: the epochs before it are not monitored (neither `best`
nor `wait` moves). While AutoLR sweeps, each `EarlyStopping` of the `fit`
gets a `start_from_epoch` past the epoch running; the epoch in which warmup
ends is the first one it watches. The user's own `start_from_epoch` is kept
when it is later, and put back at the end of the `fit`.

Example:

```python
held = EarlyStoppingAfterWarmup(fit_callbacks)  # in on_train_begin
held.epoch_begins(epoch, sweeping=True)  # in on_epoch_begin
held.switched(epoch)  # when warmup ends
held.release()  # in on_train_end
```
"""

from keras_autolr._keras import keras


class EarlyStoppingAfterWarmup:
    """Keeps the `EarlyStopping` callbacks of one `fit` idle while AutoLR sweeps.

    Args:
        fit_callbacks: the `fit`'s callbacks, or None when unknown (then
            nothing is held).
    """

    def __init__(self, fit_callbacks):
        self.held = [(member, getattr(member, "start_from_epoch", 0))
                     for member in fit_callbacks or ()
                     if isinstance(member, keras.callbacks.EarlyStopping)]

    def epoch_begins(self, epoch, sweeping):
        """An epoch begins; while AutoLR sweeps, its end is not watched."""
        if sweeping:
            for member, own in self.held:
                member.start_from_epoch = max(own, epoch + 1)

    def switched(self, epoch):
        """Warmup ended during `epoch`: the end of that epoch is watched."""
        for member, own in self.held:
            member.start_from_epoch = max(own, epoch)

    def release(self):
        """The `fit` ends: each `EarlyStopping` gets its own `start_from_epoch` back."""
        for member, own in self.held:
            member.start_from_epoch = own
        self.held = []
