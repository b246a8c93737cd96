"""The batched central sweep of an input whose every element has a central step.

A small op's full check is mostly fixed costs (docs/benchmarks.md): at a few dozen
elements, ``finite_diff.batched_central``'s fancy indexing (row pair k moves element
k of the chunk) costs more than the batched forward call it feeds. When every step is
central, the elements of a chunk are a contiguous run and the entries to move lie on a
stride of the stacked buffer, so plain slices do the same writes. The numbers are the
ones ``batched_central`` gives: the same values written, the same calls, the same row
projections.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import audit_progress
from . import finite_diff as fd
from .reductions import all_true


def central_sweep(call: fd.Call, stack: np.ndarray, plan: fd.StepPlan,
                  douts: Sequence[np.ndarray | None], out: np.ndarray) -> None:
    """``finite_diff.batched_central`` for a plan whose every step is central."""
    if not stack.flags.c_contiguous:  # the strided writes below need one flat view
        fd.batched_central(call, stack, plan, douts, out)
        return
    rows, n = stack.shape
    per_call = rows // 2
    flat = stack.reshape(-1)  # a view: (rows, n) is C-contiguous
    stride = 2 * n + 1  # row 2k, column start + k lies k strides after (0, start)
    up = np.asarray(plan.perturbed[0], dtype=stack.dtype)
    down = np.asarray(plan.perturbed[1], dtype=stack.dtype)
    orig = np.asarray(plan.at, dtype=stack.dtype)
    width = plan.width
    resolved = all_true(width)
    for start in range(0, n, per_call):
        stop = min(start + per_call, n)
        even = slice(start, start + (stop - start - 1) * stride + 1, stride)
        odd = slice(even.start + n, even.stop + n, stride)
        flat[even], flat[odd] = up[start:stop], down[start:stop]
        outputs = call()
        if resolved:
            out[start:stop] = fd.project_rows(outputs, douts, stop - start) / width[start:stop]
        else:
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 width: NaN, looked at again
                out[start:stop] = fd.project_rows(outputs, douts, stop - start) / width[start:stop]
        flat[even], flat[odd] = orig[start:stop], orig[start:stop]
        audit_progress.slots[audit_progress.DONE] = stop
