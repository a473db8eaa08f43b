"""The Keras the package runs on, and every Keras internal the package reads.

The package is written once against the API that every lane shares:
Keras 3 on TensorFlow 2.16+ (`tf.keras`), on JAX and on PyTorch (`keras`,
TensorFlow not imported, and not needed), Keras 2 through `tf-keras` with
`TF_USE_LEGACY_KERAS=1`, and tf.keras 2.15. `tf` is TensorFlow on the
TensorFlow backend and None on the others: every use of it is on a
TensorFlow-only path.

Where no public API gives what AutoLR needs, the private attribute is read
here and nowhere else, each by one function, and
tests/test_keras_internals.py has one test per internal and lane that fails
when a Keras or TensorFlow release renames it:

- `optimizer._learning_rate` (Keras 2 and 3) or `_get_hyper`/`_set_hyper`
  (tf-addons `OptimizerV2`): the LR object, variable or schedule
  (`raw_learning_rate`, `set_raw_learning_rate`);
- `model._loss_tracker` (Keras 3) and `model.compiled_loss._total_loss_mean`
  (Keras 2): the compiled loss tracker (`loss_tracker`);
- `ProgbarLogger.progbar` and `Progbar._seen_so_far`: a bar mid-line
  (`progress_bar_mid_line`);
- the module `<keras>.src.utils.io_utils`: `print_msg` (`print_msg`);
- `TensorBoard._log_write_dir` (Keras 2 and 3): the run directory of this
  worker (`tensorboard_log_dir`);
- `MultiWorkerMirroredStrategy.extended._num_workers`: the worker count
  (`strategy_num_workers`);
- `optimizer._build_learning_rate` and `_current_learning_rate` (Keras 2):
  the current-LR variable (`keras2_learning_rate_builder`);
- `keras.src.saving.keras_saveable.KerasSaveable` (Keras 3): the class
  whose attributes Keras 3's weights files save (`keras_saveable_base`),
  and the kind its saving code asks each one for, `_obj_type`
  (`SaveableLeaf`);
- `Optimizer._apply_weight_decay` (Keras 2 and 3), the hook that decays
  the weights before the update: made a no-op (`WithoutBaseWeightDecay`);
- the build state of an optimizer: `_built` (Keras 2), variables besides
  `iterations` (`OptimizerV2`) (`optimizer_built`, `mark_optimizer_built`),
  and building it as `fit` does: `_name` and `_create_all_weights`
  (`OptimizerV2`) (`build_optimizer`);
- `_current_learning_rate` (Keras 2): the current-LR variable, read and
  dropped (`keras2_current_learning_rate`,
  `forget_keras2_current_learning_rate`);
- what a Keras 2 optimizer subclass does with its LR: `_build_learning_rate`
  in `__init__` (`keras2_init_learning_rate`) and
  `_serialize_hyperparameter(_learning_rate)` in `get_config`
  (`keras2_learning_rate_config`);
- what an optimizer's `update_step` reads of its base class:
  `_get_variable_index` (Keras 3) or `_index_dict` and `_var_key` (Keras 2)
  (`optimizer_variable_index`), `_overwrite_variable_with_gradient` (Keras
  3.4+) (`overwrites_with_gradient`) and `_use_weight_decay` (Keras 2 and 3)
  (`uses_weight_decay`);
- `model._train_counter` (Keras 2): the count of train steps, part of the
  state a sweep restores (`train_counter`);
- `optimizer._iterations` (Keras 3 with `gradient_accumulation_steps`):
  the count of train steps that the LR schedule is called with, where the
  public `iterations` counts updates (`step_counter`);
- none, but a fast path: `value_reader` reads a plain variable by its
  public `handle` with `tf.raw_ops.ReadVariableOp` (3-4x faster than a
  Keras 3 `variable.numpy()`, measured in benchmarks/speed.py);
- `Optimizer._track_variable` (Keras 3): the schedule's state made one
  of the optimizer's variables on JAX, whose compiled step reads only the
  variables it is handed (`track_optimizer_state`); `Model.jax_state_sync`
  and the flag it sets, `_jax_state_synced` (Keras 3, JAX): the weights
  the next compiled step reads, written back into the variables so that a
  host write reaches that step (`sync_model_state`);
- `keras.src.backend.common.stateless_scope.in_stateless_scope` (Keras 3):
  whether variables can be made now (`in_stateless_scope`);
- none, but the garbage collector: the `CallbackList` of the running
  `fit`, found among the tracked objects (`gc.get_objects`) by the params
  dict it shares with its callbacks (`fit_callbacks`, where the reason no
  direct way exists is given).
"""

