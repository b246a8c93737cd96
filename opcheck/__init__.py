"""opcheck: gradient checking for op registries.

Plugins declare ops (forward, backward, input schemas); opcheck audits every op with one
uniform finite-difference check. The public API is exactly ``__all__``.
"""

from __future__ import annotations

from .audit import audit
from .errors import InputError, OpcheckError, PluginError, UsageError
from .hookspecs import hookimpl
from .plugin_manager import Registry, discover
from .result import OpReport
from .spec import Op, Tensor

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "Op",
    "OpReport",
    "OpcheckError",
    "PluginError",
    "Registry",
    "Tensor",
    "UsageError",
    "__version__",
    "audit",
    "discover",
    "hookimpl",
]
