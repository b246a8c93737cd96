"""Evaluating many perturbations of one input in a single forward call.

Many numpy ops broadcast over a leading batch axis: ``forward(x=X)`` with ``X`` of shape
``(B, *x.shape)`` returns outputs of shape ``(B, *out.shape)``. That is never assumed: it
is verified once per op, input, shapes and batch size, on independent random inputs
(so an op that mixes batch entries, e.g. a mean over every axis, is caught) against
unbatched calls. Only verified ops are batched.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: Upper bound on the bytes of one batched call's perturbed inputs and outputs.
BATCH_BYTES = 4 << 20
#: Perturbations per batched call: enough to amortise a call's fixed cost, few enough
#: that memory stays linear in the op's size and the stack stays in cache (measured:
#: 64 rows run a 16x32·32x16 matmul audit 2.7x faster than 682 rows).
BATCH_ROWS = 64

#: Batch only ops whose inputs and outputs are this small (elements): there a call's
#: fixed Python cost dominates, while for big arrays a stacked call is no cheaper (numpy
#: loops over the stack) and the choice would only add memory traffic.
BATCH_MAX_ELEMENTS = 4096

_verified: dict[tuple[Any, ...], bool] = {}


def worth_batching(in_size: int, out_size: int) -> bool:
    return in_size + out_size <= BATCH_MAX_ELEMENTS


def batch_size(n_perturbations: int, in_size: int, out_size: int, itemsize: int = 8) -> int:
    per_row = max(1, (in_size + out_size) * itemsize)
    return int(max(2, min(n_perturbations, BATCH_BYTES // per_row, BATCH_ROWS)))


def readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def batchable(
    forward: Callable[..., Any],
    values: Mapping[str, np.ndarray],
    name: str,
    rows: int,
    sample: Callable[[np.random.Generator], np.ndarray],
) -> bool:
    """Does ``forward`` map a stack of ``rows`` values of input ``name`` to a stack of
    outputs, each equal to the unbatched call? Cached per (forward, name, shapes, rows)."""
    return batchable_together(forward, values, {name: sample}, rows)


def batchable_together(
    forward: Callable[..., Any],
    values: Mapping[str, np.ndarray],
    samples: Mapping[str, Callable[[np.random.Generator], np.ndarray]],
    rows: int,
) -> bool:
    """``batchable`` with every input named in ``samples`` stacked at once (row r of each
    stack together), as the joint projections call it."""
    names = tuple(samples)
    key = (_identity(forward), names[0] if len(names) == 1 else names,
           tuple((k, v.shape, v.dtype.str) for k, v in values.items()), rows)
    if key not in _verified:
        _verified[key] = _verify(forward, values, samples, rows)
    return _verified[key]


def _identity(fn: Any) -> Any:
    """What ``fn`` computes, as a key: an op with attrs is audited through a new
    ``functools.partial`` per variant and per audit (``binding.bind``), which as a key
    verified every variant anew (~7% of the built-in library's audit) and kept every
    partial alive; the same function with the same bound arguments is the same key."""
    if not isinstance(fn, functools.partial):
        return fn
    key = (_identity(fn.func), tuple(_identity(a) for a in fn.args),
           tuple(sorted((k, _identity(v)) for k, v in fn.keywords.items())))
    try:
        hash(key)
    except TypeError:  # an unhashable bound argument: this partial alone
        return fn
    return key


def _verify(forward: Callable[..., Any], values: Mapping[str, np.ndarray],
            samples: Mapping[str, Callable[[np.random.Generator], np.ndarray]], rows: int) -> bool:
    rng = np.random.default_rng(20240917)
    stacks = {name: _stack(sample, rng, rows) for name, sample in samples.items()}
    args = {k: readonly(v) for k, v in values.items()}
    try:
        batched = forward(**{**args, **{n: readonly(s) for n, s in stacks.items()}})
        checks = sorted({0, rows // 2, rows - 1})
        for r in checks:
            single = forward(**{**args, **{n: readonly(s[r]) for n, s in stacks.items()}})
            if not _same_slice(batched, single, r, rows):
                return False
    except Exception:  # an op that rejects a batch is simply not batched
        return False
    return True


#: Independent samples per verification stack; further rows repeat them in turn. Row 0 and
#: the last row (for the even row counts the audit uses, never a repeat of row 0) are among
#: those compared with unbatched calls, so an op that mixes batch entries still sees them
#: differ. (Drawing up to 64 samples per check was ~6% of the built-in library's audit: an
#: op with attrs gets a new bound forward, so a new check, in every variant.)
DISTINCT_ROWS = 8


def _stack(sample: Callable[[np.random.Generator], np.ndarray], rng: np.random.Generator,
           rows: int) -> np.ndarray:
    drawn = np.stack([sample(rng) for _ in range(min(rows, DISTINCT_ROWS))])
    return drawn if rows <= DISTINCT_ROWS else drawn[np.arange(rows) % DISTINCT_ROWS]


def _same_slice(batched: Any, single: Any, row: int, rows: int) -> bool:
    if isinstance(single, tuple) != isinstance(batched, tuple):
        return False
    pairs = zip(batched, single) if isinstance(single, tuple) else [(batched, single)]
    if isinstance(single, tuple) and len(batched) != len(single):
        return False
    for b, s in pairs:
        b, s = np.asarray(b), np.asarray(s)
        if b.shape != (rows, *s.shape) or b.dtype != s.dtype:
            return False
        if s.dtype.kind == "f":
            # Scaled by the row's own outputs: a forward that mixes rows (softmax over the
            # stacked axis) differs from the single call only by rounding where the
            # single call's outputs are all rounding too (an exact 0 at N=1).
            scale = float(np.max(np.abs(s), initial=0.0))
            if not np.allclose(b[row], s, rtol=0.0, atol=1e3 * np.finfo(s.dtype).eps * scale):
                return False
        elif not np.array_equal(b[row], s):
            return False
    return True
