"""What an op's result was computed from, so that a stored result is reused only for the
op it describes.

``fingerprint(op)`` hashes the op's declaration (every field but the functions, as JSON)
and the source of each of its functions (``forward``, ``backward``, ``jvp``,
``double_backward``: where no source is available, their bytecode and constants). A
results stream records it with each entry (``computed_from``); ``--resume`` audits again
every op whose fingerprint, opcheck version, seed or mode differs from the stored one.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spec import Op

#: The key of each results-stream entry that holds what the entry was computed from.
KEY = "computed_from"


def fingerprint(op: Op) -> str:
    """A short hex digest of the declaration and the code of ``op``'s functions."""
    digest = hashlib.sha256()
    fields = {}
    for name, value in op:
        if callable(value):
            digest.update(f"\0{name}\0".encode() + _code(value))
        else:
            fields[name] = value
    digest.update(json.dumps(fields, sort_keys=True, default=_plain).encode())
    return digest.hexdigest()[:16]


def computed_from(op: Op | None, version: str, seed: int, mode: str) -> dict[str, Any]:
    return {"fingerprint": fingerprint(op) if op is not None else None,
            "opcheck_version": version, "seed": seed, "mode": mode}


def _code(fn: Any) -> bytes:
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            return repr(getattr(fn, "__qualname__", type(fn).__qualname__)).encode()
        return code.co_code + repr(code.co_consts).encode()


def _plain(value: Any) -> Any:
    """JSON for what ``json`` cannot write: models as their fields, functions (a sampler)
    as their code, anything else as its repr."""
    if hasattr(value, "model_dump"):
        return value.model_dump()
    if callable(value):
        return _code(value).decode("utf-8", "replace")
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    return repr(value)
