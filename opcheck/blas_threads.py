"""How many BLAS threads an audit in this process uses (``opcheck.audit``, the pytest
plugin and fixture, ``opcheck audit --jobs 1``).

The finite differences call ``forward`` thousands of times on small arrays. A BLAS pool
of one thread per core gains little there and, where the cores are busy (CI, ``pytest -n``,
a shared machine), loses a great deal: its threads wait for cores at every call
(docs/benchmarks.md, "BLAS threads in process"). A default ``opcheck audit`` gives each
worker process cores ÷ jobs threads, one, through the environment, before numpy loads. A
process that has loaded numpy can change its pool only through threadpoolctl, used here
when it is installed (``pip install "opcheck[threads]"``); without it, the pool is as the
process started.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

#: The variables BLAS libraries read at load time (``worker_process`` sets them too).
VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def thread_count() -> int:
    """The count the environment names (the user's, or ``opcheck audit``'s for its
    ``--jobs``), else 1: what a default run's workers get."""
    for key in VARIABLES:
        value = os.environ.get(key, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def limited() -> contextlib.AbstractContextManager[Any]:
    """BLAS pools limited to ``thread_count()`` threads for the duration, where
    threadpoolctl can do it; otherwise, or where they hold no more already (a worker
    process), nothing changes. The libraries are looked up once per process (a lookup
    costs about a millisecond, as much as a small op's whole audit): a BLAS loaded later,
    with torch say, keeps its own pool."""
    blas = prepare()
    if blas is False:
        return contextlib.nullcontext()
    count = thread_count()
    if all(lib.num_threads <= count for lib in blas.lib_controllers):
        return contextlib.nullcontext()
    return blas.limit(limits=count)


def prepare() -> Any:
    """Look the BLAS libraries up (once per process; False without threadpoolctl). The
    sandbox calls this before it snapshots the process state: importing threadpoolctl sets
    ``KMP_DUPLICATE_LIB_OK`` in the environment, which the first op audited in a worker
    was otherwise blamed for ("the op changed the environment")."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            import numpy  # noqa: F401 (its BLAS is loaded with it: the lookup must find it)

            _blas = ThreadpoolController().select(user_api="blas")
    return _blas


#: threadpoolctl's controller of this process's BLAS libraries; False without threadpoolctl.
_blas: Any = None
