"""When to test: `check_every="auto"`, an integer, or `"epoch"`.

The reference tests once per epoch. With patience 3 the switch comes at
least 3 tests after the evidence, and under a short budget one epoch
multiplies the LR many times over. `"auto"` spaces tests by LR growth
instead: between two tests the warmup LR grows by at most `GROWTH` (1.2x),
which bounds the overshoot of patience 3 to about 1.2**3 ~ 1.7x. An
exponential warmup then holds about `log(GROWTH) / log(max_lr / min_lr)`
of its length between tests (~63 tests over the default warmup, whatever
the budget). The floor is one step between tests (one execution under
`steps_per_execution > 1`, where the host acts only between executions),
and no test runs before `detector.MIN_FINITE_LOSSES` finite losses exist.
"""

from keras_autolr import warmup as warmup_lib

GROWTH = 1.2


class TestCadence:
    """The step at which the next test is due.

    Example:

    ```python
    cadence = TestCadence("auto", min_lr=1e-5, max_lr=1.0, warmup_steps=1000,
                          warmup="exponential")
    cadence.next_due(0)  # 15: the LR grows 1.2x in 15 steps
    ```

    Args:
        check_every: `"auto"`, `"epoch"` or a positive int (steps).
        min_lr, max_lr, warmup_steps, warmup: the warmup curve.
        steps_per_epoch: int or None. Needed by `"epoch"`.
    """

    __test__ = False  # not a pytest class

    def __init__(self, check_every, *, min_lr, max_lr, warmup_steps, warmup,
                 steps_per_epoch=None):
        if check_every == "epoch" and not steps_per_epoch:
            raise ValueError(
                "`check_every='epoch'` needs the steps per epoch, which `fit` "
                "does not know for this dataset. Pass `steps_per_epoch` to "
                "`fit` or use check_every='auto'. "
                f"Received steps_per_epoch={steps_per_epoch!r}"
            )
        self.check_every = check_every
        self.steps_per_epoch = steps_per_epoch
        self._curve = dict(min_lr=min_lr, max_lr=max_lr,
                           warmup_steps=warmup_steps, kind=warmup)

    def next_due(self, step):
        """First step at which a test is due after one at `step`."""
        if self.check_every == "epoch":
            return (step // self.steps_per_epoch + 1) * self.steps_per_epoch
        if self.check_every == "auto":
            return step + warmup_lib.steps_to_grow(step, GROWTH, **self._curve)
        return step + self.check_every
