"""What every front end (the CLI, its workers, the Dask executor, the pytest plugin) says
about an op in the same words: the command that reproduces its audit, and the ``error``
report of an op whose audit produced none (a crash, a timeout, a lost worker).

The audit core never writes command lines; this layer does.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from .result import OpReport

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo


def error_report(
    name: str, message: str, seed: int, mode: str, plugin: PluginInfo | None,
    variant: str | None = None,
) -> OpReport:
    """An ``error`` entry for an op whose audit produced no report of its own."""
    return OpReport(
        name=name, status="error", mode=mode, seed=seed,
        plugin=plugin.name if plugin else None, message=message,
        reproduce=reproduce_command(name, seed, mode, variant, plugin),
    )


def reproduce_command(
    name: str, seed: int, mode: str, variant: str | None, plugin: PluginInfo | None
) -> str:
    """The command that audits this one op alone, in-process (``--jobs 1``), where a crash
    shows its own traceback."""
    parts = ["opcheck", "audit", name]
    if plugin is not None and plugin.source == "-p":
        parts += ["-p", plugin.name]
    parts += ["--seed", str(seed)]
    if variant is not None:
        parts += ["--variant", variant]
    if mode != "auto":
        parts += ["--mode", mode]
    return shlex.join([*parts, "--jobs", "1"])
