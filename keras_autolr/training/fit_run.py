"""`FitRun`: what `AutoLR` does during one `fit`.

`AutoLR` (callback.py) keeps what lasts across fits: its options, the
schedule it installed and the `WarmupController` (a second `fit` of the
same callback continues it). A `FitRun` is built in `on_train_begin` and
holds the rest, for that `fit` only: the optimizers driven, the loss reader
(loss_record.py), the host copies of the weights (snapshot.py), the host
counting of quiet executions (batch_counter.py), the `WarmupEngine`
(engine.py) and the TensorBoard scalars (summaries.py). The callback's
hooks call it: `begin_epoch`, `read` (an execution the host counter did
not take), `end_epoch` and `end`.

Its warnings name the frames they named when this was the callback's own
code: the engine's line for a fault or a diverged switch, the line of
`fit` that called `on_train_end` for weights put back, and the callback's
`on_epoch_begin` for a budget too short for a test.
"""

import functools
import math
import warnings

from keras_autolr import _keras
from keras_autolr.training import distributed
from keras_autolr.training import engine
from keras_autolr.training import fit_checks
from keras_autolr.training import install
from keras_autolr.training import lease
from keras_autolr.training import resume
from keras_autolr.training import short_budget
from keras_autolr.training import summaries
from keras_autolr.decision.controller import DIVERGED
from keras_autolr.decision.controller import WarmupController
from keras_autolr.training.early_stopping import EarlyStoppingAfterWarmup
from keras_autolr.training.engine import WarmupEngine
from keras_autolr.training.loss_reader import ExecutionLossReader
from keras_autolr.training.loss_reader import MissingLossError
from keras_autolr.training.snapshot import JointOptimizers
from keras_autolr.training.snapshot import SnapshotRing
from keras_autolr.training.snapshot_files import SnapshotFiles
from keras_autolr.training.terminate_on_nan import HeldTerminateOnNaN