import contextlib
import gc
import importlib
import os
import sys
import types

import numpy as np

_INSTALL_HINT = (
    'Install a Keras backend with it: pip install "keras_autolr[tensorflow]" '
    '(TensorFlow, the default backend), "keras_autolr[jax]" or '
    '"keras_autolr[torch]" (then set KERAS_BACKEND=jax or torch).')


def _resolve_keras():
    """`(keras, tf)`: Keras 3 on JAX or torch without TensorFlow, else `tf.keras`.

    TensorFlow's own rule picks Keras 2 (`tf-keras`) when
    `TF_USE_LEGACY_KERAS` is "1", "true" or "True"; tf.keras 2.15 is Keras 2.
    Keras 3 on the JAX or PyTorch backend never imports TensorFlow.
    """
    legacy = os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True")
    if not legacy:
        try:
            import keras as keras3
        except ImportError as error:
            if "tensorflow" not in str(error):
                keras3 = None
            else:  # Keras 3 on its default backend, without TensorFlow
                raise ImportError(
                    f"keras_autolr: Keras could not load its backend ({error}). "
                    + _INSTALL_HINT) from error
        if (keras3 is not None and keras3.__version__.startswith("3.")
                and keras3.backend.backend() != "tensorflow"):
            return keras3, None
    try:
        import tensorflow
    except ImportError as error:
        raise ImportError(
            f"keras_autolr needs Keras with a backend ({error}). "
            + _INSTALL_HINT) from error
    return tensorflow.keras, tensorflow


keras, tf = _resolve_keras()

IS_KERAS_3 = getattr(keras, "__version__", "2").startswith("3.")

# Keras 3's backend ("tensorflow", "jax", "torch"); Keras 2 is TensorFlow.
BACKEND = keras.backend.backend() if IS_KERAS_3 else "tensorflow"

# The dtype of the schedule's switch step: TensorFlow's step counters are
# int64 (and its checkpoints hold an int64 switch step); JAX has no int64
# unless x64 is turned on, so int32 there and on torch alike.
STEP_DTYPE = "int64" if BACKEND == "tensorflow" else "int32"

# Whether the schedule's state must be among the optimizer's variables for
# the compiled step to read it (`track_optimizer_state`): JAX only.
STATE_IN_OPTIMIZER = BACKEND == "jax"


def _keras2_ops():
    """The few `keras.ops` the schedule and AdamP use, over TensorFlow (Keras 2 has no ops)."""
    return types.SimpleNamespace(
        cast=tf.cast, where=tf.where, greater_equal=tf.greater_equal,
        less=tf.less, minimum=tf.minimum, maximum=tf.maximum, exp=tf.exp,
        cos=tf.cos, clip=tf.clip_by_value, zeros_like=tf.zeros_like,
        full_like=lambda x, value, dtype: tf.fill(
            tf.shape(x), tf.constant(value, dtype)),
        # optimizers.AdamP's update
        convert_to_tensor=tf.convert_to_tensor, power=tf.pow, sqrt=tf.sqrt,
        reshape=tf.reshape, norm=tf.norm, abs=tf.abs, sum=tf.reduce_sum,
        max=tf.reduce_max, logical_or=tf.logical_or, logical_and=tf.logical_and,
    )


# The backend-agnostic tensor math of the schedule: `keras.ops` on Keras 3
# (every backend), the same names over TensorFlow on Keras 2.
ops = keras.ops if IS_KERAS_3 else _keras2_ops()


def to_numpy(tensor):
    """A tensor of any backend as a NumPy array, on the host.

    `keras.ops.convert_to_numpy` on Keras 3 (a torch tensor on a GPU has no
    `__array__` that NumPy may call); `np.asarray` of an eager TensorFlow
    tensor on Keras 2.
    """
    if IS_KERAS_3:
        return keras.ops.convert_to_numpy(tensor)
    return np.asarray(tensor)


def name_scope(name):
    """A name scope for the schedule's ops (`keras.name_scope`, `tf.name_scope`)."""
    return keras.name_scope(name) if IS_KERAS_3 else tf.name_scope(name)


