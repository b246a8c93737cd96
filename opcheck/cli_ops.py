"""``opcheck list`` and ``opcheck show NAME``: what discovery found."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from .choices import did_you_mean
from .errors import UsageError
from .escape import visible

if TYPE_CHECKING:
    from .plugin_manager import Registry


def warn_plugin_errors(registry: Registry) -> None:
    for err in registry.errors:
        print(visible(f"opcheck: warning: {err}"), file=sys.stderr)


def list_ops(registry: Registry) -> int:
    warn_plugin_errors(registry)
    width = max((len(n) for n in registry), default=0)
    for name in sorted(registry):
        info = registry.plugin_of[name]
        print(visible(f"{name.ljust(width)}  {info.name} ({info.source})"))
    return 1 if registry.errors else 0


def show_op(registry: Registry, name: str, as_json: bool) -> int:
    warn_plugin_errors(registry)
    op = _lookup(registry, name)
    if as_json:
        from .describe import input_schema

        print(json.dumps(input_schema(op, registry.plugin_of[name]), indent=2))
        return 0
    from .describe import describe_op

    print(visible(describe_op(op, registry.plugin_of[name])))
    return 0


def _lookup(registry: Registry, name: str) -> Any:
    if name in registry:
        return registry[name]
    if any(err.op == name for err in registry.errors):
        raise UsageError(f"op {name!r} has an invalid declaration (the warning above says why)")
    hint = did_you_mean(name, registry) or "`opcheck list` shows every op"
    raise UsageError(f"no op named {name!r}; {hint}")
