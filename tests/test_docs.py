"""The docs and the code stay in step: every hook documented with its exact signature,
the README's and the plugin guide's examples run, every CLI command is mentioned."""

from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
from pathlib import Path

import pytest

import opcheck
from opcheck import cli, hookspecs

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
HOOKS_MD = DOCS / "hooks.md"
PLUGINS_MD = DOCS / "plugins.md"


def _hookspecs() -> dict[str, object]:
    """Every function of opcheck.hookspecs marked with @hookspec."""
    marker = f"{hookspecs.NAME}_spec"
    return {
        name: fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("opcheck_") and hasattr(fn, marker)
    }


class _Annotation:
    """Shows a string annotation as written (``Iterable[Op]``, not ``'Iterable[Op]'``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def signature_text(fn) -> str:
    """``name(params) -> return``, as the hook is written in hookspecs.py."""
    sig = inspect.signature(fn)

    def show(annotation):
        return _Annotation(annotation) if isinstance(annotation, str) else annotation

    sig = sig.replace(
        parameters=[p.replace(annotation=show(p.annotation)) for p in sig.parameters.values()],
        return_annotation=show(sig.return_annotation),
    )
    return f"{fn.__name__}{sig}"


def _sections(path: Path) -> dict[str, str]:
    """``## heading`` → the text up to the next ``##`` heading."""
    text = path.read_text()
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.MULTILINE)
    return {parts[i].strip("` "): parts[i + 1] for i in range(1, len(parts), 2)}


def _documented_hooks() -> dict[str, str]:
    return {name: body for name, body in _sections(HOOKS_MD).items() if name.startswith("opcheck_")}


# --- hooks ------------------------------------------------------------------------------


def test_there_are_hooks_to_document():
    assert "opcheck_ops" in _hookspecs()


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hook_is_documented_with_its_exact_signature(name):
    sections = _documented_hooks()
    assert name in sections, f"docs/hooks.md has no '## {name}' section"
    expected = signature_text(_hookspecs()[name])
    blocks = re.findall(r"```python\n(.*?)```", sections[name], re.DOTALL)
    assert blocks, f"the '## {name}' section has no ```python block with the signature"
    assert blocks[0].strip() == expected, (
        f"docs/hooks.md shows {blocks[0].strip()!r}; hookspecs.py has {expected!r}"
    )


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hook_docs_say_whether_it_is_firstresult(name):
    opts = getattr(_hookspecs()[name], f"{hookspecs.NAME}_spec")
    body = _documented_hooks()[name]
    m = re.search(r"\*\*firstresult:\*\* (yes|no)\b", body)
    assert m, f"the '## {name}' section does not say '**firstresult:** yes' or 'no'"
    assert (m[1] == "yes") == bool(opts.get("firstresult"))


@pytest.mark.parametrize("name", sorted(_hookspecs()))
def test_hook_has_a_docstring(name):
    doc = inspect.getdoc(_hookspecs()[name]) or ""
    assert "firstresult" in doc, f"{name}'s docstring should say whether it is firstresult"


def test_every_documented_hook_exists():
    unknown = sorted(set(_documented_hooks()) - set(_hookspecs()))
    assert not unknown, f"docs/hooks.md documents hooks that hookspecs.py does not have: {unknown}"


def test_signature_text_reads_like_the_source():
    def opcheck_example(config: dict[str, int], *, verbose: bool = False) -> list[str]:
        """An example."""

    assert signature_text(opcheck_example) == (
        "opcheck_example(config: dict[str, int], *, verbose: bool = False) -> list[str]"
    )


# --- runnable examples ------------------------------------------------------------------


