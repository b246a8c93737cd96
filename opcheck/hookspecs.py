"""Every hook an opcheck plugin can implement. Each one is documented in docs/hooks.md;
tests/test_docs.py fails when the two drift apart."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

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


@hookspec
def opcheck_samplers() -> Mapping[str, Callable[..., Any]]:
    """Return named samplers: name → callable ``(rng, shape, dtype) -> ndarray``.

    Called once per plugin each time ops are discovered, after ``opcheck_ops``. Not
    ``firstresult``: every plugin's samplers are collected, and any op may use them as
    ``Tensor(sampler="name")``. A name must not repeat a built-in sampler ("spd",
    "simplex", "orthogonal") or another plugin's. Each draw must return an array of
    exactly the shape and dtype asked for, else the op's audit is an error naming the
    sampler.
    """
