"""Hooks are called through pluggy: hook options, wrappers, any object as a plugin, and
unmarked hook functions. (Loading, blocking and broken plugins: test_plugin_manager.py.)"""

from __future__ import annotations

import os
import subprocess
import textwrap
import types
from importlib import metadata

import pytest
from cli_command import OPCHECK

import opcheck
from opcheck import plugin_manager


@pytest.fixture(autouse=True)
def no_entry_points(monkeypatch):
    monkeypatch.setattr(plugin_manager, "_entry_points", lambda: list[metadata.EntryPoint]())


def _double(name: str) -> opcheck.Op:
    return opcheck.Op(name=name, forward=lambda x: 2.0 * x,
                      backward=lambda dout, x: {"x": 2.0 * dout},
                      inputs={"x": opcheck.Tensor(shape=("N",))})


def _module(name: str, **hooks: object) -> types.ModuleType:
    module = types.ModuleType(name)
    for attr, value in hooks.items():
        setattr(module, attr, value)
    return module


def _ops_plugin(name: str, *ops: str, **options: bool) -> types.ModuleType:
    @opcheck.hookimpl(**options)
    def opcheck_ops():
        return [_double(op) for op in ops]

    return _module(name, opcheck_ops=opcheck_ops)


def test_a_wrapper_filters_every_other_plugins_ops():
    @opcheck.hookimpl(wrapper=True)
    def opcheck_ops():
        results = yield
        return [[op for op in ops if op.name != "matmul" and not op.name.endswith("hidden")]
                for ops in results]

    registry = opcheck.discover([_ops_plugin("a", "a.kept", "a.hidden"),
                                 _module("filter", opcheck_ops=opcheck_ops)])
    assert "a.kept" in registry and "sigmoid_affine" in registry
    assert "a.hidden" not in registry and "matmul" not in registry
    assert registry.errors == []


def test_a_wrapper_can_rename_ops():
    @opcheck.hookimpl(wrapper=True)
    def opcheck_ops():
        results = yield
        return [[op.model_copy(update={"name": "x." + op.name}) for op in ops] for ops in results]

    registry = opcheck.discover([_module("prefix", opcheck_ops=opcheck_ops)])
    assert {"x.matmul", "x.sigmoid_affine"} <= set(registry)


def test_tryfirst_and_trylast_order_the_plugins():
    registry = opcheck.discover([_ops_plugin("late", "late.op", trylast=True),
                                 _ops_plugin("plain", "plain.op"),
                                 _ops_plugin("early", "early.op", tryfirst=True)])
    names = list(registry)
    assert names[0] == "early.op" and names[-1] == "late.op"
    assert names.index("matmul") < names.index("plain.op")  # otherwise load order


def test_a_class_instance_is_a_plugin():
    class MyPlugin:
        def __init__(self, prefix: str) -> None:
            self.prefix = prefix

        @opcheck.hookimpl
        def opcheck_ops(self):
            return [_double(f"{self.prefix}.double")]

    registry = opcheck.discover(plugins=[MyPlugin("one"), MyPlugin("two")])
    assert {"one.double", "two.double"} <= set(registry)
    assert registry.plugin_of["one.double"].name != registry.plugin_of["two.double"].name
    assert registry.plugin_of["one.double"].file == __file__
    assert registry.errors == []


def test_an_unmarked_hook_is_not_called_and_says_why():
    def opcheck_ops():
        return [_double("u.never")]

    registry = opcheck.discover([_module("unmarked", opcheck_ops=opcheck_ops)])
    assert "u.never" not in registry
    [error] = registry.errors
    assert error.plugin == "unmarked"
    assert "not marked with @opcheck.hookimpl" in str(error)


def test_the_plugin_manager_is_kept_on_the_registry():
    registry = opcheck.discover()
    pm = registry.plugin_manager
    assert pm is not None
    assert pm.has_plugin("opcheck_plugins.matmul")


def test_a_raising_wrapper_is_blamed_and_the_plugins_still_load():
    @opcheck.hookimpl(wrapper=True)
    def opcheck_ops():
        yield
        raise RuntimeError("wrapper broke")

    registry = opcheck.discover([_module("bad_wrapper", opcheck_ops=opcheck_ops),
                                 _ops_plugin("fine", "fine.op")])
    assert registry.errors
    assert {error.plugin for error in registry.errors} == {"bad_wrapper"}
    assert "wrapper broke" in str(registry.errors[0])


def test_a_wrapper_sees_a_raising_plugin_and_the_error_names_that_plugin():
    def boom():
        raise ValueError("plugin broke")

    seen: list[str] = []

    @opcheck.hookimpl(wrapper=True)
    def opcheck_ops():
        try:
            return (yield)
        except ValueError as exc:
            seen.append(str(exc))
            raise

    registry = opcheck.discover([_module("broken", opcheck_ops=opcheck.hookimpl(boom)),
                                 _module("watcher", opcheck_ops=opcheck_ops)])
    assert seen == ["plugin broke"]
    [error] = registry.errors
    assert error.plugin == "broken"
    assert "matmul" in registry


def test_samplers_go_through_the_same_path():
    @opcheck.hookimpl(wrapper=True)
    def opcheck_samplers():
        results = yield
        return [{f"renamed.{k}": v for k, v in r.items()} for r in results]

    def draw(rng, shape, dtype):
        return rng.uniform(size=shape).astype(dtype)

    registry = opcheck.discover([
        _module("s", opcheck_samplers=opcheck.hookimpl(lambda: {"mine": draw})),
        _module("w", opcheck_samplers=opcheck_samplers),
    ])
    assert registry.errors == []
    from opcheck import samplers

    assert "renamed.mine" in samplers.known()


WRAPPER_PLUGIN = """
    import opcheck


    @opcheck.hookimpl(wrapper=True)
    def opcheck_ops():
        results = yield
        return [[op for op in ops if op.name != "matmul"] for ops in results]
"""


@pytest.mark.slow
def test_a_wrapper_plugin_filters_opcheck_list(tmp_path):
    (tmp_path / "only_sigmoid.py").write_text(textwrap.dedent(WRAPPER_PLUGIN))
    env = {**os.environ, "OPCHECK_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run([*OPCHECK, "list", "-p", "only_sigmoid"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert "sigmoid_affine" in names and "complex.matmul" in names
    assert "matmul" not in names
