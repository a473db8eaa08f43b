"""One warmup decision on every replica and every worker (`tf.distribute`).

Under one process (the default strategy, `MirroredStrategy`, `TPUStrategy`)
there is one host loop and one decision: nothing to agree on. Under
`MultiWorkerMirroredStrategy` every worker runs its own copy of the host
loop. Each sees the same global loss (Keras' loss metric is read through an
all-reduce, a custom loop reduces its loss with `strategy.reduce`), tests at
the same steps (the cadence depends on step counts only) and seeds its
detector alike, so the workers would decide alike; but a GP fit in floating
point on different hosts need not give the same bits. `agree` makes the
decision the same by construction: after each test, every worker takes the
chief's.

The decision travels as one float64 vector
`[switched, switch_step, peak_lr, reason, best_lr, has_best]` through an all-reduce SUM to which
only global replica 0 (on the chief) contributes non-zero values, so every
worker receives the chief's numbers exactly (`x + 0.0 == x`; a step count is
exact in float64 up to 2**53). The all-reduce is a collective op: every
worker must call `agree` at the same points, which `AutoLR` and
`WarmupDriver` do: when training starts (so that a worker resumed into
another state starts from the chief's), and each time a test runs, whatever
its outcome. Both points depend only on the step count, on the global
loss (the same on every worker) and on the agreed state, so by induction
every worker calls `agree` at the same steps.
(The schedule's state variables, created under the strategy's scope, also
start from the chief's values: the strategy broadcasts initial values.)

Keras 3's own `model.fit` does not run under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585); `check_fit_supported` says so before training.
"""

import collections
import weakref

import numpy as np

from keras_autolr import _keras
from keras_autolr.decision import controller as controller_lib
from keras_autolr.training import state as state_lib
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import tf

KERAS_MULTI_WORKER_ISSUE = "keras-team/keras#20585"

# The reasons warmup ends, as the integer codes the broadcast carries.
_REASONS = (None, controller_lib.DETECTED, controller_lib.CAP,
            controller_lib.DIVERGED, controller_lib.RESTORED,
            controller_lib.SHORT_BUDGET)

SwitchDecision = collections.namedtuple(
    "SwitchDecision", ["switch_step", "peak_lr", "reason", "best_lr"],
    defaults=[None])
SwitchDecision.__doc__ = """The part of a decision every worker must share.

Attributes:
    switch_step: int or None. Step at which decay starts; None while warming up.
    peak_lr: float or None. LR decay starts from.
    reason: str or None. Why warmup ended (`controller.DETECTED`, ...).
    best_lr: float or None. The newest chosen LR of a test that located a
        minimum (`WarmupController._located_nothing`), which decides the
        snapshots kept for the rewind.
"""


def num_workers(strategy):
    """Host processes that each run their own copy of the training loop.

    1 for the default strategy, `MirroredStrategy` and `TPUStrategy` (one
    client drives every device, on one host or on a TPU pod); the chief plus
    the workers of the cluster for `MultiWorkerMirroredStrategy`.
    """
    if strategy is None or tf is None:  # JAX and torch: one host loop
        return 1
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    workers = _keras.strategy_num_workers(strategy)
    if workers is not None:
        return workers
    spec = strategy.cluster_resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("chief", ())) + len(spec.get("worker", ())))


def writes_files(strategy):
    """True on the one process that should write shared files (the chief).

    Every worker holds the same agreed state, so one copy is enough; the
    others would race for the same file.
    """
    if not is_multi_worker(strategy):
        return True
    return bool(getattr(strategy.extended, "should_checkpoint", True))


def is_multi_worker(strategy):
    """True when more than one process runs the training loop."""
    return num_workers(strategy) > 1


def check_fit_supported(strategy):
    """Raises before training when Keras' `fit` cannot run under `strategy`.

    Keras 3 `model.fit` fails under a multi-worker
    `MultiWorkerMirroredStrategy` (keras-team/keras#20585). Two ways work:
    Keras 2 (`pip install tf-keras` and `TF_USE_LEGACY_KERAS=1`), or a custom
    training loop driven by `keras_autolr.WarmupDriver`.
    """
    if IS_KERAS_3 and is_multi_worker(strategy):
        raise RuntimeError(
            "AutoLR: Keras 3 `model.fit` does not run under "
            "MultiWorkerMirroredStrategy with more than one worker "
            f"({KERAS_MULTI_WORKER_ISSUE}). Two ways work: (1) Keras 2 "
            "`fit`: `pip install tf-keras` and set the environment variable "
            "TF_USE_LEGACY_KERAS=1 before importing TensorFlow; (2) a custom "
            "training loop (`strategy.run`) with `keras_autolr.WarmupDriver`. "
            f"Received strategy={type(strategy).__name__} with "
            f"{num_workers(strategy)} workers"
        )


def build_learning_rate_variable(optimizer, schedule, strategy):
    """Keras 2: creates the optimizer's current-LR variable now, eagerly.

    A Keras 2 optimizer created with a float LR and given a schedule later
    (zero-config `AutoLR`) creates its `current_learning_rate` variable
    lazily, inside the first traced train step. Under
    `MultiWorkerMirroredStrategy` a variable created there cannot be
    initialized (its initial value is broadcast from the chief by a
    collective op) and the first step fails. This creates it as an
    optimizer built with the schedule does: under the strategy's scope,
    outside any function. Does nothing on Keras 3 or when it exists.
    """
    build = _keras.keras2_learning_rate_builder(optimizer)
    if build is None:
        return
    if strategy is None:
        build(schedule)
        return
    with strategy.scope():
        build(schedule)


