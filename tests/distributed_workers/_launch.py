"""Starts worker processes with a time bound and always cleans them up.

Each worker runs in its own process group (`start_new_session`), so that a
timeout or a failure kills it with everything it started, on success,
failure and timeout alike.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_ports(count):
    """`count` distinct ports that are free on 127.0.0.1 right now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index):
    return json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
        "task": {"type": "worker", "index": index},
    })


def _tail(path, chars=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-chars:]
    except OSError:
        return "<no log>"


def _kill_group(process):
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def run(script, out_dir, args=(), workers=1, timeout=300, env=None):
    """Runs `workers` copies of `script` (2+: a multi-worker cluster).

    Each copy gets `OUT.json` (under `out_dir`) as first argument, then
    `args`. Returns the parsed JSON of each, in task order. Raises
    `AssertionError` with the logs when one fails or the time runs out.
    """
    ports = free_ports(workers) if workers > 1 else None
    processes, logs, outs = [], [], []
    deadline = time.monotonic() + timeout
    try:
        for index in range(workers):
            out = os.path.join(out_dir, f"worker{index}.json")
            log = os.path.join(out_dir, f"worker{index}.log")
            worker_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
                              PYTHONUNBUFFERED="1", **(env or {}))
            if ports:
                worker_env["TF_CONFIG"] = tf_config(ports, index)
            else:
                worker_env.pop("TF_CONFIG", None)
            with open(log, "w") as log_file:
                processes.append(subprocess.Popen(
                    [sys.executable, os.path.join(HERE, script), out, *args],
                    stdout=log_file, stderr=subprocess.STDOUT, env=worker_env,
                    start_new_session=True))
            logs.append(log)
            outs.append(out)
        for process in processes:
            remaining = deadline - time.monotonic()
            try:
                process.wait(timeout=max(remaining, 0.1))
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"{script}: still running after {timeout} s; logs:\n"
                    + "\n".join(_tail(log) for log in logs)) from None
    finally:
        for process in processes:
            _kill_group(process)
    failed = [i for i, p in enumerate(processes) if p.returncode != 0]
    if failed:
        raise AssertionError(
            f"{script}: worker(s) {failed} exited with "
            f"{[processes[i].returncode for i in failed]}; logs:\n"
            + "\n".join(_tail(logs[i]) for i in failed))
    results = []
    for out in outs:
        with open(out) as f:
            results.append(json.load(f))
    return results
