"""What one op is audited at: shape variants × attr configurations, each with a label.

- An op without attrs keeps the labels it always had: ``default``, then each symbolic dim
  set to 1 and to another small size (``N=1``, ``N=4``).
- An op with attrs is labelled by its configuration, ``stride=1 pad=0``; its shape
  variants run at the default configuration (``stride=1 pad=0 N=1``) and every other
  configuration runs at the default dims (``stride=2 pad=0``).
- The configurations: the full grid of attr values when it has at most ``GRID_LIMIT``
  points, else a pairwise covering design (every value of every attr, and every pair
  of values of two attrs, in at least one configuration), built greedily and
  deterministically from the grid with the defaults first.
- Dims above ``SMALL_DIM`` (64) are audited at their declared size in the default variant
  only; every other variant starts from small sizes (``small_base``: 5, 6, 7, ...,
  equal dims kept equal, unequal kept unequal), where size-1, odd and non-square shape
  logic shows as well and costs little; so do the largest dims above 8 while a variant
  would hold more than 4,096 input elements.
- Anything that breaks a declared relation (a shape expression below 1, an empty
  integer range, a failing constraint) is left out; a dim variant tries the next sizes.

Labels are space-separated ``name=value`` tokens, so a selector such as ``stride=2``
(``--variant``, pytest's xfail/skip) picks every label holding all of its tokens.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .relations import violation
from .spec import Op

__all__ = ["GRID_LIMIT", "attr_configurations", "expand_selectors", "label", "matching", "plan"]

DEFAULT_VARIANT = "default"
#: The largest attr grid audited in full; larger ones get a pairwise covering design.
GRID_LIMIT = 16
#: Grids past this size are not enumerated: the covering design is built pair by pair.
_ENUMERATE_LIMIT = 20000

Variant = tuple[dict[str, int], dict[str, Any]]


def spell(value: Any) -> str:
    """An attr value as a label token shows it: one token (labels split on spaces), and a
    different token for every different value — a plain word stays bare (``mode=same``);
    any other string is quoted, with its spaces written ``\\x20`` as in a Python literal
    (``mode='a\\x20b'``), so ``'a b'``, ``'ab'`` and ``1`` never share a label."""
    if isinstance(value, tuple):
        inner = ",".join(spell(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        if value.isidentifier() and value not in ("None", "True", "False"):
            return value
        return repr(value).replace(" ", "\\x20")
    return repr(value)


def label(attrs: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={spell(v)}" for k, v in attrs.items())


def matching(selector: str, labels: Iterable[str]) -> list[str]:
    """The labels a selector picks: itself, or every label holding all its tokens;
    ``default`` is the first label (an op with attrs labels it by its configuration)."""
    labels = list(labels)
    if selector in labels:
        return [selector]
    if selector == DEFAULT_VARIANT and labels:
        return [labels[0]]
    tokens = set(selector.split())
    if not tokens or any("=" not in t for t in tokens):
        return []
    return [name for name in labels if tokens <= set(name.split())]


def expand_selectors(table: Mapping[str, str], labels: Iterable[str]) -> dict[str, str]:
    """xfail/skip selectors with each partial one (``stride=2``) replaced by the labels it
    picks; exact labels, ``*``, dtype names and unknown selectors are kept as given."""
    labels = list(labels)
    expanded: dict[str, str] = {}
    for selector, reason in table.items():
        picked = [] if selector in labels else matching(selector, labels)
        for name in picked or [selector]:
            expanded.setdefault(name, reason)
    return expanded


def attr_configurations(op: Op, dims: Mapping[str, int]) -> list[dict[str, Any]]:
    """The attr configurations to audit, the defaults first (see the module docstring)."""
    if not op.attrs:
        return [{}]
    names = list(op.attrs)
    size = 1
    for values in op.attrs.values():
        size *= len(values)
    if size > _ENUMERATE_LIMIT:
        return _greedy_pairs(op, dims)
    grid = [dict(zip(names, row)) for row in itertools.product(*op.attrs.values())]
    valid = [c for c in grid if violation(op, dims, c) is None]
    if len(valid) <= GRID_LIMIT:
        return valid
    return _pairwise(names, valid)


def _pairs(config: Mapping[str, Any], names: list[str]) -> set[tuple[Any, ...]]:
    singles = {(a, repr(config[a])) for a in names}
    pairs = {(a, repr(config[a]), b, repr(config[b])) for a, b in itertools.combinations(names, 2)}
    return singles | pairs


def _pairwise(names: list[str], valid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Greedy covering: start from the defaults, then repeatedly add the valid grid point
    covering the most values and value pairs not yet covered (the first such point in
    grid order on a tie), until every coverable one is covered."""
    covers = [_pairs(c, names) for c in valid]
    wanted = set().union(*covers)
    chosen, covered = [0], set(covers[0])
    while covered != wanted:
        best = max(range(len(valid)), key=lambda i: (len(covers[i] - covered), -i))
        chosen.append(best)
        covered |= covers[best]
    return [valid[i] for i in chosen]


