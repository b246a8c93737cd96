"""opcheck: gradient checking for op registries.

Plugins declare ops (forward, backward, input schemas); opcheck audits every op with one
uniform finite-difference check. The public API is exactly ``__all__``.

Names are imported on first use, so that merely loading opcheck's pytest plugin (which
every pytest run on a machine with opcheck installed does) costs no numpy or pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOME = {
    "audit": ".public_audit",
    "InputError": ".errors",
    "OpcheckError": ".errors",
    "PluginError": ".errors",
    "UsageError": ".errors",
    "hookimpl": ".hookspecs",
    "Registry": ".plugin_manager",
    "discover": ".plugin_manager",
    "from_jax": ".frameworks.jax",
    "from_torch": ".frameworks.torch",
    "OpReport": ".result",
    "Op": ".spec",
    "Tensor": ".spec",
}

__all__ = sorted([*_HOME, "__version__"])

if TYPE_CHECKING:
    from .errors import InputError, OpcheckError, PluginError, UsageError
    from .frameworks.jax import from_jax
    from .frameworks.torch import from_torch
    from .public_audit import audit
    from .hookspecs import hookimpl
    from .plugin_manager import Registry, discover
    from .result import OpReport
    from .spec import Op, Tensor


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'opcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
