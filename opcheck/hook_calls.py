"""Calling a hook through pluggy once per plugin, so that one broken plugin cannot stop
the others, while pluggy's options still apply: ``tryfirst``/``trylast`` order the
plugins, and wrappers (``wrapper=True``, ``hookwrapper=True``) run around each call and
may change its result (docs/hooks.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import WrapperError

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo

HookCall = Callable[[], list[Any]]


def each_implementation(
    pm: pluggy.PluginManager, hook: str, loaded: list[PluginInfo]
) -> Iterator[tuple[PluginInfo, HookCall]]:
    """One pluggy call per plugin implementing ``hook``, so one broken plugin cannot stop
    the others. Each call runs that plugin's implementation inside every wrapper
    (``wrapper=True`` / ``hookwrapper=True``), which may filter or change its result.
    Plugins are visited in load order, ``tryfirst`` ones first and ``trylast`` ones last."""
    caller = getattr(pm.hook, hook)
    impls = [i for i in caller.get_hookimpls() if not (i.wrapper or i.hookwrapper)]
    wrappers = [i for i in caller.get_hookimpls() if i.wrapper or i.hookwrapper]
    by_plugin = {id(impl.plugin): impl for impl in impls}
    plain = [impl.plugin for impl in impls]

    def rank(info: PluginInfo) -> int:
        impl = by_plugin[id(info.module)]
        return 0 if impl.tryfirst else 2 if impl.trylast else 1

    for info in sorted((i for i in loaded if id(i.module) in by_plugin), key=rank):
        subset = pm.subset_hook_caller(hook, [p for p in plain if p is not info.module])
        yield info, _blaming(info, by_plugin[id(info.module)], wrappers, subset)


def _blaming(info: PluginInfo, impl: Any, wrappers: list[Any], call: Any) -> HookCall:
    """``call``, whose exceptions name the wrapper that raised them when it was a wrapper
    rather than the plugin's own implementation (``WrapperError``)."""

    def run() -> list[Any]:
        try:
            return list(call())
        except Exception as exc:
            codes = {tb.tb_frame.f_code for tb in _tracebacks(exc)}
            if impl.function.__code__ not in codes:
                for wrapper in wrappers:
                    if wrapper.function.__code__ in codes:
                        raise WrapperError(wrapper.plugin_name, exc) from exc
            raise
    return run


def _tracebacks(exc: BaseException) -> Iterator[Any]:
    tb = exc.__traceback__
    while tb is not None:
        yield tb
        tb = tb.tb_next
