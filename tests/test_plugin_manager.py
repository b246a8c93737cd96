"""opcheck.plugin_manager: finding plugins, blocking them, and surviving broken ones.

Every test calls ``opcheck.discover``, which builds a fresh pluggy manager each time.
Installed entry points are replaced by a per-test list so the machine's packages cannot
leak in.
"""

from __future__ import annotations

import importlib
import itertools
import re
import sys
import textwrap
import types
from importlib import metadata

import numpy as np
import pydantic
import pytest

import opcheck
from opcheck import plugin_manager

BUILTINS = ("matmul", "sigmoid_affine")

_counter = itertools.count()


@pytest.fixture(autouse=True)
def entry_points(monkeypatch):
    """The installed entry points for this test: empty unless the test appends to it."""
    eps: list[metadata.EntryPoint] = []
    monkeypatch.setattr(plugin_manager, "_entry_points", lambda: list(eps))
    monkeypatch.delenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return eps


@pytest.fixture
def write_plugin(tmp_path, monkeypatch):
    """Write a plugin module to tmp_path and return its (unique) importable name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str, name: str | None = None) -> str:
        name = name or f"opcheck_test_plugin_{next(_counter)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


PLUGIN_SOURCE = """
    import opcheck

    def forward(x):
        return 2.0 * x

    def backward(dout, x):
        return {{"x": 2.0 * dout}}

    @opcheck.hookimpl
    def opcheck_ops():
        return [opcheck.Op(name={name!r}, forward=forward, backward=backward,
                           inputs={{"x": opcheck.Tensor(shape=("N",))}})]
