"""opcheck's pytest plugin, registered through the ``pytest11`` entry point.

- ``pytest --opcheck`` collects every discovered op as one test item, ``opcheck::<op name>``;
- the ``opcheck`` fixture checks an op written in the test itself;
- ``@pytest.mark.opcheck(...)`` sets the seed and mode and declares skips and expected
  failures, as ``Op.skip`` / ``Op.xfail`` do in a plugin.

Only pytest and the standard library are imported here: numpy, pydantic and the op plugins
load inside hooks and fixtures, when a run asks for them.
"""

from __future__ import annotations

import fnmatch
import importlib
import os
import shlex
import sys
import warnings
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .choices import MODES, did_you_mean, parse_seed

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo, PluginSpec, Registry
    from .result import OpReport
    from .spec import Op

MARKER = "opcheck"
#: The collector holding the op items: their node ids are ``opcheck::<op name>``.
COLLECTOR_NAME = "opcheck"
_MARKER_KWARGS = ("seed", "mode", "xfail", "skip", "strict")
_XPASS = pytest.StashKey[str]()
#: How the reason of an expected failure from ``--opcheck-baseline`` starts.
_BASELINE = "baseline: "
_REGISTRY = pytest.StashKey["_Plugins"]()


def _seed(text: str) -> int:
    """--opcheck-seed: a whole number >= 0 (argparse reports the ValueError as a usage error)."""
    return parse_seed(text)


_seed.__name__ = "seed (a whole number >= 0)"  # argparse: "invalid seed (...) value: '-1'"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opcheck", "opcheck: gradient audits of op plugins")
    group.addoption(
        "--opcheck", action="store_true",
        help="collect every discovered op as a test item whose id is the op name",
    )
    group.addoption(
        "--opcheck-ops", action="append", default=[], metavar="GLOB",
        help="collect only the ops matching GLOB, e.g. 'mylib.*' (repeatable; implies --opcheck)",
    )
    group.addoption(
        "--opcheck-plugin", action="append", default=[], metavar="MODULE",
        help="load the op plugin MODULE (repeatable, as opcheck's -p); no:NAME blocks plugin NAME",
    )
    group.addoption(
        "--opcheck-mode", choices=MODES, default=None,
        help="full: check every element (default); fast: random projections",
    )
    group.addoption(
        "--opcheck-baseline", default=None, metavar="FILE",
        help="a JSON file of known failures (opcheck audit --baseline): listed ops are xfail",
    )
    group.addoption(
        "--opcheck-seed", type=_seed, default=None, metavar="N",
        help="seed for the sampled inputs and dout (default 0)",
    )
    parser.addini(
        "opcheck_plugins", type="args", default=[],
        help="op plugin modules to load, as --opcheck-plugin (imported from the rootdir too)",
    )
    parser.addini(
        "opcheck_xfail_strict", type="bool", default=True,
        help="an op or variant declared xfail that passes fails the run (default true)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "opcheck(seed=None, mode=None, xfail=None, skip=None, strict=None): settings and "
        "expected failures for gradient checks; xfail and skip map a selector ('*', a "
        "variant label such as 'N=1', a dtype name, or a check such as 'double_backward') "
        "to a reason. Every --opcheck item carries this marker, so -m opcheck selects the "
        "gradient checks.",
    )
    config.stash[_REGISTRY] = _Plugins(config)
    config.stash[_REGISTRY].baseline()  # a bad --opcheck-baseline file is a usage error now


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """Add the op collector beside the session's files and directories."""
    report = yield
    config = collector.config
    wanted = config.getoption("opcheck") or config.getoption("opcheck_ops")
    if isinstance(collector, pytest.Session) and wanted and report.passed:
        report.result.append(OpCollector.from_parent(collector, name=COLLECTOR_NAME,
                                                     nodeid=COLLECTOR_NAME))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Show a non-strict expected failure that passed as XPASS, as pytest does."""
    report = yield
    reason = item.stash.get(_XPASS, None)
    if reason is not None and call.when == "call" and report.passed:
        report.wasxfail = reason
    return report


class _Plugins:
    """The op registry of one pytest run: built-ins, entry points, the ini's and the
    command line's plugin modules. Discovered on first use, at most once."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._registry: Registry | None = None
        self._baseline: dict[str, str] | None = None

    def baseline(self) -> dict[str, str]:
        """``--opcheck-baseline``: op name → reason (empty without the option)."""
        if self._baseline is None:
            path = self.config.getoption("opcheck_baseline", None)
            self._baseline = {}
            if path:
                from .baseline import load
                from .errors import UsageError

                try:
                    self._baseline = load(str(path)).entries
                except UsageError as exc:
                    raise pytest.UsageError(str(exc).replace("--baseline", "--opcheck-baseline"))
        return self._baseline

    def registry(self) -> Registry:
        if self._registry is None:
            from .loading import loading_guard
            from .plugin_manager import discover

            ini_where = f"opcheck_plugins (in {self.config.inipath or 'the ini file'})"
            with loading_guard():  # a plugin's sys.exit/os._exit: an error, not exit 0
                specs = [*self._import(self.config.getini("opcheck_plugins"), ini_where),
                         *self._loaded_by_pytest(),
                         *self._import(self.config.getoption("opcheck_plugin"),
                                       "--opcheck-plugin")]
                self._registry = discover(specs)
        return self._registry

    def _loaded_by_pytest(self) -> list[ModuleType]:
        """Modules given to pytest's own ``-p`` that define ``opcheck_ops``."""
        found = []
        for name in self.config.option.plugins or ():
            module = self.config.pluginmanager.get_plugin(name)
            if isinstance(module, ModuleType) and hasattr(module, "opcheck_ops"):
                found.append(module)
        return found

    def _import(self, names: list[str], where: str) -> list[PluginSpec]:
        root = str(self.config.rootpath)
        if root not in sys.path:
            sys.path.append(root)  # plugins next to pytest.ini import like the CLI's -p
        specs: list[PluginSpec] = []
        for name in names:
            if name.startswith("no:"):
                specs.append(name)
                continue
            try:
                specs.append(importlib.import_module(name))
            except Exception as exc:
                from .plugin_errors import import_failure

                raise PluginImportError(
                    f"{where} names the plugin module {name!r}, which {import_failure(name, exc)}"
                    f" (or importable from the rootdir {root})"
                ) from exc
        return specs