def init_scope():
    """Where variables are made outside any trace: `tf.init_scope` on TensorFlow.

    A schedule built lazily, inside a traced `tf.function`, must make its
    variables in the eager context. JAX and torch make them from concrete
    values: nothing to lift.
    """
    return tf.init_scope() if BACKEND == "tensorflow" else contextlib.nullcontext()


def state_variable(value, dtype, name):
    """A non-trainable scalar variable holding part of the schedule's state.

    TensorFlow (Keras 2 and 3): a `tf.Variable`, as before, so TensorFlow
    checkpoints keep their format and the compiled step reads it by
    reference. JAX and torch: a `keras.Variable`; on JAX it must also be one
    of the optimizer's variables (`track_optimizer_state`).
    """
    if BACKEND == "tensorflow":
        return tf.Variable(value, dtype=dtype, trainable=False, name=name)
    return keras.Variable(value, dtype=dtype, trainable=False, name=name)


def _stateless_scope_reader():
    """Keras 3's `in_stateless_scope` function, or None (Keras 2)."""
    if not IS_KERAS_3:
        return None
    root = keras.callbacks.Callback.__module__.split(".")[0]
    module = importlib.import_module(f"{root}.src.backend.common.stateless_scope")
    return module.in_stateless_scope


_IN_STATELESS_SCOPE = _stateless_scope_reader()


def in_stateless_scope():
    """True inside a Keras 3 `StatelessScope`, where no variable can be made.

    A compiled JAX step runs the optimizer in one (`stateless_apply`).
    Read through `keras.src.backend.common.stateless_scope.in_stateless_scope`
    (Keras 3; no public name); False on Keras 2. Tested in
    tests/test_keras_internals.py.
    """
    return _IN_STATELESS_SCOPE is not None and bool(_IN_STATELESS_SCOPE())


def is_traced(step):
    """True when `step` is a symbolic tensor of a trace (TensorFlow graph, JAX jit)."""
    if BACKEND == "tensorflow":
        return tf.inside_function()
    if BACKEND == "jax":
        import jax  # only on the JAX backend

        return isinstance(step, jax.core.Tracer)
    return False


def track_optimizer_state(optimizer, variables, wrapper=None):
    """Makes `variables` part of `optimizer`'s state where the backend needs it.

    JAX: a compiled train step is a pure function of the variables it is
    handed, the model's and `optimizer.variables`; any other variable is a
    constant of the trace, so a switch written later would never reach it.
    The schedule's state variables are therefore added to the optimizer's
    variables with `Optimizer._track_variable` (the private method its own
    `add_variable` uses; the variables belong to the schedule, which may be
    shared by several optimizers and outlives a recompile, so they are not
    made by `add_variable`). Keras 3 saves an optimizer's variables
    numbered and refuses a file whose count differs, so the optimizer's
    `save_own_variables` and `load_own_variables` are given, on this
    instance, versions that take them out of its list of variables,
    `_variables`, for the time of the call: the numbered variables are
    those of the optimizer without AutoLR, and the state travels in its own
    entry (schedule_state.py). A wrapper (`LossScaleOptimizer`, whose
    variables are its own and its inner optimizer's) gets the same
    versions. TensorFlow and torch read the variables by reference: nothing
    to do. Tested in tests/test_backends.py.

    Args:
        optimizer: a Keras 3 optimizer.
        variables: the `keras.Variable`s to add; added once.
        wrapper: the optimizer wrapping `optimizer` (the model's
            `LossScaleOptimizer` under mixed precision), or None.
    """
    if BACKEND != "jax":
        return
    for variable in variables:
        if not any(variable is v for v in optimizer.variables):
            optimizer._track_variable(variable)
    for owner in (optimizer, wrapper):
        if owner is None:
            continue
        hidden = getattr(owner, "_autolr_hidden_variables", None)
        if hidden is None:
            hidden = []
            _hide_from_saving(owner, hidden)
        hidden.extend(v for v in variables if not any(v is h for h in hidden))


def optimizer_state_tracked(optimizer):
    """The variables `track_optimizer_state` added to `optimizer` (a tuple).

    Not the optimizer's own state: a snapshot leaves them out (a rewind must
    not undo the switch that asked for it).
    """
    return tuple(getattr(optimizer, "_autolr_hidden_variables", None) or ())


