"""Every hook an opcheck plugin can implement. Each one is documented in docs/hooks.md;
tests/test_docs.py fails when the two drift apart."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .spec import Op

NAME = "opcheck"

hookspec = pluggy.HookspecMarker(NAME)
hookimpl = pluggy.HookimplMarker(NAME)


@hookspec
def opcheck_ops() -> Iterable[Op]:
    """Return the ops this plugin declares.

    Called once per plugin each time ops are discovered (``opcheck.discover``, every
    ``opcheck`` command, the pytest plugin's collection). Not ``firstresult``: every
    plugin's ops are collected. Op names must be unique across all plugins.
    """
