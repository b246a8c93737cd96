"""Test plugin for the Dask executor: an op that kills the Dask worker auditing it.

Under ``--executor dask`` an op runs in a process of opcheck's own, forked from a fork
server that the Dask worker started: the worker is the op's grandparent. The op kills it
only when ``OPCHECK_TEST_KILL_GRANDPARENT`` is set, so nothing else ever runs it by mistake.
"""

import os
import signal

import opcheck

X = {"x": opcheck.Tensor(shape=(3,))}


def _kill_worker(x):
    if os.environ.get("OPCHECK_TEST_KILL_GRANDPARENT"):
        import psutil

        os.kill(psutil.Process().parent().parent().pid, signal.SIGKILL)
    return 2.0 * x


@opcheck.hookimpl
def opcheck_ops():
    return [opcheck.Op(name="dask.kills_its_worker", forward=_kill_worker,
                       backward=lambda dout, x: {"x": 2.0 * dout}, inputs=X)]