"""


def _double(name: str) -> opcheck.Op:
    return opcheck.Op(
        name=name,
        forward=lambda x: 2.0 * x,
        backward=lambda dout, x: {"x": 2.0 * dout},
        inputs={"x": opcheck.Tensor(shape=("N",))},
    )


def plugin_module(name: str, ops) -> types.ModuleType:
    """An in-memory plugin module whose opcheck_ops calls ``ops()``."""
    module = types.ModuleType(name)

    @opcheck.hookimpl
    def opcheck_ops():
        return ops()

    module.opcheck_ops = opcheck_ops
    return module


def _errors(registry) -> str:
    return "\n".join(str(e) for e in registry.errors)


# --- built-ins --------------------------------------------------------------------------


def test_discover_finds_the_builtin_ops():
    registry = opcheck.discover()
    for name in BUILTINS:
        assert name in registry
        assert isinstance(registry[name], opcheck.Op)
    assert registry.errors == []
    assert registry.plugin_of["matmul"].name == "opcheck_plugins.matmul"
    assert registry.plugin_of["matmul"].source == "builtin"
    assert registry.plugin_of["sigmoid_affine"].name == "opcheck_plugins.sigmoid_affine"


def test_builtins_load_in_the_fixed_order():
    registry = opcheck.discover()
    names = [p.name for p in registry.plugins if p.source == "builtin"]
    assert names[:2] == ["opcheck_plugins.matmul", "opcheck_plugins.sigmoid_affine"]
    assert names == list(plugin_manager.builtin_modules())


def test_registry_is_a_read_only_mapping():
    registry = opcheck.discover()
    assert set(registry) == set(registry.ops)
    assert len(registry) == len(registry.ops)
    with pytest.raises(KeyError):
        registry["no-such-op"]


def test_each_discover_builds_a_fresh_manager():
    first = opcheck.discover([plugin_module("extra_plugin", lambda: [_double("t.extra")])])
    second = opcheck.discover()
    assert "t.extra" in first
    assert "t.extra" not in second


# --- -p plugins: module objects and importable names ------------------------------------


def test_plugin_given_as_a_module_object():
    registry = opcheck.discover([plugin_module("inline_plugin", lambda: [_double("t.inline")])])
    assert "t.inline" in registry
    assert registry.plugin_of["t.inline"].name == "inline_plugin"
    assert registry.plugin_of["t.inline"].source == "-p"
    assert all(name in registry for name in BUILTINS)


def test_plugin_given_as_an_importable_name(write_plugin):
    name = write_plugin(PLUGIN_SOURCE.format(name="t.from_file"))
    registry = opcheck.discover([name])
    assert registry.plugin_of["t.from_file"].name == name
    assert opcheck.audit(registry["t.from_file"]).status == "pass"


def test_unimportable_plugin_name_is_a_usage_error():
    with pytest.raises(
        opcheck.UsageError, match="'no_such_module_for_opcheck'.*cannot be imported"
    ):
        opcheck.discover(["no_such_module_for_opcheck"])


def test_plugin_that_fails_on_import_is_a_usage_error(write_plugin):
    name = write_plugin("raise RuntimeError('broken at import')\n")
    with pytest.raises(opcheck.UsageError, match="RuntimeError: broken at import"):
        opcheck.discover([name])


def test_module_registered_twice_loads_once(write_plugin):
    name = write_plugin(PLUGIN_SOURCE.format(name="t.twice"))
    registry = opcheck.discover([name, name])
    assert "t.twice" in registry
    assert registry.errors == []


# --- blocking ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        pytest.param("no:opcheck_plugins.matmul", id="full-name"),
        pytest.param("no:matmul", id="short-name"),
    ],
)
def test_block_a_builtin(block):
    registry = opcheck.discover([block])
    assert "matmul" not in registry
    assert "sigmoid_affine" in registry
    assert "opcheck_plugins.matmul" not in [p.name for p in registry.plugins]


def test_block_a_p_plugin(write_plugin):
    name = write_plugin(PLUGIN_SOURCE.format(name="t.blocked"))
    registry = opcheck.discover([name, f"no:{name}"])
    assert "t.blocked" not in registry


def test_block_an_entry_point(write_plugin, entry_points):
    module = write_plugin(PLUGIN_SOURCE.format(name="t.ep"))
    entry_points.append(metadata.EntryPoint(name="myeps", value=module, group="opcheck"))
    assert "t.ep" in opcheck.discover()
    assert "t.ep" not in opcheck.discover(["no:myeps"])


# --- entry points -----------------------------------------------------------------------


def test_entry_points_are_loaded(write_plugin, entry_points):
    module = write_plugin(PLUGIN_SOURCE.format(name="t.entry"))
    entry_points.append(metadata.EntryPoint(name="mylib", value=module, group="opcheck"))
    registry = opcheck.discover()
    info = registry.plugin_of["t.entry"]
    assert (info.name, info.source) == ("mylib", "entry point")


def test_broken_entry_point_is_an_error_and_the_others_load(write_plugin, entry_points):
    good = write_plugin(PLUGIN_SOURCE.format(name="t.good_ep"))
    entry_points.append(
        metadata.EntryPoint(name="broken", value="no_such_module_xyz_123", group="opcheck")
    )
    entry_points.append(metadata.EntryPoint(name="good", value=good, group="opcheck"))
    registry = opcheck.discover()
    assert "t.good_ep" in registry
    assert all(name in registry for name in BUILTINS)
    [error] = registry.errors
    assert error.plugin == "broken"
    assert "no_such_module_xyz_123" in str(error)
    assert "could not be imported" in str(error)


@pytest.mark.parametrize("value", ["1", "true"])
def test_autoload_env_var_disables_entry_points_only(
    write_plugin, entry_points, monkeypatch, value
):
    from_ep = write_plugin(PLUGIN_SOURCE.format(name="t.autoloaded"))
    from_p = write_plugin(PLUGIN_SOURCE.format(name="t.explicit"))
    entry_points.append(metadata.EntryPoint(name="auto", value=from_ep, group="opcheck"))
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", value)
    registry = opcheck.discover([from_p])
    assert "t.autoloaded" not in registry
    assert "t.explicit" in registry
    assert all(name in registry for name in BUILTINS)


def test_autoload_argument_overrides_env(write_plugin, entry_points, monkeypatch):
    module = write_plugin(PLUGIN_SOURCE.format(name="t.auto_arg"))
    entry_points.append(metadata.EntryPoint(name="auto", value=module, group="opcheck"))
    assert "t.auto_arg" not in opcheck.discover(autoload=False)
    monkeypatch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "t.auto_arg" in opcheck.discover(autoload=True)


# --- broken plugins: recorded, never fatal ----------------------------------------------


def test_duplicate_op_name_names_both_plugins_and_drops_the_op():
    first = plugin_module("first_plugin", lambda: [_double("t.dup"), _double("t.unique")])
    second = plugin_module("second_plugin", lambda: [_double("t.dup")])
    registry = opcheck.discover([first, second])
    assert "t.dup" not in registry
    assert "t.unique" in registry
    [error] = registry.errors
    assert isinstance(error, opcheck.PluginError)
    assert error.op == "t.dup"
    assert "'first_plugin'" in str(error) and "'second_plugin'" in str(error)


def test_duplicate_of_a_builtin_name():
    registry = opcheck.discover([plugin_module("shadow", lambda: [_double("matmul")])])
    assert "matmul" not in registry
    assert "opcheck_plugins.matmul" in _errors(registry)
    assert "'shadow'" in _errors(registry)


def _raise():
    raise RuntimeError("cannot build ops today")


BROKEN_HOOKS = [
    pytest.param(
        _raise, ["opcheck_ops() raised", "RuntimeError", "cannot build ops today"], id="raises"
    ),
    pytest.param(lambda: None, ["returned None"], id="returns-none"),
    pytest.param(lambda: 42, ["iterable", "int"], id="returns-non-iterable"),
    pytest.param(
        lambda: ["matmul"], ["item 0", "str", "not an opcheck.Op"], id="returns-a-string-item"
    ),
    pytest.param(lambda: [{"name": "t.dict"}], ["item 0", "dict"], id="returns-a-dict-item"),
]


@pytest.mark.parametrize("ops, words", BROKEN_HOOKS)
def test_broken_hook_is_an_error_and_the_others_load(ops, words):
    good = plugin_module("good_plugin", lambda: [_double("t.survivor")])
    broken = plugin_module("broken_plugin", ops)
    registry = opcheck.discover([broken, good])
    assert "t.survivor" in registry
    assert all(name in registry for name in BUILTINS)
    [error] = registry.errors
    assert error.plugin == "broken_plugin"
    for word in words:
        assert word in str(error)


def test_valid_items_next_to_an_invalid_item_still_load():
    registry = opcheck.discover([plugin_module("mixed", lambda: [_double("t.ok"), "junk"])])
    assert "t.ok" in registry
    assert len(registry.errors) == 1


BAD_TENSOR_PLUGIN = """
    import opcheck

    def forward(x):
        return x

    def backward(dout, x):
        return {"x": dout}

    @opcheck.hookimpl
    def opcheck_ops():
        return [
            opcheck.Op(name="t.bad_range", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=(2,), low=1.0, high=0.5)}),
        ]
