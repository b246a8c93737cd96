"""The second hook, ``opcheck_samplers``: every plugin's named samplers, collected one
implementation at a time (a broken plugin is an error entry, the others load) and
installed for sampling; an op naming a sampler nobody declares becomes an error entry
pointing at its ``Tensor`` instead of failing at its first draw."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from .choices import did_you_mean
from .errors import PluginError
from .hook_calls import WrapperError, each_implementation
from .plugin_errors import one_line, plugin_frame, wrapper_error

if TYPE_CHECKING:
    from .plugin_manager import Registry


def collect_samplers(registry: Registry, pm: pluggy.PluginManager) -> None:
    """Every plugin's ``opcheck_samplers()``, installed for sampling; an op naming a sampler
    nobody declared becomes an error entry instead of failing at its first draw."""
    from . import samplers

    table: dict[str, tuple[str, Any]] = {}
    for info, call in each_implementation(pm, "opcheck_samplers", registry.plugins):
        try:
            given: dict[Any, Any] = {}
            results = call()
            if not results:  # pluggy drops a None result
                raise TypeError("opcheck_samplers() returned None")
            for result in results:
                given.update(result)
        except WrapperError as exc:
            registry.errors.append(wrapper_error(info, "opcheck_samplers", exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the others
            where = plugin_frame(info, exc)
            registry.errors.append(PluginError(info.name, f"opcheck_samplers() raised or did not "
                                               f"return a mapping: {one_line(exc)}{where}"))
            continue
        for name, fn in given.items():
            clash = ("a built-in sampler" if name in samplers.BUILTIN else
                     f"plugin {table[name][0]!r}'s sampler" if name in table else None)
            if not isinstance(name, str) or not name or not callable(fn) or clash:
                why = (f"{name!r} is also {clash}; rename it" if clash
                       else f"{name!r} → {fn!r}: expected a non-empty name and a callable "
                            "(rng, shape, dtype) -> ndarray")
                registry.errors.append(PluginError(info.name, f"opcheck_samplers(): {why}"))
                continue
            table[name] = (info.name, fn)
    samplers.install(table)
    known = {*samplers.BUILTIN, *table}
    for op_name, op in list(registry.ops.items()):
        for input_name, tensor in op.inputs.items():
            if isinstance(tensor.sampler, str) and tensor.sampler not in known:
                info = registry.plugin_of.pop(op_name)
                del registry.ops[op_name]
                where = f" at {tensor._sampler_at}" if tensor._sampler_at else ""
                hint = did_you_mean(tensor.sampler, known) or f"the samplers are {sorted(known)}"
                registry.errors.append(PluginError(
                    info.name,
                    f"invalid declaration of op {op_name!r}{where}: input {input_name!r} has "
                    f"sampler={tensor.sampler!r}, which no plugin declares; {hint}",
                    op=op_name, fields=(f"inputs.{input_name}.sampler",),
                    location=tensor._sampler_at or None))
                break
