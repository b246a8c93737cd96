"""The ``opcheck`` fixture's object: gradient-check an op written in the test itself, or a
discovered op by name, with the test's markers applied (``pytest_checks``).

Only pytest and the standard library at import time, like ``pytest_plugin``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from .pytest_checks import (
    _REGISTRY,
    PluginImportError,
    _fail,
    _hint,
    plugin_modules,
    run_checks,
    setting,
)

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo
    from .result import OpReport
    from .spec import Op  # noqa: F401 (the annotations name it)


#: assert_gradients' own keyword arguments that are not ``Op`` fields.
_OWN_ARGUMENTS = ("seed", "mode", "values", "variant")


class OpcheckFixture:
    """What the ``opcheck`` fixture gives a test: ``assert_gradients`` and the classes
    needed to declare an op without importing opcheck (the fixture shadows its name)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request

    @property
    def Op(self) -> type[Op]:
        from .spec import Op

        return Op

    @property
    def Tensor(self) -> Any:
        from .spec import Tensor

        return Tensor

    def audit(self, op: Op | str, /, **kwargs: Any) -> OpReport:
        """``opcheck.audit``: the report, without asserting anything. A name is looked up
        among the ops this run discovers (with the ini file's ``opcheck_plugins`` and
        ``--opcheck-plugin``), and seed, mode and budget default to the test's, as
        ``assert_gradients``'s do; fixed input values may be given as ``values=`` too."""
        __tracebackhide__ = True
        from .errors import OpcheckError
        from .public_audit import audit

        if "values" in kwargs and "inputs" not in kwargs:  # assert_gradients' name for them
            kwargs["inputs"] = kwargs.pop("values")
        node, plugin = self._request.node, kwargs.pop("plugin", None)
        if isinstance(op, str) and not kwargs.get("plugins"):
            op, plugin = self._discovered(op)
        kwargs.setdefault("seed", setting(node, "seed"))
        kwargs.setdefault("mode", setting(node, "mode"))
        kwargs.setdefault("budget", node.config.getoption("opcheck_budget", None))
        try:
            return audit(op, plugin=plugin, **kwargs)
        except OpcheckError as exc:  # a bad argument: the test's own mistake, said plainly
            _fail(str(exc))

    def assert_gradients(
        self, op: Op | str | None = None, /, *, forward: Any = None, backward: Any = None,
        inputs: Mapping[str, Any] | None = None, name: str | None = None,
        dims: Mapping[str, int] | None = None, seed: int | None = None,
        mode: str | None = None, values: Mapping[str, Any] | None = None,
        variant: str | None = None, **op_fields: Any,
    ) -> OpReport:
        """Audit an op and raise ``AssertionError`` with the readable report if it fails.

        ``op`` is an ``opcheck.Op``, the name of a discovered op, or None to declare one
        here from ``forward``, ``backward``, ``inputs`` and any other ``Op`` field (its
        name defaults to the test's). ``values`` fixes input values; ``variant`` audits
        one shape variant. Returns the ``OpReport`` when every gradient matches.
        """
        __tracebackhide__ = True
        from pydantic import ValidationError

        node = self._request.node
        if isinstance(inputs, Mapping) and any(  # arrays, numbers, nested lists: values
                type(v).__module__ == "numpy" or isinstance(v, (list, tuple, int, float))
                for v in inputs.values()):
            _fail("assert_gradients(inputs=...) declares the op's input schema "
                  "(opcheck.Tensor(shape=...)); to fix the input values, pass them as "
                  "values={...}")
        import difflib

        for key in op_fields:  # a misspelt argument of this call, not an Op field
            close = difflib.get_close_matches(key, _OWN_ARGUMENTS, n=1, cutoff=0.75)
            if close and key not in self.Op.model_fields:
                _fail(f"assert_gradients got {key}=; did you mean {close[0]}=?")
        fields = {k: v for k, v in dict(forward=forward, backward=backward, inputs=inputs,
                                        name=name, dims=dims, **op_fields).items()
                  if v is not None}
        plugin = None
        try:
            if isinstance(op, str):
                op, plugin = self._discovered(op)
            if op is None:
                fields.setdefault("name", node.name)
                op = self.Op(**fields)
            elif fields:
                op = self.Op(**{**dict(op), **fields})
        except ValidationError as exc:
            raise exc.with_traceback(None) from None  # the pydantic message, at the call
        from .hygiene import trapped_exit

        with trapped_exit():  # the op's os._exit fails this test, as an --opcheck item
            report, failure = run_checks(
                node, op, plugin, seed=setting(node, "seed", seed),
                mode=setting(node, "mode", mode), values=values, variant=variant,
                reproduce=self._reproduce(),
            )
        if report.sampled:  # the run's closing section lists it, as it does for op items
            node.user_properties.append(("opcheck_sampled", f"{report.name}: {report.coverage}"))
        if failure:
            raise AssertionError(failure)
        return report

    def _discovered(self, name: str) -> tuple[Op, PluginInfo]:
        __tracebackhide__ = True
        try:
            registry = self._request.config.stash[_REGISTRY].registry()
        except PluginImportError as exc:
            _fail(str(exc))
        if name not in registry:
            _fail(f"no op named {name!r}"
                  f"{_hint(name, sorted(registry), plugin_modules(self._request.config))}")
        return registry[name], registry.plugin_of[name]

    def _reproduce(self) -> str:
        config = self._request.config
        path, sep, rest = self._request.node.nodeid.partition("::")
        where = os.path.relpath(config.rootpath / path, config.invocation_params.dir)
        parts = ["pytest", where.replace(os.sep, "/") + sep + rest]
        for key in ("seed", "mode", "budget"):  # as given on this run's command line
            if config.getoption(f"opcheck_{key}") is not None:
                parts += [f"--opcheck-{key}", str(config.getoption(f"opcheck_{key}"))]
        return shlex.join(parts)