def _hide_from_saving(optimizer, hidden):
    """Saves and loads `optimizer`'s numbered variables without those in `hidden`."""
    own_class = type(optimizer)

    def without_hidden(method):
        def call(store):
            # The lists of variables of the optimizer and of those it wraps.
            lists, owner = [], optimizer
            while owner is not None:
                lists.append(owner._variables)
                owner = getattr(owner, "inner_optimizer", None)
            kept = [list(each) for each in lists]
            for each, was in zip(lists, kept):
                each[:] = [v for v in was if not any(v is h for h in hidden)]
            try:
                return method(optimizer, store)
            finally:
                for each, was in zip(lists, kept):
                    each[:] = was
        return call

    # Set through object: Keras' tracking would wrap the list.
    object.__setattr__(optimizer, "_autolr_hidden_variables", hidden)
    object.__setattr__(optimizer, "save_own_variables",
                       without_hidden(own_class.save_own_variables))
    object.__setattr__(optimizer, "load_own_variables",
                       without_hidden(own_class.load_own_variables))


def sync_model_state(model):
    """Puts the state of a JAX `fit` back into the model's variables.

    Between two executions of a JAX `fit`, the current weights, optimizer
    variables and metrics live in the trainer's state, not in the variables
    (Keras clears those): a host read gets stale values, and a host write
    is lost, since the next step is handed the state, not the variables.
    `Model.jax_state_sync` writes the state back and sets the trainer's
    flag `_jax_state_synced`, on which the next step is handed the
    variables again (Keras' `Callback.model` does the same for every
    callback that reads `self.model`). Call it before reading or writing a
    variable in a batch hook. Nothing on TensorFlow and torch. Tested in
    tests/test_backends.py and tests/test_keras_internals.py.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()

register_serializable = keras.utils.register_keras_serializable(
    package="keras_autolr"
)


def _io_utils():
    """Keras' `io_utils` module (Keras 3, tf-keras, tf.keras 2.15), or None."""
    root = keras.callbacks.Callback.__module__.split(".")[0]
    try:
        module = importlib.import_module(f"{root}.src.utils.io_utils")
    except ImportError:
        return None
    return module if hasattr(module, "print_msg") else None


_IO_UTILS = _io_utils()


def print_msg(message):
    """Prints one line through Keras' own `io_utils.print_msg`.

    As Keras' callbacks do: to stdout, or to absl logging when the user
    turned interactive logging off (`keras.config.disable_interactive_logging()`).
    """
    if _IO_UTILS is not None:
        _IO_UTILS.print_msg(message)
        return
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def progress_bar_mid_line(callbacks):
    """True when a Keras progress bar among `callbacks` has printed part of a line.

    `fit(verbose=1)` redraws its bar in place (`\\r`, no newline) until the
    epoch ends: a line printed meanwhile would be glued onto the bar. Reads
    `ProgbarLogger.progbar` and `Progbar._seen_so_far` (Keras 2 and 3; tested
    in tests/test_progress.py).
    """
    for callback in callbacks or ():
        if not isinstance(callback, keras.callbacks.ProgbarLogger):
            continue
        bar = getattr(callback, "progbar", None)
        if (bar is not None and getattr(bar, "verbose", 0) == 1
                and getattr(bar, "_seen_so_far", 0) > 0):
            return True
    return False


def optimizer_of(model):
    optimizer = getattr(model, "optimizer", None)
    # Keras 2 wraps optimizers for mixed precision; the schedule lives inside.
    return getattr(optimizer, "inner_optimizer", optimizer)


def sub_optimizers(optimizer):
    """The sub-optimizers of a Keras `MultiOptimizer` that train, else None.

    A `MultiOptimizer` (Keras 3.15 and later) has no learning rate of its
    own: each of its `optimizers` has one. Once it is built, a sub-optimizer
    that no variable maps to is left out (it never steps).
    """
    multi = getattr(getattr(keras, "optimizers", None), "MultiOptimizer", None)
    if multi is None or not isinstance(optimizer, multi):
        return None
    inner = list(optimizer.optimizers)
    if getattr(optimizer, "built", False):
        inner = [o for o in inner if getattr(o, "built", False)]
    return inner