class PluginImportError(Exception):
    """A plugin module named in the ini file or on the command line cannot be imported."""


class OpCollector(pytest.Collector):
    """Every discovered op (or those ``--opcheck-ops`` selects), sorted by name so that
    every pytest-xdist worker collects the same items in the same order."""

    def collect(self) -> list[pytest.Item]:
        from .errors import UsageError

        try:
            registry = self.config.stash[_REGISTRY].registry()
        except (PluginImportError, UsageError) as exc:
            raise self.CollectError(str(exc)) from None
        patterns = self.config.getoption("opcheck_ops")
        broken: dict[str, list[str]] = {}
        for err in registry.errors:  # a broken plugin fails its own item, not the session
            broken.setdefault(err.op or f"plugin:{err.plugin}", []).append(str(err))
        names = sorted({*registry, *broken})
        if patterns:
            for pattern in patterns:
                if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                    hint = _hint(pattern, names)
                    errors = "".join(f"\n{e}" for e in registry.errors)
                    raise self.CollectError(f"--opcheck-ops {pattern!r} matches no op{hint}{errors}")
            names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
            for name, messages in broken.items():  # errors the selection leaves out still show
                if name not in names:
                    self.warn(OpcheckWarning("\n".join(messages)))
        return [
            OpItem.from_parent(self, name=name, op=registry.ops.get(name),
                               plugin=registry.plugin_of.get(name),
                               error="\n".join(broken.get(name, [])))
            for name in names
        ]


def _hint(name: str, names: list[str]) -> str:
    close = did_you_mean(name, names)
    return f"; {close}" if close else f"; the {len(names)} discovered ops are listed by `opcheck list`"


