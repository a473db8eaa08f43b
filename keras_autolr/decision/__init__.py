"""The decision: when warmup ends and from which LR the decay starts.

Pure host math on a per-step loss record, with no Keras in it: the options
(`Options`, `PAPER`), the Gaussian process (`gp`), the past-minimum test
(`detector`), when tests happen (`cadence`), the loss record
(`loss_record`) and the controller that turns tests into a decision
(`controller`). `keras_autolr.training` feeds it from `fit`;
`keras_autolr.tools.offline.replay` feeds it from a file.
"""
