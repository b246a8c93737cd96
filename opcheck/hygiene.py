"""Each op starts from the same process state, whatever the op before it did.

``op_sandbox`` is wrapped around the audit of one op (in a worker process, or in-process
for ``--jobs 1``). Before the op it snapshots what an op can change and opcheck can put
back cheaply; after it, it restores that state and reports what was changed:

- numpy's error state (``np.seterr``) and print options, the working directory, the
  environment, ``sys.path``, every Python signal handler, ``sys.stdout``/``stderr``/``stdin``;
- what the op writes to file descriptors 1 and 2 (``print``, C code, child processes) is
  captured into a file, so it never lands in a report on stdout, and kept (truncated);
- ``os._exit`` called from the op's own process raises ``ExitCalled`` instead of ending
  the process (a forked child still exits for real).

What cannot be put back — a thread or a child process the op left running — is listed in
``Sandbox.leftovers``: the runner recycles the worker, which ends them with its process
group. Restoring costs 0.04-0.12 ms per op; recycling a worker costs a process start and
a plugin discovery, 70-90 ms (docs/reliability.md has the figures).
"""

from __future__ import annotations

import _signal
import contextlib
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: How much of an op's output its report keeps (the first characters).
OUTPUT_LIMIT = 2000
#: Per process: the capture file (truncated before each op), then text streams over fds 1, 2.
_capture_file: list[Any] = []


class ExitCalled(SystemExit):
    """``os._exit`` called by op or plugin code under ``trapped_exit``: that op's (or that
    plugin's) error, instead of the end of opcheck with the status the caller chose."""


@dataclass
class Sandbox:
    """What one op did to its process: state put back, output written, what it left."""

    restored: list[str] = field(default_factory=list)
    output: str = ""
    leftovers: list[str] = field(default_factory=list)
    in_worker: bool = False

    def notes(self) -> list[str]:
        """Report warnings: the state restored, what was left running, the output."""
        notes = []
        if self.restored:
            notes.append(f"the op changed {', '.join(self.restored)}; opcheck restored it")
        if self.leftovers:
            fate = ("its worker process was replaced, which ended them" if self.in_worker else
                    "opcheck cannot end them in its own process (--jobs 1); other --jobs "
                    "values audit each op in a worker process that ends them")
            notes.append(f"the op left {' and '.join(self.leftovers)} running; {fate}")
        if self.output:
            notes.append(f"output of the op (stdout and stderr): {self.output}")
        return notes


@contextlib.contextmanager
def trapped_exit() -> Iterator[None]:
    """``os._exit`` raises ``ExitCalled`` in this thread of this process while the block
    runs (elsewhere it exits as ever)."""
    real, me, thread = os._exit, os.getpid(), threading.get_ident()

    def _exit(status: int) -> None:
        if os.getpid() != me or threading.get_ident() != thread:
            real(status)  # a child the op forked, or another thread (opcheck's own watcher)
        raise ExitCalled(f"os._exit({status}) was called")

    os._exit = _exit  # type: ignore[assignment]
    try:
        yield
    finally:
        os._exit = real


@contextlib.contextmanager
def op_sandbox(in_worker: bool) -> Iterator[Sandbox]:
    """Run one op's audit inside: restore state and capture output afterwards.
    ``in_worker``: this process is a worker of ours, so child processes can be counted
    (``waitpid`` would reap other code's children in a process we share)."""
    box = Sandbox(in_worker=in_worker)
    state = _snapshot()
    threads = set(threading.enumerate())
    had_children = in_worker and _has_children()
    try:
        with _captured_output(box), trapped_exit():
            yield box
    finally:
        box.restored = _restore(state)
    alive = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    if alive:
        box.leftovers.append(f"{len(alive)} thread{'s' if len(alive) > 1 else ''} "
                             f"({', '.join(t.name for t in alive[:3])})")
    if in_worker and not had_children and _has_children():
        box.leftovers.append("child processes")


