"""`AutoLR`: the callback that finds the warmup length and peak LR during `fit`."""

import collections
import os
import weakref

import numpy as np

from keras_autolr import _copying
from keras_autolr import _keras
from keras_autolr import _validation
from keras_autolr.decision import options as options_lib
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr.training import distributed
from keras_autolr.training import fit_checks
from keras_autolr.training import install
from keras_autolr.training import summaries
from keras_autolr.training import short_budget as short_budget_lib
from keras_autolr.training import state as state_lib
from keras_autolr.training.batch_counter import BatchCounter
from keras_autolr.training.fit_run import FitRun

keras = _keras.keras

StepRecord = collections.namedtuple("StepRecord", ["step", "learning_rate", "loss"])

# What belongs to one `fit` only: left out of a copy (`AutoLR.__deepcopy__`).
_PER_FIT = ("_run", "_fit_callbacks")


class AutoLR(keras.callbacks.Callback):
    """Automatic warmup: grows the LR until the loss minimum has passed, then decays.

    Large-batch training is sensitive to the warmup length and the peak
    learning rate, and both are usually found by an expensive grid search.
    `AutoLR` removes it (Kim et al., arXiv 2107.05855): the LR grows
    exponentially; the callback records the training loss of every step and,
    at intervals spaced by LR growth, smooths the record with a Gaussian
    process and tests whether the minimum of the smoothed loss lies in the
    past. After `patience` positive tests in a row, the schedule switches to
    a decay that reaches zero at the end of the budget, starting from 0.4x
    the LR at which the smoothed loss was lowest, with the weights put back
    to before the overshoot. How it decides is one `keras_autolr.Options`
    object; `keras_autolr.PAPER` is the paper's rule.

    The LR itself is computed in-graph by an `AutoLRSchedule`, so XLA,
    `steps_per_execution > 1` and `tf.distribute` work; the callback only
    sets the schedule's switch step and peak LR, once.

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Lamb(),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    autolr = keras_autolr.AutoLR()
    model.fit(x, y, batch_size=1024, epochs=10, callbacks=[autolr])
    print(autolr.switch_step, autolr.peak_lr)
    ```

    Pair form, with the schedule given to the optimizer:

    ```python
    schedule = keras_autolr.AutoLRSchedule(max_lr=0.1)
    model.compile(optimizer=keras.optimizers.Lamb(learning_rate=schedule), ...)
    model.fit(x, y, epochs=10, callbacks=[keras_autolr.AutoLR(schedule=schedule)])
    ```

    Args:
        schedule: `AutoLRSchedule` or None. The schedule and its shape
            (`min_lr`, `max_lr`, warmup and decay kinds). None (default):
            the default `AutoLRSchedule()`. Either way, an optimizer whose
            learning rate is a constant gets the schedule in its place, and
            that constant becomes the optimizer's own LR the options'
            `own_lr_floor` and `sweep_start` refer to; an optimizer already
            built with this schedule (the pair form) keeps it.
        total_steps: int or None. The budget in optimizer steps. None takes
            it from `fit` (steps per epoch x epochs), or from the schedule.
        options: `keras_autolr.Options` or None (the defaults). How AutoLR
            decides: when to test (`check_every`), the test (`confidence`,
            `patience`, `seed`, ...), the peak rule (`peak_factor`), and
            the rewind, fault, short-budget, floor and cap policies.
            `keras_autolr.PAPER` is the paper's rule.
        optimizer: an optimizer, a list of optimizers, or None. The
            optimizers AutoLR sets the learning rate of, all sharing one
            schedule; the first one's step counter is the schedule's clock.
            None (default): the compiled `model.optimizer` (the
            sub-optimizers that train, for a `MultiOptimizer` whose
            sub-optimizers share one LR; different LRs are refused). Give
            it when a custom `train_step` applies other optimizers (a GAN's
            `compile(d_optimizer=..., g_optimizer=...)`); AutoLR raises at
            the end of the first step when an optimizer it drives did not
            step. An optimizer that trained without AutoLR (a step counter
            past 0 and its own LR) is refused before training.
        monitor: str. The loss AutoLR records: the name of a value the
            training step logs. Defaults to `"loss"`. It is read from
            Keras' compiled loss tracker when the step updates it, else from
            a `keras.metrics.Mean` of that name in `model.metrics` (a custom
            `train_step`'s own tracker), else from the logged value of the
            batch; with none, AutoLR raises at the end of the first step,
            naming what it needs. A validation value (`"val_..."`, logged
            once per epoch) is refused.
        backup_dir: str or None. Where AutoLR's state (loss record and
            decision) is written at each epoch end and read back when `fit`
            resumes, with the same warmup, tests and LR at every step. None
            (default): the `backup_dir` of a `keras.callbacks.BackupAndRestore`
            in the same `fit`; without one, a resumed run keeps its switch
            step and peak LR (saved with the optimizer) but tests only on
            new losses. Give one to resume from `ModelCheckpoint` with
            `initial_epoch`.
        log_dir: a path, a `tf.summary.SummaryWriter`, or None. Where the
            TensorBoard scalars go (`autolr/...`, see
            `keras_autolr.training.summaries`): a path writes to the run
            `log_dir/train`, as `keras.callbacks.TensorBoard(log_dir)` does;
            a writer is used as it is. None (default): into the `train` run
            of a `keras.callbacks.TensorBoard` passed to the same `fit`, if
            one is found; else nowhere.
        verbose: 0 (silent), 1 (a line when the LR is replaced and one when
            warmup ends, as quiet as Keras' own callbacks) or 2 (also a line
            per test, with the GP's hyperparameters, and one on resume).
            Lines go through Keras' `print_msg` and never land on the end
            of `fit`'s progress bar. Warnings (`warnings.warn`) are given
            at every verbosity. Defaults to 1.

    Attributes:
        options: the `Options` in use.
        switch_step, peak_lr: the warmup length and the peak LR chosen
            (None while warming up).
        decision: the `Decision`: switch step, peak LR, reason, every test.
        record: `(step, learning_rate, loss)` arrays, one row per step.
        schedule: the `AutoLRSchedule` in use.
    """

    def __init__(
        self,
        schedule=None,
        total_steps=None,
        options=None,
        optimizer=None,
        monitor="loss",
        backup_dir=None,
        log_dir=None,
        verbose=1,
    ):
        super().__init__()
        if schedule is not None and not isinstance(schedule, AutoLRSchedule):
            raise TypeError(
                "`schedule` must be an `AutoLRSchedule` or None. "
                f"Received schedule={schedule!r}"
            )
        self.total_steps = _validation.positive_int(
            "total_steps", total_steps, allow_none=True)
        if (schedule is not None and schedule.total_steps is not None
                and self.total_steps is not None
                and schedule.total_steps != self.total_steps):
            raise ValueError(
                "`total_steps` disagrees with the schedule's. Received "
                f"total_steps={total_steps!r}, "
                f"schedule.total_steps={schedule.total_steps!r}"
            )
        self.options = options_lib.resolve(options)
        self._given_optimizers = _validation.optimizers("optimizer", optimizer)
        self.optimizer = optimizer
        self.monitor = _validation.monitor(monitor)
        self.verbose = _validation.verbose(verbose)
        self._template = schedule or AutoLRSchedule()
        # Puts the schedule on the optimizers, and their own LRs back (install.py).
        self._installer = install.ScheduleInstaller(self._template, schedule)
        self.backup_dir = _validation.directory("backup_dir", backup_dir)
        # Kept across fits: a second `fit` of this callback continues it.
        self.controller = None
        self._optimizers_of_last_fit = []  # weak references (`_new_run`)
        self._run = None  # the `FitRun` of the current or last `fit`
        self._fit_callbacks = None
        # TensorBoard scalars (keras_autolr/training/summaries.py).
        self.log_dir = summaries.check_destination(log_dir)

    # ------------------------------------------------------------ results
    @property
    def schedule(self):
        """The `AutoLRSchedule` in use; None before `fit` (zero-config)."""
        return self._installer.schedule

    @schedule.setter
    def schedule(self, schedule):
        self._installer.schedule = schedule

    @property
    def _own_lr(self):
        """The optimizers' lowest own constant LR it replaced, or None."""
        return self._installer.own_lr

    @property
    def switch_step(self):
        """Step at which decay started, or None while warming up."""
        return None if self.controller is None else self.controller.switch_step

    @property
    def peak_lr(self):
        """LR at which decay started, or None while warming up."""
        return None if self.controller is None else self.controller.peak_lr

    @property
    def decision(self):
        """The `Decision`: switch step, peak LR, reason, every test's result."""
        return None if self.controller is None else self.controller.decision

    @property
    def record(self):
        """`StepRecord(step, learning_rate, loss)`: NumPy arrays, one row per step."""
        if self.controller is None:
            empty = np.zeros(0)
            return StepRecord(empty.astype(np.int64), empty, empty)
        loss = self.controller.record.values.copy()
        step = np.arange(len(loss), dtype=np.int64)
        lr = np.asarray(self.schedule(step)) if len(step) else np.zeros(0)
        return StepRecord(step, lr.astype(np.float64), loss)

    def __deepcopy__(self, memo):
        """A copy of the callback and its decision; not the run of its last `fit`.

        keras_tuner copies the callbacks of each trial, and scikit-learn's
        `clone` its parameters: the copy of an `AutoLR` that has trained
        failed on the run's TensorFlow strategy. The run (counters, copies,
        the other callbacks of that `fit`) stays with this one; the copy
        starts afresh on a new optimizer, as this one would.
        """
        return _copying.deepcopy_without(self, memo, _PER_FIT)

    # ------------------------------------------------------------ training
    def set_model(self, model):
        super().set_model(model)
        # Install the schedule now, before any callback's on_train_begin:
        # BackupAndRestore builds the optimizer and loads its variables
        # there, and must find the variables of the optimizer as it was
        # saved (with a schedule, it has no learning-rate variable). The
        # schedule's decision is saved and restored with it (schedule_state.py).
        optimizers = install.driven(self.model, self._given_optimizers)
        if self._new_run(optimizers):
            self._start_afresh()
        # A run resumed from AutoLR's state file may find its optimizer
        # restored past step 0 with its own LR; any other is refused.
        self._installer.resuming = self.backup_dir is not None and os.path.exists(
            state_lib.state_path(self.backup_dir))
        for optimizer in optimizers:
            self._installer.install(
                optimizer, self.model, self._print if self.verbose else None)

    def _new_run(self, optimizers):
        """A new or recompiled optimizer at step 0 after an earlier decision.

        keras.io's fine-tuning pattern trains a head, recompiles with a small
        LR and fits again, often with the same callbacks list. Keras' own
        callbacks start afresh in each `fit`; so does AutoLR for a new
        optimizer (zero-config): a new sweep over this `fit`'s budget.
        Reusing the first fit's schedule (until 2026-12-05) fine-tuned at
        the head's peak LR, not decayed by the end: keras.io's transfer
        learning in small ended at 62.2 %, against 93.0 % with a new sweep
        (benchmarks/user_scripts.py). A chunk of one run (the same
        optimizer, past step 0) continues it.
        """
        if (self.controller is None or self._installer.user_schedule is not None
                or not optimizers):
            return False
        earlier = [ref() for ref in self._optimizers_of_last_fit]
        if any(any(o is e for e in earlier) for o in optimizers):
            return False
        return all(int(_keras.to_numpy(_keras.step_counter(o))) == 0 for o in optimizers)

    def _start_afresh(self):
        """Forgets the earlier decision: a new schedule, its own LR and a sweep."""
        self.controller = None
        self._installer.schedule = None
        self._installer.own_lr = None
        if self.verbose:
            self._print("AutoLR: a new optimizer after an earlier `fit` of this "
                        "callback: a new sweep over this `fit`'s budget.")

    def on_train_begin(self, logs=None):
        # Keras 3 `fit` cannot run multi-worker: say so now (distributed.py).
        distributed.check_fit_supported(
            getattr(self.model, "distribute_strategy", None))
        optimizers = install.driven(self.model, self._given_optimizers)
        if not optimizers:
            raise ValueError(
                "AutoLR needs a compiled model with an optimizer, or "
                "`AutoLR(optimizer=...)`. Received model.optimizer=None"
            )
        # The other callbacks of this fit (None when not found: best effort).
        self._fit_callbacks = _keras.fit_callbacks(self)
        error = fit_checks.other_lr_setter(
            self, self._fit_callbacks, self.model, optimizers)
        if error is None:
            error = fit_checks.learning_rate_scales_weights(optimizers)
        if error is None:
            error = fit_checks.tensorboard_missing(self._fit_callbacks)
        if error is not None:  # another LR setter, FTRL, or no tensorboard package
            self._installer.uninstall()
            raise error
        if (self.params or {}).get("epochs") == 0:
            # `fit(epochs=0)` trains nothing, and AutoLR does nothing either.
            self._installer.uninstall()
            self._run = None
            return
        # Only a budget read from this fit's params may follow its
        # `initial_epoch`, known at the first epoch (FitRun._sync).
        from_params = (self.total_steps is None and self._template.total_steps is None
                       and self.schedule.total_steps is None)
        total = fit_checks.budget(
            self.total_steps, self._template.total_steps, self.params)
        for each in optimizers:
            self._installer.install(
                each, self.model, self._print if self.verbose else None)
        if self.schedule.total_steps is None:
            self.schedule.total_steps = total
        elif self.schedule.total_steps != total and self.total_steps is None:
            total = self.schedule.total_steps
        sweep = short_budget_lib.choose(self, total)
        self._optimizers_of_last_fit = [weakref.ref(o) for o in optimizers]
        # The rest is this fit's (fit_run.py). BatchCounter is looked up
        # here: benchmarks/speed.py replaces it to read every execution.
        self._run = FitRun(self, optimizers, self._fit_callbacks, sweep,
                           batch_counter=BatchCounter, budget_from_params=from_params)

    def on_epoch_begin(self, epoch, logs=None):
        self._run.begin_epoch(epoch)

    def on_train_batch_end(self, batch, logs=None):
        run = self._run
        counter = run.counter
        logged = logs.get(self.monitor) if logs else None
        # A held execution: nothing can happen yet, checked at the next read.
        if counter is None or not counter.take(batch, logged, run.horizon, run.ceiling):
            run.read(batch, logs, logged)
        run.batch_done()

    def on_epoch_end(self, epoch, logs=None):
        self._run.end_epoch(logs)

    def on_train_end(self, logs=None):
        if self._run is not None:
            self._run.end()
        self._fit_callbacks = None

    # ------------------------------------------------------------ seeing it
    def plot(self):
        """The decision as a matplotlib `Figure` (see `keras_autolr.plot_decision`).

        Needs matplotlib (`pip install keras_autolr[plot]`).
        """
        from keras_autolr.tools.plotting import plot_decision  # matplotlib is optional

        if self.controller is None:
            raise ValueError(
                "AutoLR.plot() needs a decision: call it after `fit`. "
                "Received decision=None"
            )
        return plot_decision(self.record.loss, self.decision,
                             schedule=self.schedule,
                             options=self.controller.detector.options)

    # ------------------------------------------------------------ helpers
    @property
    def _snapshot(self):
        """The host copies of the weights of the last `fit` (`SnapshotRing`)."""
        return None if self._run is None else self._run.snapshot

    def _print(self, message):
        """One line via Keras' `print_msg`, never glued onto a progress bar."""
        if _keras.progress_bar_mid_line(self._fit_callbacks):
            message = "\n" + message
        _keras.print_msg(message)
