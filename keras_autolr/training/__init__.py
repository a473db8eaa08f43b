"""The Keras integration: `AutoLR` in `fit`, and `WarmupDriver` in a custom loop.

The callback (`callback`) and one fit's state (`fit_run`) read the loss of
each execution (`loss_reader`, `batch_counter`), put the schedule on the
optimizers (`install`), keep host copies of the weights for the rewind
(`snapshot`), save and resume the decision (`state`, `resume`), agree on it
across workers (`engine`, `distributed`) and report it (`summaries`).
"""
