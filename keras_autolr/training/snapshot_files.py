"""`SnapshotFiles`: the rewind's snapshots, saved beside AutoLR's state file.

The `SnapshotRing` (snapshot.py) lives in host memory, and a preempted
process loses it: a resumed run that took new snapshots would rewind to
another step than the uninterrupted run, and end with other weights. So
while warmup goes on, each save of the state (resume.py, at each epoch end)
also writes the copies the ring holds, one file per snapshot
(`autolr_snapshot_<step>.npz`), and a resume puts them back into the ring.

A snapshot never changes once taken, so each file is written once, when
its copy first has to be saved; the state file, written after them, lists
the ones it goes with, and files it no longer lists are deleted after it.
A kill at any point leaves a state file whose snapshots are all on disk.

Each array is kept as its raw bytes with its dtype's name and shape (a
bfloat16 weight round-trips without pickle), and a restore checks them
against the model and optimizer before it holds the copy.
"""

import glob
import json
import os
import re
import zipfile

import numpy as np

from keras_autolr.training import state as state_lib

FORMAT = "keras_autolr.training.snapshot"
VERSION = 1
PREFIX = "autolr_snapshot_"


class SnapshotFileError(state_lib.StateFileError):
    """A snapshot file that is missing, corrupt, or does not fit the model."""


def snapshot_path(directory, step):
    """The file of the snapshot of `step` in `directory`."""
    return os.path.join(directory, f"{PREFIX}{int(step)}.npz")


class SnapshotFiles:
    """Writes a `SnapshotRing`'s copies to a directory and reads them back.

    Example:

    ```python
    files = SnapshotFiles(backup_dir)
    files.save(ring, [0, 20])  # before the state file that lists them
    ...  # the state file written
    files.prune(keep=[0, 20])
    # In a new process, the state file read:
    files.load(new_ring, [0, 20])
    ```

    Args:
        directory: str. The state file's directory.
    """

    def __init__(self, directory):
        self.directory = directory
        # Steps whose file holds this process's copy (written or read here).
        self._on_disk = set()

    def save(self, ring, steps):
        """Writes the copies of `steps` that are not on disk yet, atomically each.

        Raises:
            OSError: a file could not be written (the others stay).
        """
        for step in steps:
            if step in self._on_disk:
                continue
            weights, slots = ring.held(step)
            arrays = {f"w{i}": _raw(a) for i, a in enumerate(weights)}
            arrays.update({f"s{i}": _raw(a) for i, a in enumerate(slots)})
            meta = {"format": FORMAT, "version": VERSION, "step": int(step),
                    "weights": [_spec(a) for a in weights],
                    "slots": [_spec(a) for a in slots]}
            state_lib.write_npz(snapshot_path(self.directory, step),
                                meta=state_lib.json_array(meta), **arrays)
            self._on_disk.add(step)

    def prune(self, keep):
        """Deletes the snapshot files of steps not in `keep` (best effort)."""
        keep = {int(s) for s in keep}
        pattern = re.compile(re.escape(PREFIX) + r"(\d+)\.npz$")
        for path in glob.glob(os.path.join(glob.escape(self.directory), PREFIX + "*.npz")):
            match = pattern.search(os.path.basename(path))
            if match and int(match.group(1)) not in keep:
                try:
                    os.remove(path)
                except OSError:  # gone already, or read-only: harmless
                    pass
                self._on_disk.discard(int(match.group(1)))

    def load(self, ring, steps):
        """Puts the saved copies of `steps` into `ring`.

        Raises:
            SnapshotFileError: a file is missing, corrupt, or does not fit
                the model or optimizer; the ring then holds none of them.
        """
        try:
            for step in steps:
                weights, slots = _read(snapshot_path(self.directory, step), step)
                try:
                    ring.put(step, weights, slots)
                except ValueError as error:
                    raise SnapshotFileError(
                        f"{snapshot_path(self.directory, step)}: {error}") from error
        except SnapshotFileError:
            ring.clear()
            raise
        self._on_disk.update(int(s) for s in steps)


def _raw(array):
    """The array's bytes, as a flat uint8 array (no copy when contiguous)."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8)


def _spec(array):
    return [str(array.dtype), [int(d) for d in array.shape]]


def _read(path, step):
    """`(weights, slots)` read from the snapshot file at `path`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if not isinstance(meta, dict) or meta.get("format") != FORMAT or (
                    meta.get("version") != VERSION or meta.get("step") != step):
                raise SnapshotFileError(
                    f"{path} is not AutoLR's snapshot of step {step}.")
            weights = [_array(data[f"w{i}"], spec)
                       for i, spec in enumerate(meta["weights"])]
            slots = [_array(data[f"s{i}"], spec)
                     for i, spec in enumerate(meta["slots"])]
    except SnapshotFileError:
        raise
    except (OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile,
            KeyError, UnicodeDecodeError) as error:
        raise SnapshotFileError(
            f"The AutoLR snapshot file {path} is missing, corrupt or truncated "
            f"({type(error).__name__}: {error}).") from error
    return weights, slots


def _array(raw, spec):
    """The array saved as `raw` bytes with `spec` = [dtype name, shape].

    A writable view of the bytes read: the ring reuses its buffers.
    """
    name, shape = spec
    return np.asarray(raw, np.uint8).view(_numpy_dtype(name)).reshape(shape)


def _numpy_dtype(name):
    try:
        return np.dtype(name)
    except TypeError:  # bfloat16, float8: Keras' own ml_dtypes names them
        import ml_dtypes

        try:
            return np.dtype(getattr(ml_dtypes, name))
        except AttributeError:
            raise ValueError(f"unknown dtype {name!r}") from None