def restore_pending(trackable, name):
    """True when a TensorFlow checkpoint read into `trackable` holds `name`,
    which does not exist yet: TensorFlow applies it when it is created
    (restore-on-create). `_deferred_dependencies` is TensorFlow's; False
    off TensorFlow."""
    deferred = getattr(trackable, "_deferred_dependencies", None)
    try:
        return bool(deferred) and name in deferred
    except TypeError:  # not TensorFlow's mapping
        return False


def raw_learning_rate(optimizer):
    """The object the optimizer reads its LR from: a variable or a schedule."""
    if hasattr(optimizer, "_learning_rate"):  # Keras 3 and Keras 2 optimizers
        return optimizer._learning_rate
    return optimizer._get_hyper("learning_rate")  # OptimizerV2 (tf-addons)


def loss_tracker(model):
    """The `Mean` metric `fit` averages the training loss in, or None.

    Keras keeps its sum and count as two variables that reset at each epoch;
    their increments over one execution give the weighted mean loss of that
    execution's steps exactly, even for a partial last batch.
    """
    tracker = getattr(model, "_loss_tracker", None)  # Keras 3
    if tracker is None:  # Keras 2
        compiled = getattr(model, "compiled_loss", None)
        tracker = getattr(compiled, "_total_loss_mean", None)
    if tracker is None or not hasattr(tracker, "total"):
        return None
    if not hasattr(tracker, "count"):
        return None
    return tracker


def set_raw_learning_rate(optimizer, value):
    """Puts `value` (what `raw_learning_rate` returned) back as the optimizer's LR.

    The public setter refuses a variable once the LR is a schedule (Keras 2
    and 3 raise a TypeError), so the attribute is set directly.
    """
    if hasattr(optimizer, "_learning_rate"):  # Keras 3 and Keras 2 optimizers
        optimizer._learning_rate = value
    else:  # OptimizerV2 (tf-addons)
        optimizer._set_hyper("learning_rate", value)


def tensorboard_log_dir(tensorboard):
    """The directory a `keras.callbacks.TensorBoard` writes its runs into.

    Keras 2 keeps the non-chief workers of a multi-worker run apart in
    `_log_write_dir` (a temporary directory per worker), set in `set_model`;
    Keras 3 sets it to `log_dir`. Before `set_model`, `log_dir`.
    """
    return getattr(tensorboard, "_log_write_dir", None) or tensorboard.log_dir


def strategy_num_workers(strategy):
    """`MultiWorkerMirroredStrategy`'s own count of workers, or None.

    Read from `strategy.extended._num_workers` (TF 2.15 to 2.21); None when
    a release no longer has it (the caller falls back to the cluster spec).
    """
    workers = getattr(strategy.extended, "_num_workers", None)
    return None if workers is None else int(workers)


def keras2_learning_rate_builder(optimizer):
    """Keras 2's `optimizer._build_learning_rate`, when it is still to be called.

    A Keras 2 optimizer given a schedule after it was created makes its
    `_current_learning_rate` variable lazily, in the first traced step.
    Returns the bound method that makes it, or None: on Keras 3, on an
    optimizer without it, or when the variable exists.
    """
    if IS_KERAS_3 or hasattr(optimizer, "_current_learning_rate"):
        return None
    return getattr(optimizer, "_build_learning_rate", None)


