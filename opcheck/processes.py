"""Ending the processes an op leaves behind.

A worker is the leader of its own process group (``worker.initialize``), so killing the
group ends the worker and every process its ops forked or spawned that stayed in it. In
``--jobs 1`` the ops run in opcheck's own process: the children it has at the end of the
run that it did not have at the start are the ops', and are ended then (Linux: found in
``/proc``; elsewhere they are left).
"""

from __future__ import annotations

import contextlib
import os
import signal

_KILL = getattr(signal, "SIGKILL", signal.SIGTERM)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid``, or ``pid`` alone if it leads none."""
    try:
        os.killpg(pid, _KILL)
        return
    except (ProcessLookupError, PermissionError, AttributeError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, _KILL)


def children() -> set[int]:
    """The processes whose parent is this one (empty where there is no ``/proc``)."""
    me = str(os.getpid()).encode()
    found = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and fields[1] == me:
            found.add(int(entry))
    return found


def end_children(before: set[int]) -> list[int]:
    """Kill (and reap) this process's children that are not in ``before``, with the
    process groups they lead."""
    ended = sorted(children() - before)
    for pid in ended:
        kill_group(pid)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
    return ended