"""


def _line_of(path, text: str) -> int:
    lines = path.read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_invalid_tensor_names_plugin_file_line_and_field(write_plugin, tmp_path):
    name = write_plugin(BAD_TENSOR_PLUGIN)
    registry = opcheck.discover([name])
    assert "t.bad_range" not in registry
    [error] = registry.errors
    path = tmp_path / f"{name}.py"
    message = str(error)
    assert error.plugin == name
    assert f"plugin {name!r}" in message
    assert f"{path}:{_line_of(path, 'low=1.0, high=0.5')}" in message
    assert error.op == "t.bad_range"  # the Tensor's error is its op's error entry
    assert "inputs.x.high" in error.fields
    assert "high" in message and "low=1.0" in message


BAD_OP_PLUGIN = """
    import opcheck

    def forward(x):
        return x

    def backward(dout, x):
        return {"x": dout}

    @opcheck.hookimpl
    def opcheck_ops():
        return [
            opcheck.Op(name="t.bad_sig", forward=forward, backward=backward,
                       inputs={"y": opcheck.Tensor(shape=(2,))}),
        ]
"""


def test_invalid_op_names_plugin_and_op(write_plugin, tmp_path):
    name = write_plugin(BAD_OP_PLUGIN)
    registry = opcheck.discover([name])
    [error] = registry.errors
    assert error.op == "t.bad_sig"
    assert f"plugin {name!r}" in str(error)
    assert "'t.bad_sig'" in str(error)
    assert "forward" in str(error) and "['y']" in str(error)
    assert str(tmp_path / f"{name}.py") in str(error)
    assert "matmul" in registry


def test_plugin_without_the_hook_is_registered_but_declares_nothing():
    module = types.ModuleType("empty_plugin")
    registry = opcheck.discover([module])
    assert "empty_plugin" in [p.name for p in registry.plugins]
    assert registry.errors == []


def test_misspelled_hook_is_reported_naming_plugin_and_hook():
    module = types.ModuleType("typo_plugin")

    @opcheck.hookimpl
    def opcheck_opz():
        return []

    module.opcheck_opz = opcheck_opz
    try:
        registry = opcheck.discover([module])
    except opcheck.OpcheckError as exc:  # refusing it outright is fine too, if it says why
        message = str(exc)
    else:
        message = _errors(registry)
        assert "matmul" in registry
    assert "typo_plugin" in message
    assert "opcheck_opz" in message


def test_discovered_op_runs(write_plugin):
    name = write_plugin(PLUGIN_SOURCE.format(name="t.runs"))
    op = opcheck.discover([name])["t.runs"]
    np.testing.assert_array_equal(op.forward(x=np.arange(3.0)), [0.0, 2.0, 4.0])


def test_a_plugin_found_but_raising_at_import_says_so_and_where(write_plugin):
    name = write_plugin("import numpy\n\nraise RuntimeError('broken at import')\n")
    with pytest.raises(opcheck.UsageError) as info:
        opcheck.discover([name])
    text = str(info.value)
    assert "was found but raised while importing" in text and "check the name" not in text
    assert f"{name}.py:3" in text


def test_a_plugin_missing_a_dependency_names_the_dependency(write_plugin):
    name = write_plugin("import no_such_dependency_for_opcheck\n")
    with pytest.raises(opcheck.UsageError, match="install 'no_such_dependency_for_opcheck'"):
        opcheck.discover([name])


NINE_OPS_ONE_BAD = """
    import opcheck

    def forward(x):
        return x

    def backward(dout, x):
        return {"x": dout}

    def ok(name):
        return opcheck.Op(name=name, forward=forward, backward=backward,
                          inputs={"x": opcheck.Tensor(shape=(2,))})

    @opcheck.hookimpl
    def opcheck_ops():
        return [
            *[ok(f"nine.ok{k}") for k in range(4)],
            opcheck.Op(name="nine.bad_backward", forward=forward, backward=lambda dout: dout,
                       inputs={"x": opcheck.Tensor(shape=(2,))}),
            opcheck.Op(name="nine.typo", forward=forward, backward=backward,
                       inputs={"x": opcheck.Tensor(shape=(2,), dtyp="float32")}),
            *[ok(f"nine.ok{k}") for k in range(4, 7)],
        ]