def _greedy_pairs(op: Op, dims: Mapping[str, int]) -> list[dict[str, Any]]:
    """For grids too large to enumerate: one configuration per value pair not yet covered,
    its other attrs chosen one by one to cover the most new pairs (the first value on a
    tie), falling back to the defaults when that breaks a constraint."""
    names = list(op.attrs)
    default = {k: v[0] for k, v in op.attrs.items()}
    configs, covered = [default], _pairs(default, names)
    for a, b in itertools.combinations(names, 2):
        for u, v in itertools.product(op.attrs[a], op.attrs[b]):
            if (a, repr(u), b, repr(v)) in covered:
                continue
            row = {a: u, b: v}
            for c in names:
                if c not in row:
                    row[c] = _best_value(op.attrs[c], row, c, covered)
            row = {n: row[n] for n in names}
            for candidate in (row, {**default, a: u, b: v}):
                if violation(op, dims, candidate) is None:
                    configs.append(candidate)
                    covered |= _pairs(candidate, names)
                    break
    return configs


def _best_value(values: list[Any], row: Mapping[str, Any], name: str,
                covered: set[tuple[Any, ...]]) -> Any:
    """The value of attr ``name`` that, added to ``row``, covers the most new pairs (the
    first such value on a tie)."""
    def gain(k: int) -> tuple[int, int]:
        return len(_pairs({**row, name: values[k]}, [*row, name]) - covered), -k

    return values[max(range(len(values)), key=gain)]


def plan(op: Op) -> dict[str, Variant]:
    """Label → (dims, attrs) for every variant audited, the default first."""
    default = op.default_dims()
    configs = attr_configurations(op, default)
    first = configs[0] if configs else {k: v[0] for k, v in op.attrs.items()}
    prefix = label(first)
    result: dict[str, Variant] = {prefix or DEFAULT_VARIANT: (default, first)}
    declared, default = default, small_base(op, default, first)
    taken = set(default.values())
    for dim, size in default.items():
        others = [s for s in range(size + 1, size + 5) if s not in taken] or [size + 1]
        others += [s for s in range(size + 5, size + 9) if s not in taken]  # if others break a rule
        picks = [1] if size != 1 else []
        picks += [next((s for s in others if violation(op, {**default, dim: s}, first) is None), 1)]
        for new in dict.fromkeys(picks):
            dims = {**default, dim: new}
            if new != size and violation(op, dims, first) is None:
                result[f"{prefix} {dim}={new}".strip()] = (dims, first)
    for config in configs[1:]:
        small = default if violation(op, default, config) is None else declared
        result[label(config)] = (small, config)
    return result


#: Dims larger than this are audited at their declared size once (the default variant);
#: every other variant takes them at a small size (``small_base``).
SMALL_DIM = 64
#: A non-default variant holds at most this many differentiable input elements where
#: shrinking dims above ``SMALL_FLOOR`` can make it so (the size always checked whole,
#: ``budget.ALWAYS_FULL``): a conv2d's x (4, 8, 32, 32) has no dim above 64, yet each of
#: its variants cost as much as the declared shape.
SMALL_ELEMENTS = 4096
#: Dims at most this large are never shrunk for ``SMALL_ELEMENTS``.
SMALL_FLOOR = 8


def small_base(op: Op, dims: Mapping[str, int], attrs: Mapping[str, Any]) -> dict[str, int]:
    """The dims the non-default variants start from: each dim above ``SMALL_DIM`` becomes
    a small size (5, 6, 7, ...; dims of equal declared size stay equal, unequal ones stay
    unequal and unequal to the small dims), then, while the variant holds more than
    ``SMALL_ELEMENTS`` input elements, the largest remaining dim above ``SMALL_FLOOR``
    too. Shape logic (size 1, odd, non-square) is still exercised but a variant costs
    little. A shrink that breaks a declared relation is not made (nor any after it)."""
    shrink = sorted({v for v in dims.values() if v > SMALL_DIM})
    more = sorted({v for v in dims.values() if SMALL_FLOOR < v <= SMALL_DIM}, reverse=True)
    best = dict(dims)
    while True:
        if shrink:
            small = _shrunk(dims, shrink)
            if violation(op, small, attrs) is not None:
                return best
            best = small
        if not more or input_elements(op, best) <= SMALL_ELEMENTS:
            return best
        shrink.append(more.pop(0))


def _shrunk(dims: Mapping[str, int], sizes: list[int]) -> dict[str, int]:
    """``dims`` with every dim of a size in ``sizes`` mapped to a small size, in order."""
    used = {v for v in dims.values() if v not in sizes}
    free = [s for s in range(5, 5 + len(sizes) + len(used) + 8) if s not in used]
    mapping = dict(zip(sorted(sizes), free))
    return {k: mapping.get(v, v) for k, v in dims.items()}


def input_elements(op: Op, dims: Mapping[str, int]) -> int:
    """The differentiable input elements of ``op`` at ``dims`` (every input's if none is
    differentiable): what a variant's element-wise check costs in forward-call pairs."""
    names = op.differentiable_inputs or list(op.inputs)
    return sum(math.prod(op.inputs[n].concrete_shape(dims)) for n in names)