def _has_children() -> bool:
    """Whether this process has a child still running (reaping any that exited)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


# --- state ---------------------------------------------------------------------------


@dataclass
class _State:
    numpy_err: dict[str, str]
    numpy_print: dict[str, Any]
    cwd: str | None
    environ: dict[Any, Any]  # as ``_environ()`` holds it
    sys_path: list[str]
    handlers: dict[int, Any]
    streams: tuple[Any, Any, Any]


def _snapshot() -> _State:
    import numpy as np  # here, not at import: the CLI starts without numpy

    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return _State(np.geterr(), np.get_printoptions(), cwd, dict(_environ()), list(sys.path),
                  _handlers(), (sys.stdin, sys.stdout, sys.stderr))


def _environ() -> Any:
    """The environment as os.environ stores it (encoded): comparing that is 30x faster
    than comparing ``os.environ``, which decodes every entry."""
    return getattr(os.environ, "_data", os.environ)


#: Every signal number, as plain ints: ``signal.getsignal`` wraps each answer in an enum,
#: which made reading all handlers 30x slower than the C function underneath.
_SIGNALS = tuple(int(s) for s in signal.valid_signals())
_getsignal = getattr(_signal, "getsignal", signal.getsignal)


def _handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    found = {}
    for signum in _SIGNALS:
        try:
            handler = _getsignal(signum)
        except (ValueError, OSError):
            continue
        if handler is not None:
            found[signum] = handler
    return found


def _restore(state: _State) -> list[str]:
    """Put ``state`` back; name what had changed."""
    import numpy as np

    changed = []
    if np.geterr() != state.numpy_err:
        np.seterr(**state.numpy_err)
        changed.append("numpy's error state (np.seterr)")
    if np.get_printoptions() != state.numpy_print:
        np.set_printoptions(**state.numpy_print)
        changed.append("numpy's print options")
    with contextlib.suppress(OSError):
        if state.cwd is not None and os.getcwd() != state.cwd:
            os.chdir(state.cwd)
            changed.append("the working directory")
    if _environ() != state.environ:
        decode = os.fsdecode if _environ() is not os.environ else str
        now = _environ()
        names = sorted(decode(k) for k in set(now) ^ set(state.environ)) + sorted(
            decode(k) for k in set(now) & set(state.environ) if now[k] != state.environ[k])
        os.environ.clear()
        os.environ.update({decode(k): decode(v) for k, v in state.environ.items()})
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        changed.append(f"the environment ({shown})")
    if sys.path != state.sys_path:
        sys.path[:] = state.sys_path
        changed.append("sys.path")
    moved = []
    for signum, handler in state.handlers.items():
        if _getsignal(signum) != handler:
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)
                moved.append(signal.Signals(signum).name)
    if moved:
        changed.append(f"the handler of {', '.join(moved)}")
    if (sys.stdin, sys.stdout, sys.stderr) != state.streams:
        sys.stdin, sys.stdout, sys.stderr = state.streams
        changed.append("sys.stdout/stderr/stdin")
    return changed


# --- output --------------------------------------------------------------------------


@contextlib.contextmanager
def _captured_output(box: Sandbox) -> Iterator[None]:
    """Point file descriptors 1 and 2 at a capture file for the block; keep what came."""
    if not _capture_file:
        _capture_file.append(tempfile.TemporaryFile(prefix="opcheck-output-"))  # noqa: SIM115
    capture = _capture_file[0]
    capture.seek(0)
    capture.truncate()
    _flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # opcheck itself runs with stdout or stderr closed: nothing to protect
        yield
        return
    streams = (sys.stdout, sys.stderr)
    # Python-level writes go to the same descriptors even where sys.stdout was replaced
    # (an embedding program, pytest's capture).
    if len(_capture_file) == 1:  # made once per process: two wrappers cost 0.07 ms
        _capture_file.extend(open(fd, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                  errors="backslashreplace", closefd=False) for fd in (1, 2))
    mine = (_capture_file[1], _capture_file[2])
    try:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        sys.stdout, sys.stderr = mine
        yield
    finally:
        _flush()
        for stream in mine:
            with contextlib.suppress(Exception):
                stream.flush()
        # an op that replaced them itself is seen (and undone) by _restore
        if sys.stdout is mine[0]:
            sys.stdout = streams[0]
        if sys.stderr is mine[1]:
            sys.stderr = streams[1]
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        size = os.fstat(capture.fileno()).st_size
        if size:
            capture.seek(0)
            data = capture.read(OUTPUT_LIMIT * 4)
            text = data.decode("utf-8", "replace").strip()
            if len(text) > OUTPUT_LIMIT or size > len(data):
                text = text[:OUTPUT_LIMIT] + f"… ({size} bytes in all)"
            box.output = text


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
