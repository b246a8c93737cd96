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
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from .choices import MODES, parse_seed
from .pytest_checks import (
    _REGISTRY,
    _XPASS,
    AUDITED,
    COLLECTOR_NAME,
    MARKER,
    OpcheckWarning,
    OpFailure,
    PluginImportError,
    _hint,
    _where,
    plugin_modules,
    run_checks,
    setting,
)
from .pytest_fixture import OpcheckFixture

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo, PluginSpec, Registry
    from .result import OpReport
    from .spec import Op

def _seed(text: str) -> int:
    """--opcheck-seed: a whole number >= 0 (argparse reports the ValueError as a usage error)."""
    return parse_seed(text)


_seed.__name__ = "seed (a whole number >= 0)"  # argparse: "invalid seed (...) value: '-1'"


def _budget(text: str) -> float:
    """--opcheck-budget: seconds > 0, as ``opcheck audit --budget``."""
    value = float(text)
    if not (value > 0 and value != float("inf")):
        raise ValueError(text)
    return value


_budget.__name__ = "budget (seconds > 0)"


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
    group.addoption(
        "--opcheck-budget", type=_budget, default=None, metavar="SECONDS",
        help="seconds one op's default (auto) audit may take (default 5), as opcheck audit "
             "--budget",
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
        "gradient checks (and tests marked with it for the fixture's settings).",
    )
    config.stash[_REGISTRY] = _Plugins(config)
    config.stash[_REGISTRY].baseline()  # a bad --opcheck-baseline file is a usage error now
    _check_settings(config)
    _select_op_node_ids(config)


#: The --opcheck-ops patterns made from op node ids on the command line → those ids.
_NODE_IDS = pytest.StashKey[dict]()


def _select_op_node_ids(config: pytest.Config) -> None:
    """``pytest opcheck::mylib.softplus`` (a node id as the run prints it) selects that op
    as ``--opcheck-ops`` would, and ``pytest opcheck`` every op, as ``--opcheck`` does;
    pytest alone looks for a file named ``opcheck``."""
    import re

    here = config.invocation_params.dir / COLLECTOR_NAME
    prefix = f"{COLLECTOR_NAME}::"
    if COLLECTOR_NAME in config.args and not here.exists():  # the collector's own id: every op
        config.args[:] = [arg for arg in config.args  # (and so every op id given beside it)
                          if arg != COLLECTOR_NAME and not arg.startswith(prefix)]
        config.option.opcheck = True
    ids = [arg for arg in config.args if arg.startswith(prefix)]
    if not ids or here.is_file():
        return
    config.args[:] = [arg for arg in config.args if not arg.startswith(prefix)]
    literal = {re.sub(r"([*?[])", r"[\1]", arg[len(prefix):]): arg for arg in ids}  # not globs
    config.stash[_NODE_IDS] = literal  # to name the id, not this pattern, if it matches nothing
    config.option.opcheck_ops = [*config.getoption("opcheck_ops"), *literal]


def _check_settings(config: pytest.Config) -> None:
    """A bad ini value or $OPCHECK_BUDGET is one usage error naming it, now, not an error
    in every gradient check of the run."""
    from . import budget
    from .errors import UsageError

    try:
        config.getini("opcheck_xfail_strict")
    except (ValueError, pytest.UsageError) as exc:
        raise pytest.UsageError(f"opcheck_xfail_strict in {config.inipath or 'the ini file'}: "
                                f"{exc}; use true or false") from None
    if config.getoption("opcheck_budget", None) is None:
        try:
            budget.resolve(None)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A default-mode pass that compared only a sample element by element says so, as
    ``opcheck audit``'s text report does (the properties travel from xdist workers)."""
    sampled = [f"{report.nodeid}: {value}"  # (the fixture's: one per call, "op: coverage")
               for report in terminalreporter.stats.get("passed", [])
               for key, value in getattr(report, "user_properties", ()) if key == "opcheck_sampled"]
    if sampled:
        terminalreporter.write_sep("-", "opcheck: passed on projections and a sample "
                                        "(not every element one by one)")
        for line in sampled:
            terminalreporter.write_line(line)


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
                except UsageError as exc:  # in pytest's words: it has no --update-baseline
                    text = str(exc).replace("--baseline", "--opcheck-baseline").replace(
                        "--update-baseline", f"opcheck audit --baseline {path} --update-baseline")
                    raise pytest.UsageError(text) from None
        return self._baseline

    def registry(self) -> Registry:
        if self._registry is None:
            from .loading import loading_guard
            from .plugin_manager import discover

            ini_where = f"opcheck_plugins (in {self.config.inipath or 'the ini file'})"
            with loading_guard():  # a plugin's sys.exit/os._exit: an error, not exit 0
                specs = [*self._import(self.config.getini("opcheck_plugins"), ini_where,
                                       "opcheck_plugins"),
                         *self._loaded_by_pytest(),
                         *self._import(self.config.getoption("opcheck_plugin"),
                                       "--opcheck-plugin", "--opcheck-plugin")]
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

    def _import(self, names: list[str], where: str, option: str) -> list[PluginSpec]:
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

                why = import_failure(name, exc, option).replace(  # the rootdir is searched too
                    "that it is on sys.path", f"that it is on sys.path or in the rootdir {root}")
                raise PluginImportError(
                    f"{where} names the plugin module {name!r}, which {why}") from exc
        return specs


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
                    node_id = self.config.stash.get(_NODE_IDS, {}).get(pattern)
                    given = (f"{node_id} names no op (a node id is one op's exact name)"
                             if node_id else f"--opcheck-ops {pattern!r} matches no op")
                    wanted = node_id.partition("::")[2] if node_id else pattern
                    hint = _hint(wanted, names, plugin_modules(self.config))
                    errors = "".join(f"\n{e}" for e in registry.errors)
                    raise self.CollectError(f"{given}{hint}{errors}")
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
            except pytest.xfail.Exception:  # an expected failure's item carries them too
                self._record(self.stash.get(AUDITED, None))
                raise
        self._record(self.report)
        if failure:
            raise OpFailure(failure)

    def _record(self, report: OpReport | None) -> None:
        """The audit's verdict as JUnit properties (``--junitxml``)."""
        if report is None:
            return
        self.user_properties += [("opcheck_status", report.status),
                                 *([("max_rel_error", report.max_rel_error)]
                                   if report.max_rel_error is not None else []),
                                 ("opcheck_coverage", report.coverage),
                                 ("opcheck_mode", report.mode)]
        if report.sampled:  # for the run's closing section (read from the report: xdist)
            self.user_properties.append(("opcheck_sampled", report.coverage))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, OpFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int, str]:
        path, line = _where(self.op, self.plugin)
        return path or self.path, line - 1, f"opcheck {self.name}"


def _args(exc: BaseException) -> str:
    return f": {exc}" if str(exc) else ""


@pytest.fixture
def opcheck(request: pytest.FixtureRequest) -> OpcheckFixture:
    """Gradient-check an op in a test: opcheck.assert_gradients(forward=, backward=, inputs=)."""
    return OpcheckFixture(request)