def agree(strategy, decision):
    """The chief's `SwitchDecision`, on every worker.

    The identity on a single worker (no strategy, the default strategy,
    `MirroredStrategy`, `TPUStrategy`). Under a multi-worker strategy it is a
    collective: every worker must call it at the same point.

    Args:
        strategy: `tf.distribute.Strategy` or None.
        decision: `SwitchDecision`, this worker's.

    Returns:
        `SwitchDecision`: the chief's, exactly (the step as int, the peak LR
        as the same float64).
    """
    if not is_multi_worker(strategy):
        return decision
    switched = decision.switch_step is not None
    local = np.array([
        1.0 if switched else 0.0,
        float(decision.switch_step) if switched else 0.0,
        float(decision.peak_lr) if switched else 0.0,
        float(_REASONS.index(decision.reason)),
        0.0 if decision.best_lr is None else float(decision.best_lr),
        0.0 if decision.best_lr is None else 1.0,
    ], dtype=np.float64)
    chief = _broadcaster(strategy)(tf.constant(local)).numpy()
    best = float(chief[4]) if chief[5] else None
    if chief[0] == 0.0:
        return SwitchDecision(None, None, _REASONS[int(chief[3])], best)
    return SwitchDecision(int(chief[1]), float(chief[2]), _REASONS[int(chief[3])],
                          best)


def agree_controller(strategy, controller):
    """Puts the chief's decision into this worker's `WarmupController`.

    Call it on every worker each time a test runs (whatever the outcome).

    Returns:
        True when this worker's own decision differed and was replaced.
    """
    local = SwitchDecision(controller.switch_step, controller.peak_lr,
                           controller.reason, controller.best_lr)
    chief = agree(strategy, local)
    if chief == local:
        return False
    (controller.switch_step, controller.peak_lr, controller.reason,
     controller.best_lr) = chief
    if controller.switch_step is not None:
        controller.plan_decay_guard()
        controller.plan_rewind()  # from the chief's choice
    else:
        controller.restored_step = None
        controller.pop_actions()
        controller.plan_snapshot()
    return True


def chief_record(strategy, saved, start, failed=False):
    """The record the chief saved, cut at step `start`, on every worker.

    A loop started again takes back the state that the chief alone wrote
    (`WarmupDriver.backup`), so the other workers need not read the
    chief's files. A collective: every worker calls it, with the same
    `start`. The record travels as one float64 vector of `4 + 3 * start`
    values from global replica 0, as the decision does in `agree`:
    `[has_state, n_steps, switch_step, restored_step]`, then the loss of
    each step, then 1 at the last step of each execution, then 1 there
    when its losses were seen (a NaN loss travels as NaN: `NaN + 0.0`).
    `has_state` -1 says that the chief could not read its state: every
    worker then raises, rather than wait for the chief at the next
    collective.

    Args:
        strategy: `tf.distribute.Strategy`, multi-worker.
        saved: `state.SavedState` or None: the chief's (ignored elsewhere).
        start: int. The step the restored weights are at.
        failed: bool. The chief could not read its state file.

    Returns:
        A `SavedState` without snapshot steps, or None when the chief has
        no state.

    Raises:
        StateFileError: the chief could not read its state (`failed`).
    """
    local = np.zeros(4 + 3 * start, np.float64)
    if failed:
        local[0] = -1.0
    elif saved is not None:
        ends, observed = [], []
        for end, seen in zip(saved.ends, saved.observed):
            end = min(int(end), start)
            if ends and end <= ends[-1]:
                break
            ends.append(end)
            observed.append(bool(seen))
        n_steps = ends[-1] if ends else 0
        decision = saved.decision
        local[:4] = [1.0, n_steps, _step_or_minus_one(decision.get("switch_step")),
                     _step_or_minus_one(decision.get("restored_step"))]
        local[4:4 + n_steps] = saved.losses[:n_steps]
        last = np.asarray(ends, np.int64) - 1
        local[4 + start + last] = 1.0
        local[4 + 2 * start + last] = np.asarray(observed, np.float64)
    chief = _broadcaster(strategy, local.size)(tf.constant(local)).numpy()
    if chief[0] < 0.0:
        raise state_lib.StateFileError(
            "The chief could not read the AutoLR state in its `backup_dir` "
            "(its error says why): every worker stops before training.")
    if chief[0] == 0.0:
        return None
    n_steps = int(chief[1])
    last = np.flatnonzero(chief[4 + start:4 + 2 * start])
    decision = {"switch_step": None if chief[2] < 0 else int(chief[2]),
                "restored_step": None if chief[3] < 0 else int(chief[3])}
    return state_lib.SavedState(
        losses=chief[4:4 + n_steps].copy(), ends=last + 1,
        observed=chief[4 + 2 * start + last] > 0.5, decision=decision,
        snapshot_steps=None)


def _step_or_minus_one(step):
    return -1.0 if step is None else float(step)


_BROADCASTERS = weakref.WeakKeyDictionary()


def _broadcaster(strategy, size=6):
    """A `tf.function` that all-reduces what global replica 0 holds, for
    float64 vectors of `size` (cached)."""
    functions = _BROADCASTERS.setdefault(strategy, {})
    if size not in functions:

        def from_first_replica(values):
            context = tf.distribute.get_replica_context()
            first = tf.equal(context.replica_id_in_sync_group, 0)
            return tf.where(first, values, tf.zeros_like(values))

        @tf.function(input_signature=[tf.TensorSpec([size], tf.float64)])
        def broadcast(values):
            contributions = strategy.run(from_first_replica, args=(values,))
            return strategy.reduce(
                tf.distribute.ReduceOp.SUM, contributions, axis=None)

        functions[size] = broadcast
    return functions[size]