def fit_callbacks(callback):
    """The callbacks of the `fit` that is calling `callback`, or None.

    Call it from one of `callback`'s `on_*` methods (`on_train_begin`);
    returns the list of callbacks (`callback` among them, with the `History`
    and `ProgbarLogger` that `fit` adds), or None when no `CallbackList`
    holds `callback` (a custom loop calling the callback itself).

    Why the garbage collector. Keras gives a callback no public handle on
    its siblings: it is handed the model and the params of its `fit`, never
    the `CallbackList` (Keras 2 and 3 alike), and no attribute of the model,
    the params or `History` points at the list (read in the sources of
    Keras 3, tf-keras and tf.keras 2.15). What the callback does hold is the
    params dict: `CallbackList.set_params` keeps it as the list's own
    `params` and hands that same object to every member, and `fit` builds a
    new dict for each `CallbackList` it makes. So the `CallbackList` of the
    running `fit` is the one, among the objects the collector tracks
    (`gc.get_objects`), whose `params` is the callback's and whose
    `callbacks` holds it. A list the user keeps is no `CallbackList`, and
    the `CallbackList` of an earlier `fit`, even one still referenced, has
    that fit's params. A callback never handed params (a custom loop's
    `CallbackList(callbacks)`) is matched by the one `CallbackList` without
    params that holds it, when there is exactly one.

    Cost: the youngest generations first. `fit` makes its `CallbackList`
    just before `on_train_begin`, so it is nearly always among the few
    thousand objects of generations 0 and 1 (well under 1 ms); only when a
    collection has moved it to the oldest generation are all tracked
    objects visited (about 500,000 in a process that built a small model:
    40-65 ms on a shared 2-core machine, 2026-12-02). `AutoLR` calls it
    once per `fit`, from `on_train_begin`.

    Limits: a callback called by hand after a `fit` whose `CallbackList` is
    still referenced gets that fit's list, and one without params held by
    two live `CallbackList`s without params gets None. Only the attributes
    of `CallbackList`s are read. Tested in tests/test_keras_internals.py and
    tests/test_tensorboard.py.

    Args:
        callback: a `keras.callbacks.Callback`, from one of its `on_*` methods.

    Returns:
        A new list of the `fit`'s callbacks, in Keras' order, or None.
    """
    params = getattr(callback, "params", None) or None
    for generation in range(3):
        owners = _callback_lists_in(generation, params, callback)
        if owners:
            return list(owners[0].callbacks) if len(owners) == 1 else None
    return None


def _callback_lists_in(generation, params, callback):
    """The tracked `CallbackList`s of a generation with `params` that hold `callback`."""
    kind = keras.callbacks.CallbackList
    return [owner for owner in gc.get_objects(generation)
            if issubclass(type(owner), kind)
            and (getattr(owner, "params", None) or None) is params
            and _holds(getattr(owner, "callbacks", None), callback)]


def _holds(members, callback):
    """True when `members` is a list with `callback` itself among them."""
    return isinstance(members, list) and any(m is callback for m in members)


def value_reader(variable):
    """A function of no arguments returning `variable`'s value, read fast.

    The callback reads the optimizer's step counter and the loss tracker's
    sum and count after every execution. `variable.numpy()` goes through
    Keras' (Keras 3) and TensorFlow's Python layers: about 11 us per read on
    an idle core, most of AutoLR's per-step cost. A plain resource variable
    is read instead by one public op, `tf.raw_ops.ReadVariableOp`, on its
    public `handle` (Keras 3: `variable.value` is the `tf.Variable`).
    Distributed variables (mirrored, sync-on-read metrics, TPU) keep
    `variable.numpy()`, which aggregates their replicas as Keras does.

    Args:
        variable: a Keras 3 `Variable` or a `tf.Variable`.

    Returns:
        A callable returning a NumPy scalar or array: the variable's value.
    """
    if tf is None:  # JAX, torch: Keras' own read
        return variable.numpy
    inner = getattr(variable, "value", None) if IS_KERAS_3 else variable
    if (isinstance(inner, tf.Variable)
            and not isinstance(inner, tf.distribute.DistributedValues)
            and tf.executing_eagerly()):
        handle = getattr(inner, "handle", None)
        if isinstance(handle, tf.Tensor) and hasattr(handle, "numpy"):
            dtype = inner.dtype
            read = tf.raw_ops.ReadVariableOp
            return lambda: read(resource=handle, dtype=dtype).numpy()
    return variable.numpy


def keras_saveable_base():
    """The class Keras 3's `.keras`/`.weights.h5` saving walks into, or `object`.

    Keras 3 saves the variables of every attribute of a model or optimizer
    that is a `KerasSaveable` (`keras.src.saving.keras_saveable`), under the
    attribute's name, by calling its `save_own_variables` and
    `load_own_variables` (`saving_lib._save_state` and `_load_state`). Keras
    2 saves optimizers through TensorFlow's object graph instead, and has no
    such class: `object`. Tested in tests/test_keras_internals.py.
    """
    if not IS_KERAS_3:
        return object
    root = keras.callbacks.Callback.__module__.split(".")[0]
    module = importlib.import_module(f"{root}.src.saving.keras_saveable")
    return module.KerasSaveable


class _PlainModule:
    """What `ScheduleState` derives from where there is no TensorFlow."""

    def __init__(self, name=None):
        self._module_name = name


# The base of objects that TensorFlow's object graph checkpoints: `tf.Module`
# on TensorFlow (Keras 2 and 3); on JAX and torch, saving is Keras 3's alone.
Module = tf.Module if tf is not None else _PlainModule


