"""Builds the pluggy manager and collects every plugin's ops into a registry.

The order is fixed: hookspecs, built-ins, entry points (unless disabled), ``-p`` plugins.
A plugin that breaks (import error, invalid declaration, duplicate name) is recorded as a
``PluginError`` and the others still load; only a ``-p`` module that cannot be imported is
fatal, because the user named it explicitly.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

import pluggy
from pydantic import ValidationError

from . import hookspecs
from .declaration_errors import collecting
from .errors import PluginError, UsageError
from .hook_calls import HookCall, WrapperError, each_implementation
from .limits import max_input_bytes
from .plugin_errors import (
    declaration_error,
    import_failure,
    invalid_op,
    one_line,
    plugin_frame,
    wrapper_error,
)
from .plugin_samplers import collect_samplers
from .plugin_specs import plugin_list
from .spec import Op

ENTRY_POINT_GROUP = "opcheck"
DISABLE_AUTOLOAD_ENV = "OPCHECK_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN_PACKAGE = "opcheck_plugins"

PluginSpec = Any  # a module, an importable name, "no:NAME", or any object with hook methods


@dataclass(frozen=True)
class PluginInfo:
    """Where a registered plugin came from: ``builtin``, ``entry point`` or ``-p``.
    ``module`` is the plugin object itself: a module, or any object with hook methods."""

    name: str
    source: str
    module: Any

    @property
    def file(self) -> str | None:
        """The source file of the plugin (of its class, for an instance)."""
        found = getattr(self.module, "__file__", None)
        if found is None and not isinstance(self.module, ModuleType):
            found = getattr(sys.modules.get(type(self.module).__module__), "__file__", None)
        return found


@dataclass
class Registry(Mapping[str, Op]):
    """Op name → ``Op``, plus where each op came from and what failed to load."""

    ops: dict[str, Op] = field(default_factory=dict)
    plugin_of: dict[str, PluginInfo] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)
    plugins: list[PluginInfo] = field(default_factory=list)
    plugin_manager: pluggy.PluginManager | None = field(default=None, repr=False, compare=False)

    def __getitem__(self, name: str) -> Op:
        return self.ops[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.ops)

    def __len__(self) -> int:
        return len(self.ops)


def builtin_modules() -> tuple[str, ...]:
    """The fixed list of built-in plugin modules, kept in ``opcheck_plugins.MODULES``."""
    package = importlib.import_module(BUILTIN_PACKAGE)
    return tuple(f"{BUILTIN_PACKAGE}.{name}" for name in package.MODULES)


def autoload_disabled() -> bool:
    return bool(os.environ.get(DISABLE_AUTOLOAD_ENV))


def make_plugin_manager(
    plugins: Iterable[PluginSpec] = (), *, autoload: bool | None = None
) -> tuple[pluggy.PluginManager, list[PluginInfo], list[PluginError]]:
    """Build a fresh manager; return it with the registered plugins (in load order) and
    the plugins that failed to load. ``plugins`` holds modules, importable names, and
    ``"no:NAME"`` entries that block a plugin by name, as pytest's ``-p no:NAME``."""
    pm = pluggy.PluginManager(hookspecs.NAME)
    pm.add_hookspecs(hookspecs)
    explicit: list[PluginSpec] = []
    for spec in plugin_list(plugins):
        if isinstance(spec, str) and spec.startswith("no:"):
            pm.set_blocked(spec[3:])
        else:
            explicit.append(spec)
    loaded: list[PluginInfo] = []
    errors: list[PluginError] = []

    def register(name: str, source: str, module: Any) -> None:
        short = name.rsplit(".", 1)[-1] if source == "builtin" else name
        if pm.is_blocked(name) or pm.is_blocked(short) or pm.is_registered(module):
            return
        unique, count = name, 1
        while pm.has_plugin(unique):  # two instances of one class are two plugins
            count += 1
            unique = f"{name}#{count}"
        pm.register(module, name=unique)
        loaded.append(PluginInfo(unique, source, module))
        errors.extend(_unmarked_hooks(pm, unique, module))

    for name in builtin_modules():
        register(name, "builtin", importlib.import_module(name))

    if not (autoload_disabled() if autoload is None else not autoload):
        for ep in _entry_points():
            if pm.is_blocked(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must not stop the others
                errors.append(PluginError(ep.name, f"could not be imported ({ep.value}): {one_line(exc)}"))
                continue
            register(ep.name, "entry point", module)

    for spec in explicit:
        if not isinstance(spec, str):  # a module or any object with hook methods
            register(_object_name(spec), "-p", spec)
            continue
        if pm.is_blocked(spec):
            continue
        try:
            module = importlib.import_module(spec)
        except Exception as exc:
            raise UsageError(f"plugin module {spec!r} (from -p / plugins=) {import_failure(spec, exc)}") from exc
        register(spec, "-p", module)

    _check_hooks(pm, loaded, errors)
    return pm, loaded, errors


def _object_name(plugin: Any) -> str:
    """A module's name; for any other object, its class's dotted name."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _unmarked_hooks(pm: pluggy.PluginManager, name: str, plugin: Any) -> list[PluginError]:
    """An ``opcheck_*`` function without ``@opcheck.hookimpl`` is never called (pluggy only
    collects marked functions): say so rather than leave the user wondering where the
    ops went."""
    found = []
    for attr in sorted(a for a in dir(plugin) if a.startswith(hookspecs.NAME + "_")):
        value = getattr(plugin, attr, None)
        if callable(value) and pm.parse_hookimpl_opts(plugin, attr) is None:
            found.append(PluginError(name, f"{attr}() is not marked with @opcheck.hookimpl, "
                                           "so opcheck never calls it; add the decorator"))
    return found


def _check_hooks(pm: pluggy.PluginManager, loaded: list[PluginInfo], errors: list[PluginError]) -> None:
    """pluggy's check_pending, but a plugin with an unknown hook (a typo such as
    ``opcheck_opz``) is reported and dropped instead of stopping every other plugin."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm.unregister(exc.plugin)
            loaded[:] = [info for info in loaded if info.name != name]
            known = ", ".join(sorted(h for h in dir(hookspecs) if h.startswith("opcheck_")))
            errors.append(PluginError(name, f"{exc}; the hooks opcheck knows are: {known}"))