"""


def test_one_invalid_op_never_hides_its_valid_siblings(write_plugin, tmp_path):
    name = write_plugin(NINE_OPS_ONE_BAD)
    registry = opcheck.discover([name])
    assert sorted(n for n in registry if n.startswith("nine.")) == [f"nine.ok{k}" for k in range(7)]
    errors = {e.op: e for e in registry.errors}
    assert set(errors) == {"nine.bad_backward", "nine.typo"}
    path = tmp_path / f"{name}.py"
    bad = errors["nine.bad_backward"]
    assert bad.plugin == name and bad.fields == ("backward",)
    assert bad.location == f"{path}:{_line_of(path, 'nine.bad_backward')}"
    assert "backward" in str(bad) and "['x']" in str(bad)
    typo = errors["nine.typo"]
    assert typo.fields == ("inputs.x.dtyp",)
    assert f"{path}:{_line_of(path, 'dtyp=')}" in str(typo)
    assert "did you mean 'dtype'?" in str(typo)  # the misspelt field's likely meaning


def test_outside_discovery_an_invalid_op_still_raises():
    with pytest.raises(pydantic.ValidationError, match="dtyp"):
        opcheck.Op(name="t.x", forward=lambda x: x, backward=lambda dout, x: {"x": dout},
                   inputs={"x": opcheck.Tensor(shape=(2,), dtyp="float32")})


def test_a_plugin_given_as_a_file_path_is_told_to_use_the_module_name():
    with pytest.raises(opcheck.UsageError, match=r"-p takes a module name.*run from 'ex' with -p mylib_ops"):
        opcheck.discover(plugins=["ex/mylib_ops.py"])


def test_a_relative_file_path_is_told_the_same_not_a_relative_import_error(tmp_path, monkeypatch):
    (tmp_path / "reallib.py").write_text("import opcheck\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(opcheck.UsageError) as caught:
        opcheck.discover(plugins=["./reallib.py"])
    assert str(caught.value).endswith("-p takes a module name, not a file path; -p reallib")


class _MethodPlugin:
    @opcheck.hookimpl
    def opcheck_ops(self):
        return []


@pytest.mark.parametrize("plugins, words", [
    pytest.param([42], "plugins=[42]: int 42 is not a plugin", id="int"),
    pytest.param([None], "plugins=[None]: NoneType None is not a plugin", id="none"),
    pytest.param([object()], "is not a plugin (it has no opcheck_* hook)", id="hookless-object"),
    pytest.param([""], "an empty plugin name (-p '' or plugins=['']) is not a plugin",
                 id="empty-name"),
    pytest.param([_MethodPlugin], "pass an instance, _MethodPlugin()", id="a-class"),
])
def test_what_is_not_a_plugin_is_refused_saying_what_a_plugin_is(plugins, words):
    with pytest.raises(opcheck.UsageError, match=re.escape(words)) as info:
        opcheck.discover(plugins)
    if "instance" not in words:
        assert "a plugin is a module, an importable module name" in str(info.value)


def test_an_instance_of_a_plugin_class_is_a_plugin():
    registry = opcheck.discover([_MethodPlugin()])
    assert any(p.module.__class__ is _MethodPlugin for p in registry.plugins)


def test_one_plugin_name_alone_is_a_list_of_one(write_plugin):
    name = write_plugin(PLUGIN_SOURCE.format(name="t.alone"))
    assert "t.alone" in opcheck.discover(plugins=name)
    assert opcheck.audit("t.alone", plugins=name).status == "pass"
    assert "t.alone" in opcheck.discover(plugins=importlib.import_module(name))


@pytest.mark.parametrize("source, line, words", [
    pytest.param("import opcheck\n\ndef broken(:\n    pass\n", 3, "SyntaxError", id="syntax-error"),
    pytest.param("import numpy\n\nx = numpy.nosuch\n", 3, "no attribute 'nosuch'",
                 id="error-raised-inside-numpy"),
])
def test_an_import_error_names_the_plugins_own_line(write_plugin, tmp_path, source, line, words):
    """Not opcheck's import call (a syntax error) nor numpy's __getattr__: the user's line."""
    name = write_plugin(source)
    with pytest.raises(opcheck.UsageError) as info:
        opcheck.discover([name])
    text = str(info.value)
    assert words in text and f"(at {tmp_path / name}.py:{line})" in text, text
    assert "plugin_manager.py" not in text and "site-packages" not in text, text