class OpItem(pytest.Item):
    """One op's audit over all its shape variants."""

    def __init__(self, *, op: Op | None, plugin: PluginInfo | None, error: str = "",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.op, self.plugin, self.error = op, plugin, error
        self.report: OpReport | None = None
        self.add_marker(MARKER)

    def runtest(self) -> None:
        if self.error or self.op is None:
            raise OpFailure(self.error)
        from .hygiene import trapped_exit
        from .interrupts import interruptible

        # The op's os._exit, SystemExit and KeyboardInterrupt fail this item, not the
        # session (a segfault still ends it: run under pytest-xdist, `-n 1`, to isolate).
        with interruptible() as stopped, trapped_exit():
            try:
                self.report, failure = run_checks(
                    self, self.op, self.plugin, seed=setting(self, "seed"), mode=setting(self, "mode")
                )
            except KeyboardInterrupt as exc:
                if "signal" in stopped:  # a real Ctrl-C: the session stops
                    raise
                raise OpFailure(f"op {self.name!r} raised KeyboardInterrupt{_args(exc)}") from None
        self.user_properties += [("opcheck_status", self.report.status),
                                 ("max_rel_error", self.report.max_rel_error)]
        if failure:
            raise OpFailure(failure)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, OpFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        path, line = _where(self.op, self.plugin)
        return path or self.path, line - 1, f"opcheck {self.name}"


def _args(exc: BaseException) -> str:
    return f": {exc}" if str(exc) else ""


def _where(op: Op | None, plugin: PluginInfo | None) -> tuple[str | None, int]:
    """Where the op's forward is defined, else its plugin's file: (path, 1-based line)."""
    code = getattr(getattr(op, "forward", None), "__code__", None)
    if code is not None:
        return code.co_filename, code.co_firstlineno
    return (plugin.file if plugin else None), 1


class OpcheckWarning(UserWarning):
    """Something a passing audit noticed: a gradient returned for a non-differentiable
    input, or an input where no element could be verified."""


class OpFailure(Exception):
    """An op item failed: the message is the whole readable report."""


# -- settings, skips and expected failures ---------------------------------------------


def _marker_kwargs(node: pytest.Item) -> list[dict[str, Any]]:
    """The kwargs of every ``opcheck`` marker on ``node``, closest first, checked."""
    found = []
    for mark in node.iter_markers(MARKER):
        unknown = sorted(set(mark.kwargs) - set(_MARKER_KWARGS))
        if mark.args or unknown:
            given = [repr(a) for a in mark.args] + [f"{k}=" for k in unknown]
            _fail(f"@pytest.mark.opcheck got {', '.join(given)}; it takes only the keyword "
                  f"arguments {', '.join(k + '=' for k in _MARKER_KWARGS)}")
        found.append(mark.kwargs)
    return found


def setting(node: pytest.Item, key: str, explicit: Any = None) -> Any:
    """seed or mode: the explicit argument, else the closest marker, else the command
    line (``--opcheck-seed``, ``--opcheck-mode``), else opcheck's default."""
    if explicit is not None:
        return explicit
    for kwargs in _marker_kwargs(node):
        if kwargs.get(key) is not None:
            return kwargs[key]
    value = node.config.getoption(f"opcheck_{key}")
    if value is not None:
        return value
    return {"seed": 0, "mode": "full"}[key]


def _selectors(value: Any, kind: str) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {"*": value}
    if isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(r, str)
                                          for k, r in value.items()):
        return dict(value)
    _fail(f"{kind}={value!r}: give a reason (the whole op) or a dict selector -> reason, "
          "where a selector is '*', a variant label such as 'N=1', a dtype name, or a check "
          "('backward', 'jvp', 'adjoint', 'double_backward')")


def expectations(node: pytest.Item, op: Op) -> tuple[dict[str, str], dict[str, str], bool]:
    """(xfail, skip, strict): the op's own declarations, overridden selector by selector
    by ``opcheck`` markers from the farthest (module) to the closest (the test itself)."""
    xfail, skip = dict(op.xfail), dict(op.skip)
    known = node.config.stash[_REGISTRY].baseline().get(op.name)
    if known is not None:
        xfail.setdefault("*", f"{_BASELINE}{known}")
    strict = node.config.getini("opcheck_xfail_strict")
    for kwargs in reversed(_marker_kwargs(node)):
        xfail.update(_selectors(kwargs.get("xfail"), "xfail"))
        skip.update(_selectors(kwargs.get("skip"), "skip"))
        if kwargs.get("strict") is not None:
            strict = bool(kwargs["strict"])
    if node.config.option.runxfail:
        xfail = {}
    return xfail, skip, strict


