"""What runs inside an audit worker process, and the guard around auditing one op.

A worker discovers the ops itself (an ``Op`` holds functions, which do not travel between
processes): the parent sends op names and the ``-p`` plugin list, the worker returns
``OpReport`` objects. ``audit_guarded`` turns anything an op can throw, ``SystemExit``,
``KeyboardInterrupt`` and ``os._exit`` included, into an ``error`` report, and runs the op
in a ``hygiene.op_sandbox``; only a usage error and a real interrupt get through.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
from multiprocessing.connection import Connection
from typing import Any, TextIO

from . import audit_progress, blas_threads, interrupts
from .engine import audit_op  # noqa: F401 (the fork server imports the audit before any worker starts)
from .errors import AuditTimeout, UsageError
from .exits import stopped
from .expectation_reports import audit_expected
from .frontend import error_report
from .hygiene import op_sandbox
from .plugin_manager import Registry, discover
from .result import OpReport

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))
_real_exit = os._exit  # never the op sandbox's trap: a worker must be able to end itself
_state: dict[str, Any] = {}


def audit_guarded(
    registry: Registry, name: str, seed: int, mode: str, variant: str | None, order: int = 2,
) -> OpReport:
    """``audit`` one discovered op; whatever it raises becomes an ``error`` report."""
    return audit_sandboxed(registry, name, seed, mode, variant, in_worker=False, order=order)[0]


def audit_sandboxed(
    registry: Registry, name: str, seed: int, mode: str, variant: str | None, in_worker: bool,
    order: int = 2,
) -> tuple[OpReport, bool]:
    """``audit_guarded``, and whether the op left threads or processes running (its
    worker should be replaced). The op's output and any state it changed and opcheck
    restored are the report's warnings."""
    info = registry.plugin_of.get(name)
    if name not in registry:
        return error_report(name, "the op was not found when the worker discovered the plugins "
                            "(is its plugin deterministic?)", seed, mode, None, variant,
                            order=order), False
    blas_threads.prepare()  # (its import sets an environment variable: not the op's doing)
    with op_sandbox(in_worker) as box:
        try:
            report = audit_expected(registry[name], seed=seed, mode=mode, variant=variant,
                                    plugin=info, order=order)
        except (UsageError, AuditTimeout):
            raise
        except KeyboardInterrupt as exc:
            if interrupts.received():  # a real Ctrl-C or SIGTERM: the run stops
                raise
            report = error_report(name, f"the audit stopped: {_describe(exc)}", seed, mode, info,
                                  variant, order=order)
        except BaseException as exc:  # noqa: BLE001 (SystemExit from op code, MemoryError, any bug)
            report = error_report(name, f"the audit stopped: {_describe(exc)}", seed, mode, info,
                                  variant, order=order)
    report.warnings += box.notes()
    return report, bool(box.leftovers)


_describe = stopped  # one wording for every front end (exits.py)


# --- inside the worker process ---------------------------------------------------------


def initialize(
    alive: Connection, environ: dict[str, str], cwd: str, sys_path: list[str],
    plugins: tuple[str, ...],
    max_memory: int | None, crash_log: str, timeout: float | None,
    progress_file: str | None = None,
) -> None:
    """The pool's initializer: runs once in each new worker, before any op. The worker
    takes the parent's environment, working directory and sys.path as they are now, not as
    they were when the fork server started."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    # Its own process group: ending the worker ends whatever its ops started with it.
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    os.dup2(2, 1)  # nothing a worker or its plugins print can reach opcheck's stdout
    os.environ.clear()
    os.environ.update(environ)
    with contextlib.suppress(OSError):  # a directory removed since is not the op's concern
        os.chdir(cwd)
    sys.path[:] = sys_path  # -p imports from the parent's current directory
    _exit_with_parent(alive, crash_log)
    if progress_file:
        audit_progress.attach(progress_file)  # the parent reads how far an op got
    if max_memory:
        from .memory_limit import lower_address_space

        lower_address_space(max_memory)
    log: TextIO = open(crash_log, "w", encoding="utf-8")  # noqa: SIM115 (kept open for life)
    faulthandler.enable(file=log, all_threads=False)
    _state.update(log=log, timeout=timeout, registry=discover(plugins))


def worker_pid() -> int:
    """The first task of every worker: it tells the parent which process to watch."""
    return os.getpid()


def audit_in_worker(name: str, seed: int, mode: str, variant: str | None, order: int = 2) -> OpReport:
    return audit_task(name, seed, mode, variant, order)[0]


def audit_task(name: str, seed: int, mode: str, variant: str | None,
               order: int = 2) -> tuple[OpReport, bool]:
    """One op in this worker: its report, and whether the worker must be replaced (the op
    left threads or child processes running)."""
    timeout = _state["timeout"]
    audit_progress.reset()
    if timeout:  # leave a stack dump just before the parent's deadline: where it hung
        faulthandler.dump_traceback_later(max(0.05, timeout * 0.9), file=_state["log"])
    try:
        return audit_sandboxed(_state["registry"], name, seed, mode, variant, in_worker=True,
                               order=order)
    finally:
        if timeout:
            faulthandler.cancel_dump_traceback_later()


def _exit_with_parent(alive: Connection, crash_log: str) -> None:
    """A worker must not outlive the opcheck process that started it, or a hung op would
    spin on, holding the caller's stdout open. ``alive`` is the read end of a pipe whose
    only write end opcheck holds: it reads EOF the moment opcheck is gone, however it died
    (the worker's parent in the process tree is the fork server, which waits for its
    workers, so watching the parent would not do)."""

    def watch() -> None:
        try:
            alive.recv_bytes()
        except (EOFError, OSError):
            pass
        with contextlib.suppress(OSError):
            os.unlink(crash_log)  # opcheck, which would have read and removed it, is gone
        _real_exit(70)

    threading.Thread(target=watch, name="opcheck-parent-watch", daemon=True).start()


def where_it_stopped(crash_log: str) -> str:
    """' in FUNC at FILE:LINE' from a worker's fault-handler dump: the op's own function (the
    frame opcheck called), and the innermost frame when that is elsewhere ("" if no dump)."""
    try:
        with open(crash_log, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    for block in text.split("\n\n"):
        frames = [_frame(line) for line in block.splitlines() if line.strip().startswith("File ")]
        frames = [f for f in frames if f is not None]  # most recent call first
        worker = [path for path, _, func in frames if func in ("audit_task", "audit_in_worker")]
        if not worker:
            continue
        # opcheck's frames are those in the worker's own package directory (not this
        # process's: the two agree unless a worker imported opcheck from elsewhere).
        package = os.path.dirname(os.path.realpath(worker[0])) + os.sep
        ours = [k for k, (path, _, _) in enumerate(frames)
                if os.path.realpath(path).startswith(package)]
        if not ours or ours[0] == 0:
            return ""
        entry, innermost = frames[ours[0] - 1], frames[0]
        text = f" in {entry[2]} at {entry[0]}:{entry[1]}"
        if innermost != entry:
            text += f", via {innermost[2]} at {innermost[0]}:{innermost[1]}"
        return text
    return ""


def _frame(line: str) -> tuple[str, str, str] | None:
    """('FILE', 'LINE', 'FUNC') from a fault-handler line '  File "FILE", line LINE in FUNC'."""
    try:
        path, rest = line.strip()[len('File "'):].split('", line ', 1)
        number, func = rest.split(" in ", 1)
    except ValueError:
        return None
    return path, number.strip(), func.strip()


def _is_ours(path: str) -> bool:
    return os.path.realpath(path).startswith(_PACKAGE_DIR + os.sep)
