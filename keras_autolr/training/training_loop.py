"""`WarmupDriver`: AutoLR for a custom training loop (`strategy.run`)."""

import warnings

import numpy as np

from keras_autolr import _keras
from keras_autolr import _validation
from keras_autolr import schedule_state
from keras_autolr.decision import options as options_lib
from keras_autolr.training import distributed
from keras_autolr.training import engine
from keras_autolr.training import fit_checks
from keras_autolr.training import resume
from keras_autolr.training import state as state_lib
from keras_autolr.decision.controller import WarmupController
from keras_autolr.training.engine import WarmupEngine
from keras_autolr.training.snapshot import SnapshotRing
from keras_autolr.training.snapshot_files import SnapshotFiles
from keras_autolr.schedule import AutoLRSchedule
from keras_autolr._keras import tf


class WarmupDriver:
    """Finds the warmup length and peak LR in a loop you write yourself.

    What the `AutoLR` callback does inside `fit`, for a custom training loop:
    give it the global mean loss after each step (or each group of steps);
    it records the loss, tests when a test is due, and switches the
    `AutoLRSchedule` your optimizer reads from. Under
    `MultiWorkerMirroredStrategy` every worker calls `on_step_end` with the
    same loss, and after each test every worker takes the chief's decision
    (`keras_autolr.training.distributed.agree`), so all workers train with the same
    LR at every step. This is the way to run AutoLR multi-worker on Keras 3,
    whose `fit` does not run there (keras-team/keras#20585). Create the
    driver on every worker, at the same point: it takes the chief's state
    when created too (a collective op).

    Example:

    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    schedule = keras_autolr.AutoLRSchedule(total_steps=1000)
    with strategy.scope():
        model = make_model()
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
    driver = keras_autolr.WarmupDriver(schedule, strategy=strategy,
                                       model=model, optimizer=optimizer)

    @tf.function
    def train_step(iterator):
        def step_fn(x, y):
            with tf.GradientTape() as tape:
                per_example = loss_fn(y, model(x, training=True))
                loss = tf.nn.compute_average_loss(
                    per_example, global_batch_size=GLOBAL_BATCH)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss
        per_replica = strategy.run(step_fn, args=next(iterator))
        return strategy.reduce("SUM", per_replica, axis=None)

    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    for step in range(1000):
        driver.on_step_end(train_step(iterator))
    driver.on_train_end()
    print(driver.switch_step, driver.peak_lr)
    ```

    Args:
        schedule: `AutoLRSchedule` with `total_steps` set, the one the
            optimizer reads its learning rate from. Its state variables are
            built here, under `strategy`'s scope: create the driver before
            the first training step.
        strategy: `tf.distribute.Strategy` or None (the current one).
        options: `keras_autolr.Options` or None (the defaults), as in
            `AutoLR`. Its `check_every` must be `"auto"` or an int (a custom
            loop has no epochs). Its `rewind` and `restore_on_fault` apply
            when `model` is given.
        verbose: 0 (silent) or 1 (a line when warmup ends). Defaults to 1.
        model: the Keras model the loop trains, or None. With it, the
            driver keeps host copies of its weights and of the optimizer's
            state, as `AutoLR` does: at the switch the weights go back to
            before the overshoot (the rewind), and a non-finite loss or a
            blow-up in the decay puts back a sound copy. Without it the
            loop owns the weights: the decay starts from wherever the sweep
            left them. Call `on_step_end` after the step's update, outside
            `tf.function`.
        optimizer: the optimizer that reads `schedule`, or None
            (`model.optimizer`). The schedule's decision is saved with it,
            and on JAX reaches a compiled step only through its variables:
            pass it (or `model`) there, before the first step. A driver
            created on an optimizer past step 0 (a loop started again from
            a checkpoint) counts from that step: a restored decision is
            kept, and a sweep goes on from where it was, from the state in
            `backup_dir`, else (with a warning) on the losses seen from
            then on.
        backup_dir: str or None. Where `backup()` saves the driver's state:
            the loss record, the decision and, with `model` on one worker,
            the copies the rewind may still use (the chief writes it). A
            driver created with the same `backup_dir` on an optimizer past
            step 0 (a loop started again from a checkpoint) takes it back,
            and goes on as the uninterrupted loop would have. Call
            `backup()` each time you save the checkpoint. Defaults to None.

    Attributes:
        options: the `Options` in use.
        controller: the `WarmupController` (loss record, detector).
        snapshot: the `SnapshotRing` of host copies with `model`, else None.
        overridden: int. Tests after which this worker's own decision
            differed from the chief's and was replaced by it (0 on the chief
            and on a single worker).
    """

    def __init__(self, schedule, strategy=None, options=None, verbose=1,
                 model=None, optimizer=None, backup_dir=None):
        if not isinstance(schedule, AutoLRSchedule):
            raise TypeError(
                "`schedule` must be an `AutoLRSchedule`. "
                f"Received schedule={schedule!r}"
            )
        if schedule.total_steps is None:
            raise ValueError(
                "`WarmupDriver` needs the budget: create the schedule with "
                "`total_steps`. Received schedule.total_steps=None"
            )
        self.options = options_lib.resolve(options)
        if self.options.check_every == "epoch":
            raise ValueError(
                "`WarmupDriver` has no epochs: use Options(check_every='auto') "
                "or an int. Received options.check_every='epoch'"
            )
        if verbose not in (0, 1):
            raise ValueError(f"`verbose` must be 0 or 1. Received verbose={verbose!r}")
        self.schedule = schedule
        self.backup_dir = _validation.directory("backup_dir", backup_dir)
        if strategy is None and tf is not None:
            strategy = tf.distribute.get_strategy()
        self.strategy = strategy  # None on JAX and torch: one host loop
        self.verbose = verbose
        self.snapshot = _snapshot_ring(model, optimizer)
        if self.snapshot is not None:
            optimizer = self.snapshot.optimizer
        start = _start_step(optimizer, schedule)
        schedule.build(self.strategy)
        if optimizer is not None:  # JAX: the compiled step reads the switch
            schedule_state.attach(optimizer, schedule)
        # The copies go with the state on one worker only: the others
        # would need the chief's files (a restart there takes new ones).
        self._snapshot_files = None
        if (self.backup_dir is not None and self.snapshot is not None
                and not distributed.is_multi_worker(self.strategy)):
            self._snapshot_files = SnapshotFiles(self.backup_dir)
        path = resume.state_to_restore(self.backup_dir, None, start)
        saved = self._saved_state(path, start)
        if saved is not None:  # a loop started again: its state replayed
            path = path or state_lib.state_path(self.backup_dir)
            if self.snapshot is not None:
                resume.build_slots(optimizer, self.snapshot.model, self.strategy)
            self.controller = resume.restore_saved(
                saved, path, self._new_controller, start,
                self.snapshot, self._snapshot_files)
            if verbose:
                _keras.print_msg(resume.resumed_message(path, self.controller, start))
        else:
            self._new_controller()
            engine.read_schedule(self.controller)  # a restored, decided schedule
        # The record counts from the optimizer's step, the schedule's clock:
        # steps that neither the state nor this driver saw are unknown losses.
        self.controller.skip(start - self.controller.record.n_steps)
        if saved is None:
            if start and self.controller.warming_up:
                warnings.warn(
                    f"AutoLR: the optimizer is at step {start}, so the sweep goes "
                    f"on from there (LR {float(schedule.warmup_lr(start)):.4g}), "
                    "as in a loop started again from a checkpoint, its tests on "
                    "the losses seen from now on (`backup_dir` and `backup()` "
                    "keep the record). If this optimizer trained without this "
                    "schedule, create a new optimizer: AutoLR sweeps from its "
                    "step 0.", UserWarning, stacklevel=2)
        self._engine = WarmupEngine(
            self.controller, self.strategy, execute=self._execute,
            on_switch=self._report_switch, on_fault=self._warn_fault)
        # Every worker starts from the chief's state (a collective: create
        # the driver on every worker).
        self._engine.start()
        self.controller.plan_snapshot()  # the weights before the first step
        self._execute(self.controller.pop_actions())

    def _saved_state(self, path, start):
        """The state to take back (`state.SavedState`), or None.

        Under `MultiWorkerMirroredStrategy` the chief reads it and every
        worker takes the chief's record (`distributed.chief_record`, a
        collective): the others need not see the chief's files.
        """
        multi_worker = (self.backup_dir is not None and start > 0
                        and distributed.is_multi_worker(self.strategy))
        saved = error = None
        if path is not None and (not multi_worker
                                 or distributed.writes_files(self.strategy)):
            try:
                saved = state_lib.load_state(path, self._fingerprint())
            except state_lib.StateFileError as caught:
                if not multi_worker:
                    raise
                error = caught  # the others stop too, then the chief says why
        if multi_worker:
            try:
                saved = distributed.chief_record(
                    self.strategy, saved, start, failed=error is not None)
            except state_lib.StateFileError:
                if error is not None:
                    raise error from None
                raise
        return saved

    def _new_controller(self):
        """A fresh `WarmupController`, kept as `controller`; without `model`
        no copies (the loop owns the weights)."""
        copies = {} if self.snapshot is not None else {
            "rewind": False, "restore_on_fault": False}
        self.controller = WarmupController(self.schedule, self.options, **copies)
        return self.controller

    def _fingerprint(self):
        """What shapes the decision (`resume.fingerprint`): the state file
        of another schedule, other options or no copies is refused."""
        return resume.fingerprint(self.schedule, self.options, None,
                                  loop_copies=self.snapshot is not None)

    def backup(self):
        """Saves the driver's state to `backup_dir` (the chief writes it).

        Call it each time the loop saves its checkpoint, on every worker,
        after that step's `on_step_end`: a driver created with the same
        `backup_dir` on the optimizer restored from that checkpoint goes on
        as this one would. The files are written atomically; a kill during
        the write leaves the previous state.

        Raises:
            ValueError: the driver has no `backup_dir`.
        """
        if self.backup_dir is None:
            raise ValueError(
                "`backup()` saves to the driver's `backup_dir`: create it with "
                "WarmupDriver(..., backup_dir=...). Received backup_dir=None")
        if distributed.writes_files(self.strategy):
            resume.save(self.backup_dir, self.controller, self._fingerprint(),
                        self.snapshot, self._snapshot_files)

    @property
    def overridden(self):
        """Tests after which the chief's decision replaced this worker's own."""
        return self._engine.overridden

    @property
    def step(self):
        """Optimizer steps seen so far."""
        return self.controller.record.n_steps

    @property
    def warming_up(self):
        return self.controller.warming_up

    @property
    def switch_step(self):
        """Step at which decay started, or None while warming up."""
        return self.controller.switch_step

    @property
    def peak_lr(self):
        """LR at which decay started, or None while warming up."""
        return self.controller.peak_lr

    @property
    def decision(self):
        """The `Decision`: switch step, peak LR, reason, every test's result."""
        return self.controller.decision

    def on_step_end(self, loss, steps=1):
        """Records the global mean loss of the last `steps` steps; decides.

        Call it on every worker after every training step (or after every
        group of `steps` steps run in one `tf.function` call), with the loss
        that `strategy.reduce` returns: the same value on every worker.

        Args:
            loss: float or scalar tensor. The mean training loss of the
                steps just run, over the global batch.
            steps: int. How many optimizer steps it covers. Defaults to 1.

        Returns:
            The `TestResult` of this worker's test if one ran now, else None.
        """
        steps = _validation.positive_int("steps", steps)
        if tf is not None and isinstance(loss, tf.distribute.DistributedValues):
            raise TypeError(
                "`loss` must be the global loss, one value: reduce it first "
                "with `strategy.reduce('SUM', per_replica_loss, axis=None)` "
                "(or 'MEAN'). Received a per-replica value: "
                f"loss={type(loss).__name__}"
            )
        value = np.asarray(loss, np.float64)
        if value.size != 1:
            raise ValueError(
                "`loss` must be a scalar. Received loss with shape "
                f"{value.shape}"
            )
        return self._engine.observe(float(value), steps)

    def _execute(self, actions):
        """Takes the copies and restores the controller planned."""
        if self.snapshot is not None:
            self.snapshot.carry_out(actions, self.controller)

    def _warn_fault(self):
        """Warns after a non-finite loss that did not end warmup, or a
        blow-up in the decay (names the engine's line)."""
        fit_checks.warn_fault(self.controller)

    def _report_switch(self):
        if self.verbose:
            _keras.print_msg(engine.switch_message(self.controller))

    def on_train_end(self):
        """Call it once the loop is done, on every worker.

        With `model`, weights that are not finite are replaced by the
        newest copy of them (which is finite), with a warning, as `AutoLR`
        does at the end of `fit`: training never ends on NaN weights.
        Without `model` it does nothing.
        """
        if self.snapshot is not None:
            fit_checks.finite_at_end(self.snapshot, stacklevel=2)

    def learning_rate(self, step=None):
        """The schedule's LR at `step` (default: the next step), a float."""
        return float(self.schedule(self.step if step is None else step))


def _start_step(optimizer, schedule):
    """The step `optimizer` starts at (0 when unknown); it must lie inside
    the budget."""
    if optimizer is None:
        return 0
    start = int(_keras.step_counter(optimizer).numpy())
    if start >= schedule.total_steps:
        raise ValueError(
            f"The budget of {schedule.total_steps} steps is spent: the optimizer "
            f"is at step {start}, and the learning rate is 0 from step "
            f"{schedule.total_steps} on. Create the schedule with a `total_steps` "
            f"above {start}. Received optimizer.iterations={start}")
    return start


def _snapshot_ring(model, optimizer):
    """The `SnapshotRing` of `model` and `optimizer` (default
    `model.optimizer`), or None without a model."""
    if model is None:
        return None
    if not hasattr(model, "weights"):
        raise TypeError(f"`model` must be a Keras model. Received model={model!r}")
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            "`WarmupDriver(model=...)` needs the optimizer that reads the "
            "schedule: pass `optimizer=`, or compile the model with it. "
            "Received optimizer=None and model.optimizer=None")
    return SnapshotRing(model, optimizer)