def run_checks(
    node: pytest.Item, op: Op, plugin: PluginInfo | None, *, seed: int, mode: str,
    values: Mapping[str, Any] | None = None, variant: str | None = None,
    reproduce: str | None = None,
) -> tuple[OpReport, str | None]:
    """Audit ``op`` for ``node`` honouring its skips and expected failures.

    Skips and expected failures end the test (``pytest.skip`` / ``pytest.xfail``);
    otherwise returns the report of the variants run and the failure text, if any.
    """
    __tracebackhide__ = True
    from . import check_selectors
    from .audit import audit
    from .errors import OpcheckError
    from .expectations import GIVEN, judge, plan_for
    from .sampling import variants

    xfail, skip, strict = expectations(node, op)
    known = list(variants(op))
    labels = [GIVEN] if values is not None else known
    if variant is not None:
        if variant not in labels:
            _fail(f"op {op.name!r} has no variant {variant!r}; "
                  f"its variants are {', '.join(labels)}")
        labels = [variant]
    plan = plan_for(op, labels, known=known, xfail=xfail, skip=skip)
    if plan.problem:
        _fail(plan.problem)
    if plan.skipped:
        _skip(plan.skip_reason())
    run = [label for label in labels if label not in plan.skip]
    audited = plan.audited(op)
    try:
        if values is not None:
            parts = {"given": audit(audited, seed=seed, mode=mode, inputs=values, plugin=plugin)}
        else:
            parts = {label: audit(audited, seed=seed, mode=mode, variant=label, plugin=plugin)
                     for label in run}
    except OpcheckError as exc:  # a bad seed, mode or input value: the test's own mistake
        _fail(str(exc))
    for part in parts.values():
        plan.finish(part)
    if reproduce is not None:
        for part in parts.values():
            part.reproduce = reproduce if part.status != "pass" else ""
    report = _merge(op, parts, seed, mode, plugin)
    path, line = _where(op, plugin)
    for warning in report.warnings if report.status == "pass" else ():
        warnings.warn_explicit(f"op {op.name!r}, variant {warning}", OpcheckWarning,
                               path or "<unknown>", line)
    failing = [label for label, part in parts.items() if part.status != "pass"]
    by_check = check_selectors.expected_failures(parts, failing, plan.check_xfail)
    verdict = judge({label: part.status for label, part in parts.items()}, plan.xfail,
                    strict=strict, by_check=by_check, check_xfail=plan.check_xfail)
    if verdict.status in ("fail", "error"):
        return report, _failure_text(parts, list(verdict.unexpected), len(run))
    if verdict.status == "xpass":
        where = f": {verdict.reason}" if verdict.whole else f", {verdict.reason}"
        return report, _xpass(node, f"op {op.name!r}{where}", strict)
    if verdict.status == "xfail":
        pytest.xfail(verdict.reason)
    return report, None


def _xpass(node: pytest.Item, reason: str, strict: bool) -> str | None:
    if strict:
        fix = ("its entry from the --opcheck-baseline file" if _BASELINE in reason
               else "the xfail declaration (or mark it strict=False)")
        return f"[XPASS(strict)] {reason}\nIt was expected to fail and now passes: remove {fix}."
    node.stash[_XPASS] = reason
    return None


def _failure_text(parts: Mapping[str, OpReport], unexpected: list[str], total: int) -> str:
    from .report import format_op

    lines = format_op(parts[unexpected[0]]).splitlines()
    if len(unexpected) > 1:
        at = len(lines) - 1 if lines[-1].startswith("Reproduce:") else len(lines)
        lines.insert(at, f"Failing variants: {', '.join(unexpected)} ({len(unexpected)} of "
                         f"{total}); the first is shown")
    return "\n".join(lines)


def _merge(op: Op, parts: Mapping[str, OpReport], seed: int, mode: str,
           plugin: PluginInfo | None) -> OpReport:
    """One report over the variants that ran, as ``opcheck.audit`` returns for all."""
    from .result import OpReport, worst_status

    reports = list(parts.values())
    bad = next((r for r in reports if r.status != "pass"), None)
    return OpReport(
        name=op.name, status=worst_status([r.status for r in reports]), mode=mode, seed=seed,
        plugin=plugin.name if plugin else None,
        variants=[v for r in reports for v in r.variants],
        duration=sum(r.duration for r in reports),
        message=bad.message if bad else "", reproduce=bad.reproduce if bad else "",
        warnings=[w for r in reports for w in r.warnings],
    )


def _skip(reason: str) -> NoReturn:
    """Skip, reported at the test's (or the op's) location rather than this file's."""
    raise pytest.skip.Exception(reason, _use_item_location=True)


def _fail(message: str) -> NoReturn:
    __tracebackhide__ = True
    pytest.fail(message, pytrace=False)


# -- the fixture -------------------------------------------------------------------------


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

    @property
    def audit(self) -> Any:
        """``opcheck.audit``: the report, without asserting anything."""
        from .audit import audit

        return audit

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
        report, failure = run_checks(
            node, op, plugin, seed=setting(node, "seed", seed), mode=setting(node, "mode", mode),
            values=values, variant=variant, reproduce=self._reproduce(),
        )
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
            _fail(f"no op named {name!r}{_hint(name, sorted(registry))}")
        return registry[name], registry.plugin_of[name]

    def _reproduce(self) -> str:
        config = self._request.config
        path, sep, rest = self._request.node.nodeid.partition("::")
        where = os.path.relpath(config.rootpath / path, config.invocation_params.dir)
        parts = ["pytest", where.replace(os.sep, "/") + sep + rest]
        for key in ("seed", "mode"):  # as given on this run's command line
            if config.getoption(f"opcheck_{key}") is not None:
                parts += [f"--opcheck-{key}", str(config.getoption(f"opcheck_{key}"))]
        return shlex.join(parts)


@pytest.fixture
def opcheck(request: pytest.FixtureRequest) -> OpcheckFixture:
    """Gradient-check an op in a test: opcheck.assert_gradients(forward=, backward=, inputs=)."""
    return OpcheckFixture(request)