def discover(plugins: Iterable[PluginSpec] = (), *, autoload: bool | None = None) -> Registry:
    """Every op from built-ins, entry points and ``plugins``: op name → ``Op``.

    Broken plugins do not raise: they are listed in ``.errors`` of the returned registry.
    """
    max_input_bytes()  # a bad $OPCHECK_MAX_INPUT_BYTES: one UsageError, not one per op
    pm, loaded, errors = make_plugin_manager(plugins, autoload=autoload)
    registry = Registry(errors=errors, plugins=loaded, plugin_manager=pm)
    duplicates: set[str] = set()
    for info, call in each_implementation(pm, "opcheck_ops", loaded):
        for op in _collect(info, call, registry.errors):
            first = registry.plugin_of.get(op.name)
            if first is not None:
                duplicates.add(op.name)
                registry.errors.append(
                    PluginError(
                        info.name,
                        f"op name {op.name!r} is declared by both plugin {first.name!r} and "
                        f"plugin {info.name!r}; op names must be unique: rename one",
                        op=op.name,
                    )
                )
                continue
            registry.ops[op.name] = op
            registry.plugin_of[op.name] = info
    for name in duplicates:  # ambiguous: audit neither copy
        del registry.ops[name]
    collect_samplers(registry, pm)
    return registry


def _collect(info: PluginInfo, call: HookCall, errors: list[PluginError]) -> list[Op]:
    try:
        with collecting():  # an invalid Op becomes an error entry, not a lost list
            results = call()  # [what the plugin returned], as the wrappers left it
    except ValidationError as exc:
        errors.append(declaration_error(info, exc))
        return []
    except WrapperError as exc:
        errors.append(wrapper_error(info, "opcheck_ops", exc))
        return []
    except Exception as exc:
        where = plugin_frame(info, exc)
        errors.append(PluginError(info.name, f"opcheck_ops() raised {one_line(exc)}{where}"))
        return []
    if not results:  # pluggy drops a None result
        errors.append(PluginError(info.name, "opcheck_ops() returned None; return a list of opcheck.Op"))
        return []
    items: list[Any] = []
    for result in results:
        try:
            with collecting():
                items.extend(result)  # a generator builds its ops here
        except Exception as exc:
            errors.append(PluginError(info.name, f"opcheck_ops() must return an iterable of opcheck.Op, got {type(result).__name__}: {one_line(exc)}"))
            return []
    ops = []
    for position, item in enumerate(items):
        if isinstance(item, Op) and item._invalid is not None:
            errors.append(invalid_op(info, item))
        elif isinstance(item, Op):
            ops.append(item)
        else:
            errors.append(
                PluginError(
                    info.name,
                    f"opcheck_ops() item {position} is a {type(item).__name__}, not an opcheck.Op",
                )
            )
    return ops


def _entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
