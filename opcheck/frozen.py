"""Read-only ``dict`` and ``list`` for the containers inside frozen declarations.

A frozen pydantic model only stops attribute assignment: ``op.dims["N"] = 0`` would still
change a validated op behind its checks, and ``hash(op)`` would fail on the dict. These
subclasses refuse every mutation, hash by content, and still are a ``dict`` / ``list`` to
every reader (``json.dumps``, ``isinstance``, ``==`` with a plain dict or list, pickling).
"""

from __future__ import annotations

from typing import Any, NoReturn


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(f"{type(self).__name__} is read-only: a declared Op cannot be changed "
                    "after validation; build a new one (op.model_copy(update=...))")


class FrozenDict(dict):  # type: ignore[type-arg]
    """A ``dict`` that cannot change after it is built."""

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenDict:
        return self


class FrozenList(list):  # type: ignore[type-arg]
    """A ``list`` that cannot change after it is built."""

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (list(self),))

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenList:
        return self


def freeze(value: Any) -> Any:
    """``value`` with every dict and list inside it made read-only (tuples kept)."""
    if isinstance(value, dict):
        return FrozenDict({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(item) for item in value)
    return value