def _run_example(code: str, module_name: str, tmp_path: Path, monkeypatch) -> opcheck.Registry:
    (tmp_path / f"{module_name}.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    importlib.invalidate_caches()
    registry = opcheck.discover([module_name])
    assert registry.errors == []
    return registry


def _readme_example() -> str:
    m = re.search(
        r"<!-- readme-plugin-example -->\s*```python\n(.*?)```", README.read_text(), re.DOTALL
    )
    assert m, "README.md lost its plugin example (the ```python block after the marker)"
    return m[1]


def test_readme_plugin_example_is_short():
    lines = [line for line in _readme_example().splitlines() if line.strip()]
    assert len(lines) <= 12


def test_readme_plugin_example_audits_green(tmp_path, monkeypatch):
    registry = _run_example(_readme_example(), "readme_example_ops", tmp_path, monkeypatch)
    mine = [name for name, info in registry.plugin_of.items() if info.name == "readme_example_ops"]
    assert mine == ["mylib.tanh"]
    for name in mine:
        report = opcheck.audit(registry[name])
        assert report.status == "pass", str(report)


def test_readme_suggested_break_is_caught(tmp_path, monkeypatch):
    """The README tells the reader to change ``1.0 - out**2`` to ``1.0 - out``."""
    code = _readme_example()
    assert "1.0 - out**2" in code
    registry = _run_example(
        code.replace("1.0 - out**2", "1.0 - out"), "readme_broken_ops", tmp_path, monkeypatch
    )
    assert opcheck.audit(registry["mylib.tanh"]).status == "fail"


def _guide_examples() -> list[tuple[str, str]]:
    return re.findall(
        r"<!-- example: (\w+) -->\s*```python\n(.*?)```", PLUGINS_MD.read_text(), re.DOTALL
    )


def test_plugin_guide_has_runnable_examples():
    assert len(_guide_examples()) >= 3


@pytest.mark.parametrize("name, code", _guide_examples(), ids=[n for n, _ in _guide_examples()])
def test_plugin_guide_example_audits_green(name, code, tmp_path, monkeypatch):
    module = f"guide_example_{name}"
    registry = _run_example(code, module, tmp_path, monkeypatch)
    mine = [op for op, info in registry.plugin_of.items() if info.name == module]
    assert mine, f"example {name!r} declares no op"
    for op in mine:
        report = opcheck.audit(registry[op])
        assert report.status == "pass", str(report)


# --- commands ---------------------------------------------------------------------------


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(action.choices)


def test_the_cli_has_the_contract_commands():
    assert {"list", "show", "audit"} <= set(_subcommands())


@pytest.mark.parametrize("command", _subcommands())
def test_readme_mentions_every_command(command):
    assert f"opcheck {command}" in README.read_text()


@pytest.mark.parametrize("command", _subcommands())
def test_cli_docs_mention_every_command(command):
    path = DOCS / "cli.md"
    if not path.exists():
        pytest.skip("docs/cli.md is not written yet")
    assert f"opcheck {command}" in path.read_text()


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "pip install . && opcheck audit" in text
    assert 'pip install ".[test]" && pytest' in text


def test_ci_runs_the_readme_test_command():
    """The README promises `pytest` is what CI runs; .ci/run must run exactly that."""
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r'"\$venv/bin/pytest"\s*(\|\||$|;|&&|\))', script, re.MULTILINE), (
        "`.ci/run` should run the venv's plain `pytest`, the README's command"
    )


def test_readme_exit_codes_match_the_contract():
    text = README.read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in text


#: Pages other people are writing; a link to one is skipped until it exists, then checked.
PENDING_PAGES = {"cli.md", "batch.md", "pytest.md", "ops.md", "benchmarks.md"}


def _links() -> list[tuple[Path, str]]:
    return [
        (page, target)
        for page in (README, PLUGINS_MD, HOOKS_MD)
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", page.read_text())
    ]


@pytest.mark.parametrize("page, target", _links(), ids=[f"{p.name}->{t}" for p, t in _links()])
def test_links_between_docs_resolve(page, target):
    path = page.parent / target
    if not path.exists() and path.name in PENDING_PAGES:
        pytest.skip(f"{target} is not written yet")
    assert path.exists(), f"{page.name} links to {target}, which does not exist"


ARCHITECTURE_MD = DOCS / "architecture.md"


def _module_table() -> str:
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    return text[text.index("## Where each concern lives"):text.index("## How to add a check")]


@pytest.mark.parametrize("module", sorted(p.name for p in (ROOT / "opcheck").glob("*.py")))
def test_every_module_is_in_the_architecture_table(module):
    """A newcomer finds any module from docs/architecture.md's table of concerns."""
    assert f"`{module}`" in _module_table(), f"add `{module}` to docs/architecture.md's table"


@pytest.mark.parametrize("package", sorted(p.parent.name for p in (ROOT / "opcheck").glob("*/__init__.py")))
def test_every_subpackage_is_in_the_architecture_table(package):
    assert f"`{package}/`" in _module_table()


def test_the_architecture_names_the_built_in_plugins_folder_as_it_is():
    text = ARCHITECTURE_MD.read_text(encoding="utf-8")
    assert (ROOT / "plugins").is_dir() and "opcheck_plugins/" not in text


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_docs_cite_no_file_outside_the_repository(page):
    """The team's shared CONTRACT.md is not shipped: a reader could not open it."""
    assert "CONTRACT.md" not in (DOCS / page).read_text(encoding="utf-8")