class FitRun:
    """One `fit` of an `AutoLR`: reads the executions and drives the engine.

    Built by `AutoLR.on_train_begin` once the schedule is installed. The
    first epoch aligns the controller's record with the optimizer's step
    counter (a new run, a resumed one, or the same callback fit again);
    every execution the host counter does not take is read exactly and
    handed to the `WarmupEngine`, which tests, switches and reports.

    Example:

    ```python
    run = FitRun(autolr, optimizers, fit_callbacks, sweep=True)
    run.begin_epoch(0)
    for batch in range(steps_per_epoch):
        ...  # one training step; Keras logs its running mean loss
        logged = logs.get("loss")
        counter = run.counter
        if counter is None or not counter.take(batch, logged, run.horizon, run.ceiling):
            run.read(batch, logs, logged)
    run.end_epoch(logs)
    run.end()
    print(autolr.controller.decision)
    ```

    Args:
        autolr: the `AutoLR` whose `fit` this is. Its options, `model`,
            `params` and `schedule` are read; its `controller` is continued,
            or replaced by a new or resumed one at the first epoch.
        optimizers: the optimizers driven; the first one's step counter is
            the schedule's clock.
        fit_callbacks: the callbacks of this `fit`, or None when unknown.
        sweep: bool. Whether this budget sweeps (`short_budget.choose`).
        batch_counter: callable or None. Builds the host counter from the
            steps per epoch (`BatchCounter`); None, or a callable returning
            None, reads every execution.

    Attributes:
        counter: the `BatchCounter` holding quiet executions, or None
            (before the first epoch; once this `fit` reads every execution).
        horizon: int. The first step at which an execution may end with
            more than a record (`WarmupController.quiet_until`).
        ceiling: float. A loss above it is read exactly: a blow-up in the
            decay (`WarmupController.decay_ceiling`, as of the last read).
        snapshot: the `SnapshotRing` of host copies of the weights.
    """

    def __init__(self, autolr, optimizers, fit_callbacks, sweep,
                 batch_counter=None, budget_from_params=False):
        self.autolr = autolr
        self.model = autolr.model
        self.schedule = autolr.schedule
        self.optimizers = optimizers
        self.sweep = sweep
        # The budget is this fit's epochs x steps: it follows `initial_epoch`.
        self._budget_from_params = budget_from_params
        self._batch_counter = batch_counter
        self._print = autolr._print
        self._uninstall = autolr._installer.uninstall
        # Where AutoLR's state is kept: `backup_dir`, else beside the
        # checkpoint of a BackupAndRestore in the same fit (resume by default).
        self._state_dir = resume.state_dir(autolr.backup_dir, fit_callbacks)
        strategy = getattr(self.model, "distribute_strategy", None)
        self._strategy = strategy  # agreement across workers (distributed.py)
        self.schedule.build(strategy)
        # Keras 2 zero-config under MultiWorkerMirroredStrategy (distributed.py).
        for each in optimizers:
            distributed.build_learning_rate_variable(each, self.schedule, strategy)
            install.claim(each, autolr, autolr.params)
        self._reader = ExecutionLossReader(self.model, autolr.monitor)
        self.snapshot = SnapshotRing(self.model, optimizers[0] if len(optimizers) == 1
                                     else JointOptimizers(optimizers))
        # The snapshots the rewind may still use, saved with the state and
        # put back on resume. Not across workers: each would need the
        # chief's files (a resume there takes new ones, as each worker).
        self._snapshot_files = None
        if self._state_dir is not None and not distributed.is_multi_worker(strategy):
            self._snapshot_files = SnapshotFiles(self._state_dir)
        # The step counter is read at the first epoch, after every
        # callback's on_train_begin: BackupAndRestore may restore it.
        self._synced = False
        self.counter = None
        self.horizon = 0
        self.ceiling = math.inf
        self.epoch = 0
        self.steps_seen = 0
        # TensorBoard scalars: this fit's destination, or None.
        self._summaries = summaries.open_for(autolr, fit_callbacks)
        # A TerminateOnNaN stops only what AutoLR did not restore.
        self.terminate_on_nan = HeldTerminateOnNaN(autolr, fit_callbacks)
        # An EarlyStopping watches from the epoch in which warmup ends.
        self.early_stopping = EarlyStoppingAfterWarmup(fit_callbacks)
        self._restored = False  # a copy was put back at this batch
        self._lease_steps = None  # how far each lease reaches (lease.py)

    @property
    def controller(self):
        """The `WarmupController` this fit drives: the callback's own."""
        return self.autolr.controller

    # ------------------------------------------------------------ the hooks
    def begin_epoch(self, epoch):
        """An epoch begins; the first one of the `fit` aligns the record."""
        self.epoch = epoch
        if not self._synced:
            self._sync(epoch)
            # Quiet executions are counted on the host (batch_counter.py).
            steps = (self.autolr.params or {}).get("steps")
            new_counter = self._batch_counter
            self.counter = new_counter(steps) if steps and new_counter else None
            self.horizon = 0
        self._reader.start_epoch()
        if self.counter is not None:
            self.counter.start_epoch()
        controller = self.controller
        self.early_stopping.epoch_begins(
            epoch, controller.warming_up and controller.sweep)

    def read(self, batch, logs, logged):
        """Reads an execution the host counter did not take, and hands it over.

        Args:
            batch: the batch index `fit` reports.
            logs: the batch's logs, or None.
            logged: the logged value of the monitored loss, or None.
        """
        # JAX: the variables hold this execution's values, and what the
        # host writes now reaches the next one (`_keras.sync_model_state`).
        _keras.sync_model_state(self.model)
        step = int(self._read_step())
        if self._first_batch:
            self._first_batch = False
            self._check_optimizers_stepped()
        steps = step - self.steps_seen
        if steps <= 0:
            self._stop_counting()  # counted steps that were not taken
            return
        try:
            loss = self._reader.read(logs, steps)
        except MissingLossError:
            self._undo_first_steps()
            self._uninstall()
            raise
        self._hand_over(batch, step, loss, steps, logged)

    def batch_done(self):
        """After each batch's read: the held `TerminateOnNaN` checks run,
        unless a copy of the weights was put back (terminate_on_nan.py)."""
        restored, self._restored = self._restored, False
        if self.terminate_on_nan.held:
            self.terminate_on_nan.batch_read(restored)

    def end_epoch(self, logs):
        """Settles held executions, logs the LR and saves AutoLR's state."""
        self._settle_held()
        if logs is not None:
            logs["learning_rate"] = float(self.schedule(self.steps_seen))
        if self._state_dir is not None and distributed.writes_files(self._strategy):
            # The chief's copy (every worker agrees on it).
            resume.save(self._state_dir, self.controller, self._fingerprint(),
                        self.snapshot, self._snapshot_files)

    def end(self):
        """The `fit` ends: no held count, no non-finite weights, claims off.

        Call it from `on_train_end`: its warning names the caller's caller.
        """
        self._settle_held()
        if self._sweeping():
            # No host looks any more: past here, without AutoLR, the own LR.
            _keras.sync_model_state(self.model)
            lease.end(self.schedule, self.steps_seen)
        fit_checks.finite_at_end(self.snapshot, stacklevel=3)
        for optimizer in self.optimizers:
            install.release(optimizer)
        self.terminate_on_nan.release()
        self.early_stopping.release()
        if self._summaries is not None:  # TensorBoard scalars
            self._summaries.close()
            self._summaries = None

    # ------------------------------------------------------------ reading
    def _hand_over(self, batch, step, loss, steps, logged=None):
        """Gives the engine the executions up to `step` (host-counted ones first)."""
        chunks = [(loss, steps)]
        counter = self.counter
        if counter is not None and self._reader.reads_sums:
            chunks = counter.settle(batch, step, self._reader.total,
                                    self._reader.count, loss, steps, logged)
        if counter is not None and not (counter.enabled and self._reader.reads_sums):
            self.counter = None  # the rest of this fit reads exactly
        if self._summaries is not None:  # the LR these steps trained with
            self._summaries.learning_rates(self.schedule, self.steps_seen, step)
        self.steps_seen = step
        for chunk_loss, chunk_steps in chunks:
            # Test, agree, switch, report (engine.py).
            self._engine.observe(chunk_loss, chunk_steps)
        self.ceiling = self.controller.decay_ceiling
        if self.counter is not None:
            self.horizon = self.controller.quiet_until()
        self._renew_lease(max(step, self.horizon if self.counter is not None else step))

    def _settle_held(self):
        """Reads exactly at an epoch's or `fit`'s early end: no count stays held."""
        counter = self.counter
        if counter is None or not counter.pending:
            return
        _keras.sync_model_state(self.model)
        step = int(self._read_step())
        steps = step - self.steps_seen
        if steps <= 0:
            self._stop_counting()
            return
        self._hand_over(None, step, self._reader.read(None, steps), steps)

    def _sweeping(self):
        """Whether the schedule sweeps now, on a lease (lease.py)."""
        controller = self.autolr.controller
        return (self._lease_steps is not None and self.sweep
                and controller is not None and controller.warming_up)

    def _renew_lease(self, next_look):
        """Authorises the sweep a little past the host's next look (lease.py)."""
        if self._sweeping():
            lease.renew(self.schedule, next_look, self._lease_steps)

    def _stop_counting(self):
        """Drops the held executions: the rest of this fit reads every execution."""
        if self.counter is not None:
            self.counter.discard()
            self.counter = None

    # ------------------------------------------------------------ state
    def _sync(self, epoch):
        """Aligns the record with the optimizer's step: new, resumed or restored."""
        autolr = self.autolr
        self._synced = True
        self._first_batch = True
        self._start_iterations = [int(_keras.step_counter(o).numpy())
                                  for o in self.optimizers]
        # The step counter is read after every execution: fast (_keras.py).
        self._read_step = _keras.value_reader(
            _keras.step_counter(self.optimizers[0]))
        start = self._start_iterations[0]
        if self._budget_from_params and start == 0 and epoch > 0:
            self._budget_from_initial_epoch(epoch)
        total = self.schedule.total_steps
        if start >= total:
            raise ValueError(
                resume.budget_spent_message(start, total, epoch, autolr.params))
        past_budget = resume.past_budget_message(start, total, epoch, autolr.params)
        if past_budget is not None:
            warnings.warn(past_budget, UserWarning, stacklevel=3)  # AutoLR.on_epoch_begin
        # A resumed run: the saved record replayed up to `start` (resume.py).
        path = resume.state_to_restore(self._state_dir, autolr.controller, start)
        if path is not None:
            self._build_keras2_optimizer()
            # With the snapshots saved beside the state, in the ring again.
            autolr.controller = resume.restore(
                path, self._fingerprint(),
                functools.partial(self._new_controller, restored_schedule=False),
                start, self.snapshot, self._snapshot_files)
            if autolr.verbose >= 2:
                self._print(resume.resumed_message(path, autolr.controller, start))
        elif autolr.controller is None or autolr.controller.record.n_steps > start:
            earlier = autolr.controller
            self._new_controller()
            if start == 0 and earlier is not None and earlier.switch_step is not None:
                # A new optimizer (recompiled) after an earlier fit of this
                # callback: the schedule, its decision included, is reused.
                warnings.warn(
                    "AutoLR: the optimizer starts at step 0 after an earlier "
                    "`fit` of this callback (a new or recompiled optimizer): it "
                    "trains with that fit's schedule, warmup to step "
                    f"{earlier.switch_step} and decay from LR {earlier.peak_lr:.4g}, "
                    "without a new sweep. For a new sweep (e.g. fine-tuning after "
                    "training a new head), pass a new `AutoLR()` to this `fit`.",
                    UserWarning, stacklevel=3)  # AutoLR.on_epoch_begin
        controller = autolr.controller
        controller.skip(start - controller.record.n_steps)
        self.steps_seen = start
        self._engine = WarmupEngine(
            controller, self._strategy, execute=self._execute,
            on_test=self._on_test, on_switch=self._apply_switch,
            on_fault=self._warn_fault)
        # Snapshots live in this process's memory: a new fit starts with
        # none, and takes one now; a resumed one holds those saved with the
        # state (none when there are none to use: resume.restore).
        if path is None:
            self.snapshot.clear()
            controller.forget_snapshots()
        # Every worker starts from the chief's decision, e.g. after a resume
        # whose replayed tests differed (distributed.py).
        self._engine.start()
        self.ceiling = controller.decay_ceiling  # a resumed decay's
        # Names the line of AutoLR.on_epoch_begin (_sync, begin_epoch, the hook).
        fit_checks.warn_if_too_short(controller, self.schedule, stacklevel=4)
        controller.plan_snapshot()
        self._execute(controller.pop_actions())
        self._lease_steps = lease.lease_steps(
            self.model, self.schedule, (autolr.params or {}).get("steps"))
        self._renew_lease(start)

    def _budget_from_initial_epoch(self, epoch):
        """A new optimizer in a `fit(initial_epoch=epoch, epochs=n)`: the budget
        is the `n - epoch` epochs it runs, not `n`.

        TensorFlow's fine-tuning tutorial recompiles and fits again with
        `initial_epoch` past the first `fit`'s epochs. Keras tells a
        callback the epoch only when it begins, so `on_train_begin` took the
        `n` epochs: the warmup cap then fell at the end of the `fit` and the
        LR never decayed. Set before the first step is traced. A resumed
        run (the optimizer past step 0) keeps the budget of all its epochs.
        """
        total = resume.fit_end(0, epoch, self.autolr.params)
        if (total is None or total == self.schedule.total_steps
                or self.schedule.switch_step is not None):
            return
        self.schedule.total_steps = total
        if self.sweep:  # a constant own LR stays one
            self.sweep = short_budget.choose(self.autolr, total)

    def _build_keras2_optimizer(self):
        """Keras 2: the slots the saved snapshots hold (`resume.build_slots`).

        One optimizer only: several (a GAN's) train different variables,
        which the model does not tell.
        """
        if len(self.optimizers) == 1:
            resume.build_slots(self.optimizers[0], self.model, self._strategy)

    def _new_controller(self, restored_schedule=True):
        """A new `WarmupController` from AutoLR's options, kept as its `controller`."""
        autolr = self.autolr
        autolr.controller = WarmupController(
            self.schedule, autolr.options,
            steps_per_epoch=(autolr.params or {}).get("steps"),
            sweep=self.sweep,
            min_peak=autolr._own_lr if autolr.options.own_lr_floor else None,
        )
        if restored_schedule:  # a loaded schedule that already switched
            engine.read_schedule(autolr.controller)
        return autolr.controller

    def _fingerprint(self):
        """The options that shape the decision and the LR (resume.py)."""
        autolr = self.autolr
        return resume.fingerprint(
            self.schedule, autolr.options, (autolr.params or {}).get("steps"),
            autolr.monitor, sweep=self.sweep)

    def _undo_first_steps(self):
        """Before an error at the end of the first execution: as before `fit`.

        The weights and optimizer state come back from the copy taken when
        the fit started (snapshot.py; none with snapshots off), and the step
        counters are put back, so the error leaves the model as an error
        before training would.
        """
        if self.snapshot.restore(self.steps_seen):
            for optimizer, before in zip(self.optimizers, self._start_iterations):
                _keras.step_counter(optimizer).assign(before)

    def _check_optimizers_stepped(self):
        """At the end of the first step: every optimizer driven stepped."""
        error = fit_checks.optimizer_not_stepped(
            self.optimizers, self._start_iterations)
        if error is not None:  # a custom `train_step` applies other optimizers
            self._uninstall()
            raise error

    # ------------------------------------------------------------ the engine's
    def _execute(self, actions):
        """Takes the snapshots and restores the controller planned."""
        if self.snapshot.carry_out(actions, self.controller):
            self._restored = True
            # A non-finite loss in the metric: count anew from here.
            self._reader.clear_if_not_finite()
            if self.counter is not None:
                self.counter.invalidate(self._reader.total, self._reader.count)

    def _on_test(self, result):
        """TensorBoard scalars, and one line per test at `verbose=2`."""
        if self._summaries is not None:  # TensorBoard scalars
            self._summaries.test(result, self.controller.detector)
        if self.autolr.verbose >= 2:
            self._print(engine.test_message(result, self.controller.detector))

    def _warn_fault(self):
        """Warns after a non-finite loss that did not end warmup, or a blow-up
        in the decay (names the engine's line); TensorBoard scalars."""
        if self._summaries is not None:
            self._summaries.fault(*self.controller.faults[-1])
        fit_checks.warn_fault(self.controller)

    def _apply_switch(self):
        """Reports the switch the engine wrote into the schedule."""
        controller = self.controller
        self.early_stopping.switched(self.epoch)
        if self._summaries is not None:  # TensorBoard scalars
            self._summaries.switch(controller.switch_step, controller.peak_lr,
                                   controller.restored_step)
        if controller.reason == DIVERGED:
            warnings.warn(engine.diverged_message(controller),
                          RuntimeWarning, stacklevel=2)
        if self.autolr.verbose:
            self._print(engine.switch_message(controller, self.epoch))
