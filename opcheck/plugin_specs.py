"""What ``plugins=`` (``opcheck.discover``, ``opcheck.audit``) and ``-p`` accept, checked
before anything is imported or registered, so that a mistake is one ``UsageError`` saying
what a plugin is rather than an error from deep inside pluggy.

A plugin is a module, an importable module name (``"mylib_ops"``, or ``"no:NAME"`` to block
one), or an object whose methods are marked with ``@opcheck.hookimpl``. ``plugins=`` takes
several; a single name or module alone is taken as a list of one, as pytest's ``-p`` is.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from types import FunctionType, ModuleType
from typing import Any

from .errors import UsageError

WHAT = ("a plugin is a module, an importable module name such as 'mylib_ops', or an object "
        "with @opcheck.hookimpl methods such as opcheck_ops")


def plugin_list(plugins: Any) -> list[Any]:
    """``plugins`` as a list of valid plugin specs; a ``UsageError`` naming a bad one."""
    if isinstance(plugins, (str, ModuleType)) or not isinstance(plugins, Iterable):
        plugins = [plugins]  # one plugin given alone
    specs = list(plugins)
    for spec in specs:
        _check(spec)
    return specs


def _check(spec: Any) -> None:
    if isinstance(spec, (str, ModuleType)):
        if isinstance(spec, str) and not spec.strip():
            raise UsageError(f"an empty plugin name (-p '' or plugins=['']) is not a plugin; {WHAT}")
        return
    hooks = [name for name in dir(spec) if name.startswith("opcheck_")]
    if isinstance(spec, type):
        if any(isinstance(inspect.getattr_static(spec, h), FunctionType) for h in hooks):
            raise UsageError(f"plugins=[{spec.__name__}] is a class, whose hook methods need an "
                             f"instance: pass an instance, {spec.__name__}()")
        if hooks:
            return  # static methods: the class itself works as the plugin
    elif hooks:
        return
    raise UsageError(f"plugins=[{spec!r}]: {type(spec).__name__} {spec!r} is not a plugin "
                     f"(it has no opcheck_* hook); {WHAT}")
