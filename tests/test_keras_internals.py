"""Every Keras/TensorFlow internal AutoLR reads, one test each, on every lane.

keras_autolr/_keras.py is the only module that reads private Keras or
TensorFlow attributes. Each test here builds the real object (a compiled
model, an optimizer, a callback inside `fit`, a strategy) and checks that
the accessor finds the thing, so that a release that renames it fails here,
by name, rather than somewhere in AutoLR. Run on Keras 3, on Keras 2
(`TF_USE_LEGACY_KERAS=1`) and on tf.keras 2.15.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_autolr import _keras
from keras_autolr import AutoLRSchedule
from keras_autolr._keras import IS_KERAS_3
from keras_autolr._keras import keras


def _compiled_linear_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    return model


def _data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")


class _Probe(keras.callbacks.Callback):
    """Calls `look(self, where)` from inside `fit` and keeps what it returns."""

    def __init__(self, look):
        super().__init__()
        self.look = look
        self.seen = {}

    def on_train_begin(self, logs=None):
        self.seen["train_begin"] = self.look(self)

    def on_train_batch_end(self, batch, logs=None):
        self.seen[("batch", batch)] = self.look(self)


# ------------------------------------------------ optimizer._learning_rate
def test_raw_learning_rate_is_the_variable_the_optimizer_steps_with():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    raw = _keras.raw_learning_rate(optimizer)
    assert float(np.asarray(raw)) == pytest.approx(0.1)
    raw.assign(0.25)  # the very variable the public property reads
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.25)


def test_raw_learning_rate_is_the_schedule_once_one_is_set_and_can_be_put_back():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    variable = _keras.raw_learning_rate(optimizer)
    schedule = AutoLRSchedule(total_steps=100)
    optimizer.learning_rate = schedule
    assert _keras.raw_learning_rate(optimizer) is schedule
    _keras.set_raw_learning_rate(optimizer, variable)
    assert _keras.raw_learning_rate(optimizer) is variable
    assert float(np.asarray(optimizer.learning_rate)) == pytest.approx(0.1)


# ------------------------------- model._loss_tracker / _total_loss_mean
def test_loss_tracker_is_the_mean_fit_reports_as_the_loss():
    model = _compiled_linear_model()
    tracker = _keras.loss_tracker(model)
    assert tracker is not None  # Keras 3: _loss_tracker; Keras 2: _total_loss_mean
    x, y = _data()
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    total = float(np.asarray(tracker.total))
    count = float(np.asarray(tracker.count))
    assert count == 32.0  # weighted by batch size: the samples of the epoch
    assert total / count == pytest.approx(history.history["loss"][-1], rel=1e-6)


# ------------------------------------- ProgbarLogger / Progbar._seen_so_far
@pytest.mark.parametrize("verbose, mid_line", [(1, True), (0, False)])
def test_progress_bar_mid_line_is_seen_while_fit_draws_its_bar(verbose, mid_line):
    model = _compiled_linear_model()
    x, y = _data()
    probe = _Probe(lambda cb: _keras.progress_bar_mid_line(_keras.fit_callbacks(cb)))
    model.fit(x, y, batch_size=8, epochs=1, verbose=verbose, callbacks=[probe])
    # After the first batch the bar has printed part of its line, no newline;
    # at verbose=0 there is no bar.
    assert probe.seen[("batch", 2)] is mid_line


# ------------------------------------------------- <keras>.src.utils.io_utils
def test_print_msg_goes_through_keras_io_utils(capsys):
    assert _keras._IO_UTILS is not None
    assert _keras._IO_UTILS.__name__.endswith(".src.utils.io_utils")
    _keras.print_msg("AutoLR: a line")
    assert capsys.readouterr().out == "AutoLR: a line\n"


# ------------------------------------------------ TensorBoard._log_write_dir
def test_tensorboard_log_write_dir_is_set_by_set_model(tmp_path):
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    tensorboard.set_model(_compiled_linear_model())
    # The accessor falls back to `log_dir`: check the attribute itself.
    assert tensorboard._log_write_dir == str(tmp_path / "logs")
    assert _keras.tensorboard_log_dir(tensorboard) == str(tmp_path / "logs")


# ---------------------------------- MultiWorkerMirroredStrategy._num_workers
def test_strategy_num_workers_reads_the_strategys_own_count():
    # A strategy that configures the process's collective ops: its own process.
    code = (
        "import tensorflow as tf\n"
        "from keras_autolr import _keras\n"
        "strategy = tf.distribute.MultiWorkerMirroredStrategy()\n"
        "print('workers', _keras.strategy_num_workers(strategy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "workers 1" in result.stdout.splitlines()


# ------------------ Keras 2: _build_learning_rate / _current_learning_rate
@pytest.mark.skipif(IS_KERAS_3, reason="Keras 2 optimizers only")
def test_keras2_learning_rate_builder_makes_the_current_lr_variable():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    schedule = AutoLRSchedule(total_steps=100)
    optimizer.learning_rate = schedule
    build = _keras.keras2_learning_rate_builder(optimizer)
    assert build is not None
    build(schedule)
    current = optimizer._current_learning_rate
    assert isinstance(current, tf.Variable)
    assert _keras.keras2_learning_rate_builder(optimizer) is None  # made once


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3 has no such variable")
def test_keras3_needs_no_learning_rate_builder():
    assert _keras.keras2_learning_rate_builder(keras.optimizers.SGD()) is None


# ------------------------------------------ the CallbackList of a running fit
def test_fit_callbacks_are_the_callbacks_of_the_running_fit(tmp_path):
    model = _compiled_linear_model()
    x, y = _data()
    probe = _Probe(_keras.fit_callbacks)
    tensorboard = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb"))
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[probe, tensorboard, backup])
    for where in ("train_begin", ("batch", 0)):
        found = probe.seen[where]
        assert found is not None, where
        assert any(c is probe for c in found)
        assert any(c is tensorboard for c in found)
        assert any(c is backup for c in found)
        assert any(isinstance(c, keras.callbacks.History) for c in found)


def test_fit_callbacks_is_none_outside_a_callback_list():
    probe = _Probe(_keras.fit_callbacks)
    probe.on_train_begin()  # a custom loop calling the callback itself
    assert probe.seen["train_begin"] is None


def _holds(callbacks, member):
    return any(c is member for c in callbacks)


def test_fit_callbacks_skip_a_stale_callback_list_and_the_users_list():
    model = _compiled_linear_model()
    x, y = _data()
    probe = _Probe(_keras.fit_callbacks)
    earlier = keras.callbacks.EarlyStopping(monitor="loss", patience=10)
    # The CallbackList of an earlier fit, still referenced, holding the probe.
    stale = keras.callbacks.CallbackList(
        [probe, earlier], add_history=True, model=model,
        verbose=0, epochs=1, steps=4)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=stale)
    users = [probe]  # the user's own list, held during the fit
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=users)
    found = probe.seen["train_begin"]
    assert found is not users and found is not stale.callbacks
    assert _holds(found, probe) and _holds(found, history)
    assert not _holds(found, earlier) and not _holds(found, stale._history)


def test_fit_callbacks_follow_one_callback_through_consecutive_fits():
    model = _compiled_linear_model()
    x, y = _data()
    probe = _Probe(_keras.fit_callbacks)
    first = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[probe])
    seen_first = probe.seen["train_begin"]
    second = model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[probe])
    seen_second = probe.seen["train_begin"]
    assert _holds(seen_first, first) and not _holds(seen_first, second)
    assert _holds(seen_second, second) and not _holds(seen_second, first)


def test_fit_callbacks_find_a_callback_list_made_without_params():
    # A custom loop's `CallbackList(callbacks)`: the probe is handed no params.
    probe = _Probe(_keras.fit_callbacks)
    other = keras.callbacks.Callback()
    keras.callbacks.CallbackList([probe, other]).on_train_begin()
    found = probe.seen["train_begin"]
    assert found is not None and len(found) == 2
    assert found[0] is probe and found[1] is other
    callbacks = keras.callbacks.CallbackList([probe])
    vars(callbacks)  # its attributes now in a `__dict__`
    callbacks.on_train_begin()
    assert len(probe.seen["train_begin"]) == 1


def test_fit_callbacks_find_an_old_callback_list_with_a_dict():
    # The user's own `CallbackList`, made long before `fit`: a collection
    # has moved it to the oldest generation, and its attributes are in a
    # `__dict__` (as on Python 3.9/3.10, or once `vars` read them).
    import gc

    model = _compiled_linear_model()
    x, y = _data()
    probe = _Probe(_keras.fit_callbacks)
    callbacks = keras.callbacks.CallbackList(
        [probe], add_history=True, model=model, verbose=0, epochs=1, steps=4)
    vars(callbacks)
    gc.collect()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)
    found = probe.seen["train_begin"]
    assert found is not None and len(found) == len(callbacks.callbacks)
    assert all(a is b for a, b in zip(found, callbacks.callbacks))


# ------------------------------- the fast read of a plain variable (handle)
def test_value_reader_reads_the_current_value_of_each_kind_of_variable():
    model = _compiled_linear_model()
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    tracker = _keras.loss_tracker(model)
    for variable in (model.optimizer.iterations, tracker.total, tracker.count):
        read = _keras.value_reader(variable)
        # The fast read by handle, not the fallback `variable.numpy`.
        assert getattr(read, "__self__", None) is not variable
        assert read() == variable.numpy()
        variable.assign(variable + 3)  # read anew, not a cached value
        assert read() == variable.numpy()
    assert int(_keras.value_reader(model.optimizer.iterations)()) == 7


def test_value_reader_of_a_mirrored_metric_sums_its_replicas():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        metric = keras.metrics.Mean()
    strategy.run(metric.update_state, args=(tf.constant([1.0, 3.0]),))
    assert float(_keras.value_reader(metric.total)()) == 4.0
    assert float(_keras.value_reader(metric.count)()) == 2.0


# ----------------- KerasSaveable and its `_obj_type` (Keras 3): SaveableLeaf
def test_keras_saveable_attributes_of_an_optimizer_are_saved_with_its_weights(tmp_path):
    # schedule_state.py: Keras 3 saves a `KerasSaveable` attribute of the
    # optimizer under its name; Keras 2 has no such class (`object`).
    base = _keras.keras_saveable_base()
    if not IS_KERAS_3:
        assert base is object
        assert _keras.SaveableLeaf.__mro__[1:] == (object,)
        return
    assert issubclass(_keras.SaveableLeaf, base)

    class Probe(_keras.SaveableLeaf):
        def save_own_variables(self, store):
            store["value"] = np.asarray(7.0)

        def load_own_variables(self, store):
            self.loaded = {key: float(np.asarray(store[key])) for key in store.keys()}

    model = _compiled_linear_model()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.probe = Probe()
    path = str(tmp_path / "w.weights.h5")
    model.save_weights(path)
    fresh = _compiled_linear_model()
    fresh.optimizer.build(fresh.trainable_variables)
    fresh.optimizer.probe = Probe()
    fresh.load_weights(path)
    assert fresh.optimizer.probe.loaded == {"value": 7.0}
    fresh.optimizer.probe = Probe()
    _compiled_linear_model().save_weights(path)  # a file without it
    fresh.load_weights(path)
    assert fresh.optimizer.probe.loaded == {}  # an empty store


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3 saving (saving_lib)")
def test_keras_saving_asks_each_saveable_for_its_obj_type(tmp_path):
    # What SaveableLeaf overrides: Keras' saving calls `_obj_type()` on every
    # `KerasSaveable` it walks into (the base class raises), and takes only
    # its own kinds.
    class NoKind(_keras.keras_saveable_base()):
        def save_own_variables(self, store):
            pass

    class Asked(_keras.SaveableLeaf):
        asked = 0

        def _obj_type(self):
            Asked.asked += 1
            return super()._obj_type()

        def save_own_variables(self, store):
            pass

    model = _compiled_linear_model()
    model.optimizer.build(model.trainable_variables)
    model.optimizer.probe = NoKind()
    with pytest.raises(NotImplementedError):
        model.save_weights(str(tmp_path / "a.weights.h5"))
    model.optimizer.probe = Asked()
    model.save_weights(str(tmp_path / "b.weights.h5"))
    assert Asked.asked >= 1
    assert _keras.SaveableLeaf()._obj_type() == "Loss"


# ----------------------- Optimizer._apply_weight_decay: WithoutBaseWeightDecay
def _decayed_weight(optimizer_class):
    # One step with a zero gradient: only the base class's decay moves it.
    optimizer = optimizer_class(learning_rate=0.5, weight_decay=0.1)
    variable = (keras.Variable if IS_KERAS_3 else tf.Variable)(1.0)
    optimizer.apply_gradients([(tf.zeros(()), variable)])
    return float(np.asarray(variable))


def test_without_base_weight_decay_turns_off_keras_decay_hook():
    class NoDecaySGD(_keras.WithoutBaseWeightDecay, keras.optimizers.SGD):
        pass

    assert _decayed_weight(keras.optimizers.SGD) == pytest.approx(1 - 0.5 * 0.1)
    assert _decayed_weight(NoDecaySGD) == 1.0


# ------------------------------ the build state of an optimizer: _built, ...
def _optimizer_kinds():
    kinds = [("sgd", lambda: keras.optimizers.SGD(0.1, momentum=0.9)),
             ("adam", lambda: keras.optimizers.Adam(0.1))]
    if not IS_KERAS_3:  # tf-addons' base: Keras 2's legacy `OptimizerV2`
        kinds.append(("legacy_adam", lambda: keras.optimizers.legacy.Adam(0.1)))
    return kinds


def _two_layer_model(optimizer):
    # Named layers: two such models name their variables alike.
    model = keras.Sequential([keras.Input((3,)),
                              keras.layers.Dense(2, name="hidden"),
                              keras.layers.Dense(1, name="out")])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _optimizer_variables(optimizer):
    variables = optimizer.variables
    return list(variables() if callable(variables) else variables)


@pytest.mark.parametrize("name, make", _optimizer_kinds(),
                         ids=[k[0] for k in _optimizer_kinds()])
def test_build_optimizer_makes_the_slots_fit_makes(name, make):
    keras.utils.set_random_seed(0)
    model = _two_layer_model(make())
    optimizer = model.optimizer
    assert not _keras.optimizer_built(optimizer)
    _keras.build_optimizer(optimizer, model.trainable_variables)
    assert _keras.optimizer_built(optimizer)
    built = _optimizer_variables(optimizer)
    _keras.build_optimizer(optimizer, model.trainable_variables)  # once only
    assert len(_optimizer_variables(optimizer)) == len(built)
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # makes no new slots
    after_fit = _optimizer_variables(optimizer)
    assert [v.name for v in after_fit] == [v.name for v in built]
    # A twin built by `fit`: the same slots, by name (Keras 2 names them in
    # the optimizer's name scope) and shape.
    twin = _two_layer_model(make())
    assert not _keras.optimizer_built(twin.optimizer)
    twin.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert _keras.optimizer_built(twin.optimizer)
    fitted = _optimizer_variables(twin.optimizer)
    assert [tuple(v.shape) for v in fitted] == [tuple(v.shape) for v in built]
    if not IS_KERAS_3:
        assert [v.name for v in fitted] == [v.name for v in built]


def test_mark_optimizer_built_makes_keras_build_return_at_once():
    model = _two_layer_model(keras.optimizers.SGD(0.1, momentum=0.9))
    optimizer = model.optimizer
    before = len(_optimizer_variables(optimizer))
    _keras.mark_optimizer_built(optimizer)
    assert _keras.optimizer_built(optimizer)
    optimizer.build(model.trainable_variables)  # Keras reads the same flag
    assert len(_optimizer_variables(optimizer)) == before  # no momentum slots


# ------------------------------------------- Keras 2: _current_learning_rate
def test_keras2_current_learning_rate_is_read_and_forgotten():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    schedule = AutoLRSchedule(total_steps=100)
    optimizer.learning_rate = schedule
    assert _keras.keras2_current_learning_rate(optimizer) is None
    build = _keras.keras2_learning_rate_builder(optimizer)
    if IS_KERAS_3:
        assert build is None
        _keras.forget_keras2_current_learning_rate(optimizer)  # nothing to do
        return
    build(schedule)
    current = _keras.keras2_current_learning_rate(optimizer)
    assert current is optimizer._current_learning_rate
    assert isinstance(current, tf.Variable)
    # The public property reads it: the schedule's value at the current step.
    assert optimizer.learning_rate is current
    _keras.forget_keras2_current_learning_rate(optimizer)
    assert _keras.keras2_current_learning_rate(optimizer) is None
    assert _keras.keras2_learning_rate_builder(optimizer) is not None  # anew


# --------- Keras 2 optimizer subclasses: _build_learning_rate, get_config
@pytest.mark.skipif(IS_KERAS_3, reason="Keras 3's base class does it")
def test_keras2_init_learning_rate_and_its_config():
    class Tiny(keras.optimizers.Optimizer):
        def __init__(self, learning_rate, name="Tiny"):
            super().__init__(name=name)
            _keras.keras2_init_learning_rate(self, learning_rate)

        def build(self, var_list):
            super().build(var_list)

        def update_step(self, gradient, variable):
            variable.assign_sub(self.learning_rate * gradient)

        def get_config(self):
            config = super().get_config()
            config["learning_rate"] = _keras.keras2_learning_rate_config(self)
            return config

    constant = Tiny(0.25)
    assert isinstance(_keras.raw_learning_rate(constant), tf.Variable)
    assert float(np.asarray(constant.learning_rate)) == 0.25
    assert constant.get_config()["learning_rate"] == 0.25
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.9)
    scheduled = Tiny(schedule)
    assert _keras.raw_learning_rate(scheduled) is schedule
    config = scheduled.get_config()["learning_rate"]
    assert config["class_name"] == "ExponentialDecay"
    assert config["config"]["initial_learning_rate"] == 0.5


# --------- what update_step reads: _get_variable_index / _index_dict, ...
def test_optimizer_variable_index_is_the_position_in_the_built_list():
    model = _two_layer_model(keras.optimizers.SGD(0.1, momentum=0.9))
    variables = model.trainable_variables
    _keras.build_optimizer(model.optimizer, variables)
    assert [_keras.optimizer_variable_index(model.optimizer, v)
            for v in variables] == list(range(len(variables)))


def test_overwrites_with_gradient_reads_keras3_marked_variables():
    optimizer = keras.optimizers.SGD(0.1)
    if not IS_KERAS_3:
        assert not _keras.overwrites_with_gradient(optimizer, tf.Variable(1.0))
        return
    plain = keras.Variable(1.0)
    marked = keras.Variable(1.0)
    marked.overwrite_with_gradient = True  # Keras 3.4+: float8 scales
    assert not _keras.overwrites_with_gradient(optimizer, plain)
    assert _keras.overwrites_with_gradient(optimizer, marked)


def test_uses_weight_decay_follows_exclude_from_weight_decay():
    optimizer = keras.optimizers.SGD(0.1, weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model = _two_layer_model(optimizer)
    kernel, bias = model.layers[0].kernel, model.layers[0].bias
    _keras.build_optimizer(optimizer, model.trainable_variables)
    assert _keras.uses_weight_decay(optimizer, kernel)
    assert not _keras.uses_weight_decay(optimizer, bias)


# ------------------------------------------------ Keras 2: model._train_counter
def test_train_counter_counts_the_train_steps_on_keras2():
    model = _compiled_linear_model()
    x, y = _data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    counter = _keras.train_counter(model)
    if IS_KERAS_3:
        assert counter is None
        return
    assert isinstance(counter, tf.Variable)
    assert int(counter.numpy()) == 4


# --------------------- the schedule's state on other backends (Keras 3)
@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3 only")
def test_in_stateless_scope_is_true_inside_keras_stateless_scope():
    # schedule.py: no variable can be made there (a compiled JAX step).
    assert not _keras.in_stateless_scope()
    with keras.StatelessScope():
        assert _keras.in_stateless_scope()
    assert not _keras.in_stateless_scope()


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3 only")
def test_optimizer_track_variable_and_its_variables_list():
    # track_optimizer_state (JAX): `_track_variable` puts a variable among
    # `optimizer.variables`, a copy of the list `_variables`, which the
    # saving hooks narrow for the time of a save or a load.
    optimizer = keras.optimizers.SGD(0.1)
    extra = keras.Variable(1.0, trainable=False, name="extra")
    optimizer._track_variable(extra)
    assert any(v is extra for v in optimizer.variables)
    assert optimizer.variables == optimizer._variables
    assert optimizer.variables is not optimizer._variables
    optimizer._variables.remove(extra)
    assert not any(v is extra for v in optimizer.variables)


@pytest.mark.skipif(not IS_KERAS_3, reason="Keras 3 only")
def test_jax_trainer_keeps_jax_state_sync_and_its_flag():
    # sync_model_state: read from the source, since this lane runs on
    # TensorFlow (tests/test_backends.py runs it on JAX).
    import importlib.util
    import inspect
    import pathlib

    root = keras.callbacks.Callback.__module__.split(".")[0]
    package = importlib.util.find_spec(root).submodule_search_locations[0]
    path = pathlib.Path(package, "src", "backend", "jax", "trainer.py")
    if not path.exists():
        pytest.skip("Keras without its JAX trainer")
    source = path.read_text()
    assert "def jax_state_sync(self)" in source
    assert "self._jax_state_synced = True" in source
    assert "if self._jax_state_synced:" in source
    assert inspect.isfunction(_keras.sync_model_state)