class SaveableLeaf(keras_saveable_base()):
    """A base for our objects that Keras 3's weights files save: no children.

    Keras 3's `saving_lib` asks every `KerasSaveable` it walks into for its
    kind, `_obj_type()` (the base class raises NotImplementedError), and
    accepts only its own kinds: it then skips the attributes a fresh object
    of that kind has and walks into the other attributes that are
    `KerasSaveable`s themselves. `"Loss"` is the kind without children of
    its own (a `keras.losses.Loss` holds no variables): a subclass holding
    no `KerasSaveable` has only its `save_own_variables` and
    `load_own_variables` called. On Keras 2 a plain class (Keras 2 saves through TensorFlow's object
    graph). Tested in tests/test_keras_internals.py; used by
    `schedule_state.ScheduleState`.
    """

    def _obj_type(self):
        return "Loss"


class WithoutBaseWeightDecay:
    """Mixin for an optimizer that decays its weights in its own `update_step`.

    Keras' `Optimizer.apply` (Keras 3) and `apply_gradients` (Keras 2) call
    the private hook `_apply_weight_decay(variables)` before the update,
    which decays each weight by `learning_rate * weight_decay` whenever
    `weight_decay` is set. This mixin, listed before the Keras optimizer
    among the bases, makes the hook do nothing. Tested in
    tests/test_keras_internals.py; used by `optimizers.AdamP`.
    """

    def _apply_weight_decay(self, variables):
        """No-op: the optimizer's `update_step` decays its weights itself."""


def steps_per_execution(model):
    """The train steps `fit` runs per execution (`compile(steps_per_execution=...)`).

    Keras 3: an int. Keras 2: a variable, whose value under `"auto"` Keras
    tunes during `fit` (its value now). 1 when the model does not tell.
    """
    value = getattr(model, "steps_per_execution", None)
    if value is None:
        value = getattr(model, "_steps_per_execution", None)
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def step_counter(optimizer):
    """The variable counting `optimizer`'s train steps: its LR schedule's clock.

    With `gradient_accumulation_steps=k` (Keras 3), the public `iterations`
    is the count of updates (steps // k), a tensor computed from the private
    `_iterations`, which counts every train step and is what Keras calls
    the LR schedule with. Elsewhere the two are the same variable.
    """
    if getattr(optimizer, "gradient_accumulation_steps", None):
        return optimizer._iterations
    return optimizer.iterations


def optimizer_built(optimizer):
    """True once `optimizer` has made its slot variables (built).

    Keras 3: the public `built`. Keras 2 optimizers: the private `_built`
    their `build` sets (`False` before). tf-addons' `OptimizerV2`: it has
    variables besides `iterations`.
    """
    if IS_KERAS_3:
        return bool(optimizer.built)
    if _is_optimizer_v2(optimizer):
        return any(v is not optimizer.iterations for v in optimizer.variables())
    return bool(getattr(optimizer, "_built", False))


def mark_optimizer_built(optimizer):
    """Records that `optimizer` is built: its base `build` then returns at once.

    For a Keras 2 optimizer subclass's own `build`, after `super().build`,
    as Keras 2's optimizers do: sets the private `_built` that Keras 2's
    `build`, `exclude_from_weight_decay` and `set_weights` read. Keras 3:
    the public `built`.
    """
    if IS_KERAS_3:
        optimizer.built = True
    else:
        optimizer._built = True


def build_optimizer(optimizer, variables):
    """Builds `optimizer`'s slots for `variables` as `fit` would; nothing once built.

    Keras 3: `optimizer.build`. Keras 2 builds inside a name scope of the
    optimizer's name (`_name` on an `OptimizerV2`, which has no public
    `name`), which gives its slots the names `fit` gives them; an
    `OptimizerV2` (tf-addons) makes them with its private
    `_create_all_weights`. Call it under the model's distribution strategy.
    """
    if optimizer_built(optimizer):
        return
    if IS_KERAS_3:
        optimizer.build(variables)
        return
    name = getattr(optimizer, "_name", None) or getattr(optimizer, "name", None)
    with tf.name_scope(name or "optimizer"):
        if _is_optimizer_v2(optimizer):
            optimizer._create_all_weights(variables)
        else:
            optimizer.build(variables)


