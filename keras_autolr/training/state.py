"""Saving and restoring AutoLR's state, so that a preempted run resumes exactly.

The state is the per-step loss record and the steps at which the host saw
each execution's losses, plus the options that shaped the decision. A
restore replays the record through a fresh `WarmupController` up to the
step the restored weights are at: the detector is a pure function of the
record, the seed and the options, so phase, switch step, peak LR, GP
hyperparameters, test results and random draws come back exactly as they
were, by construction. A state written after the weights (a kill between
two saves) is cut at the weights' step; steps the state lacks are unknown
losses (no test uses them).

The snapshots the rewind may still use (snapshot.py) are kept beside it,
one file per snapshot (`autolr_snapshot_<step>.npz`), which the state
file lists: a restore puts them back into the `SnapshotRing`, and the
rewind goes to the same copy as in an uninterrupted run. A file saved
without that list (an older keras_autolr) resumes with new snapshots.

Every file is written to a temporary name and renamed over the old one,
so a kill during the write leaves the previous one.
"""

import collections
import json
import os
import zipfile

import numpy as np

FORMAT = "keras_autolr.training.state"
VERSION = 1
FILENAME = "autolr_state.npz"


SavedState = collections.namedtuple(
    "SavedState", ["losses", "ends", "observed", "decision", "snapshot_steps"])
SavedState.__doc__ = """A state file's content (`load_state`).

`snapshot_steps` is the list of the steps whose snapshots were saved
beside it, or None in a file saved without the list (older versions)."""


class StateFileError(ValueError):
    """A state file that is corrupt, truncated, foreign or from other options."""


def state_path(backup_dir):
    return os.path.join(backup_dir, FILENAME)


def write_npz(path, **arrays):
    """Writes `arrays` to an `.npz` file atomically: a temporary file, then a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # the write failed (disk full): no litter
            os.remove(tmp)


def json_array(value):
    """`value` as JSON in a uint8 array (an `.npz` entry needing no pickle)."""
    return np.frombuffer(json.dumps(value).encode(), np.uint8)


def save(path, losses, ends, observed, fingerprint, decision, snapshot_steps=None):
    """Writes the state atomically: a temporary file, then a rename.

    Args:
        path: file path.
        losses: float array, the loss of each step so far.
        ends: int array, steps after which the host observed losses.
        observed: bool array, False where a segment's losses were never seen.
        fingerprint: dict of the options that shape the decision.
        decision: dict with `switch_step`, `peak_lr`, `reason` and
            `restored_step`.
        snapshot_steps: list of int or None. The steps of the snapshots
            saved beside the file (snapshot.py), in the order held.
    """
    meta = {"format": FORMAT, "version": VERSION, "fingerprint": fingerprint,
            "decision": decision, "n_steps": int(len(losses))}
    if snapshot_steps is not None:
        meta["snapshot_steps"] = [int(s) for s in snapshot_steps]
    write_npz(path, losses=np.asarray(losses, np.float64),
              ends=np.asarray(ends, np.int64),
              observed=np.asarray(observed, bool), meta=json_array(meta))


def load(path, fingerprint):
    """Reads a state file and checks it belongs to this run.

    Returns:
        `(losses, ends, observed, decision)`: `load_state` without the
        snapshot steps.

    Raises:
        StateFileError: see `load_state`.
    """
    return tuple(load_state(path, fingerprint)[:4])


def load_state(path, fingerprint):
    """Reads a state file and checks it belongs to this run.

    Returns:
        A `SavedState`.

    Raises:
        StateFileError: the file is corrupt or truncated, is not an AutoLR
            state file, or was written with different options. The message
            names the file and the problem; deleting the file starts warmup
            afresh.
    """
    advice = f"Delete {path} to start warmup afresh."
    try:
        with np.load(path, allow_pickle=False) as data:
            if not {"losses", "ends", "observed", "meta"} <= set(data.files):
                raise StateFileError(
                    f"{path} is not an AutoLR state file (arrays "
                    f"{sorted(data.files)}). {advice}")
            losses = np.array(data["losses"], np.float64)
            ends = np.array(data["ends"], np.int64)
            observed = np.array(data["observed"], bool)
            meta = json.loads(bytes(data["meta"]).decode())
    except StateFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError,
            UnicodeDecodeError) as error:
        raise StateFileError(
            f"The AutoLR state file {path} is corrupt or truncated "
            f"({type(error).__name__}: {error}). {advice}") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise StateFileError(f"{path} is not an AutoLR state file. {advice}")
    if meta.get("version") != VERSION:
        raise StateFileError(
            f"{path} has state version {meta.get('version')!r}; this "
            f"keras_autolr reads version {VERSION}. {advice}")
    if len(losses) != meta.get("n_steps") or len(observed) != len(ends) or (len(ends) and (
            ends[-1] != len(losses) or np.any(np.diff(ends) <= 0))):
        raise StateFileError(
            f"The AutoLR state file {path} is inconsistent (record of "
            f"{len(losses)} steps, {meta.get('n_steps')!r} expected). {advice}")
    saved = meta.get("fingerprint", {})
    for key in sorted(set(saved) | set(fingerprint)):
        if saved.get(key) != fingerprint.get(key):
            raise StateFileError(
                f"{path} was written by an AutoLR with other options: "
                f"{key}={saved.get(key)!r} there, {key}={fingerprint.get(key)!r} "
                f"here. Use the same options to resume, or {advice[0].lower()}"
                f"{advice[1:]}")
    steps = meta.get("snapshot_steps")
    if steps is not None and not (
            isinstance(steps, list) and all(isinstance(s, int) for s in steps)):
        raise StateFileError(
            f"The AutoLR state file {path} is inconsistent (snapshot steps "
            f"{steps!r}). {advice}")
    return SavedState(losses, ends, observed, meta.get("decision", {}), steps)