def build_model_optimizer(model):
    """Builds the model's optimizer for its trainable variables, as `fit` would.

    Under the model's distribution strategy (`build_optimizer`); nothing
    once it is built. A `MultiOptimizer` then knows which sub-optimizers
    train (`sub_optimizers`).
    """
    strategy = getattr(model, "distribute_strategy", None)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        build_optimizer(model.optimizer, model.trainable_variables)


def constant_learning_rate(optimizer):
    """The optimizer's constant LR as a float, or None when it is a schedule.

    A `tf.distribute` variable (Keras 2 under a strategy) has no NumPy
    `__array__`; `.numpy()` reads this replica's copy.
    """
    current = raw_learning_rate(optimizer)
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
        return None
    value = current.numpy() if hasattr(current, "numpy") else current
    return float(np.asarray(value))


def _is_optimizer_v2(optimizer):
    """True for Keras 2's legacy `OptimizerV2` (tf-addons' optimizers)."""
    return not IS_KERAS_3 and hasattr(optimizer, "_create_all_weights")


def keras2_current_learning_rate(optimizer):
    """Keras 2's current-LR variable of an optimizer given a schedule, or None.

    A Keras 2 optimizer whose LR is a schedule keeps the schedule's value at
    the current step in the variable `_current_learning_rate` (made by
    `keras2_learning_rate_builder`'s method). None on Keras 3, or before it
    is made.
    """
    if IS_KERAS_3:
        return None
    return getattr(optimizer, "_current_learning_rate", None)


def forget_keras2_current_learning_rate(optimizer):
    """Drops Keras 2's current-LR variable, as before a schedule was set.

    The next schedule set on the optimizer makes it anew (in its first
    traced step, or by `keras2_learning_rate_builder`). Nothing on Keras 3
    or when there is none.
    """
    if keras2_current_learning_rate(optimizer) is not None:
        delattr(optimizer, "_current_learning_rate")


def keras2_init_learning_rate(optimizer, learning_rate):
    """A Keras 2 optimizer subclass's `__init__`: sets its LR as Keras 2's do.

    Keras 2's optimizers call `self._learning_rate =
    self._build_learning_rate(learning_rate)`: a variable for a number, the
    schedule itself for a schedule. Keras 3's base `__init__` does it.
    """
    optimizer._learning_rate = optimizer._build_learning_rate(learning_rate)


def keras2_learning_rate_config(optimizer):
    """The `learning_rate` entry of a Keras 2 optimizer's `get_config`.

    As Keras 2's optimizers: `_serialize_hyperparameter(_learning_rate)`, a
    float, or a schedule's serialized config.
    """
    return optimizer._serialize_hyperparameter(optimizer._learning_rate)


def optimizer_variable_index(optimizer, variable):
    """The index of `variable` among the variables `optimizer` was built on.

    The index of its slots in the optimizer's own lists. Keras 3:
    `_get_variable_index`; Keras 2: `_index_dict[_var_key(variable)]`.
    """
    if IS_KERAS_3:
        return optimizer._get_variable_index(variable)
    return optimizer._index_dict[optimizer._var_key(variable)]


def overwrites_with_gradient(optimizer, variable):
    """True when Keras 3 sets `variable` to its gradient, without an update.

    Keras 3.4+ marks some variables so (float8 scales:
    `variable.overwrite_with_gradient`); the optimizer then makes no slots
    for them. Read through Keras 3's `_overwrite_variable_with_gradient`;
    False on Keras 2 and older Keras 3.
    """
    overwritten = getattr(optimizer, "_overwrite_variable_with_gradient", None)
    return bool(overwritten(variable)) if overwritten is not None else False


def uses_weight_decay(optimizer, variable):
    """False when `variable` is excluded from `optimizer`'s weight decay.

    By `optimizer.exclude_from_weight_decay(var_list=..., var_names=...)`
    (Keras 2 and 3); read through their `_use_weight_decay`.
    """
    return bool(optimizer._use_weight_decay(variable))


def train_counter(model):
    """Keras 2's count of the `train_step`s a model ran, a variable, or None.

    Keras 2 keeps it in `model._train_counter` (it is saved with the model
    and restored by `BackupAndRestore`); Keras 3 has none (None).
    """
    if IS_KERAS_3:
        return None
    return getattr(model, "_train_counter", None)
