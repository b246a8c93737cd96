"""opcheck.worker: the guarded audit of one discovered op, called directly (the CLI
tests reach it through subprocesses)."""

from __future__ import annotations

import types

import opcheck
from opcheck.frontend import error_report, reproduce_command
from opcheck.worker import audit_guarded


def _crashing_plugin() -> types.ModuleType:
    def forward(x):
        raise GeneratorExit  # a BaseException no rule catches: a crash, not a verdict

    @opcheck.hookimpl
    def opcheck_ops():
        return [opcheck.Op(name="w.crash", forward=forward, backward=lambda dout, x: {"x": dout},
                           inputs={"x": opcheck.Tensor(shape=("N",))})]

    module = types.ModuleType("crash_plugin")
    module.opcheck_ops = opcheck_ops
    return module


def test_a_crashed_op_reproduces_with_its_variant():
    registry = opcheck.discover([_crashing_plugin()], autoload=False)
    report = audit_guarded(registry, "w.crash", seed=4, mode="auto", variant="N=1")
    assert report.status == "error"
    assert "the audit stopped: GeneratorExit" in report.message
    assert report.reproduce == ("opcheck audit w.crash -p crash_plugin --seed 4 --variant N=1 "
                                "--jobs 1")


def test_an_op_missing_from_the_workers_registry_is_an_error_naming_it():
    registry = opcheck.discover(autoload=False)
    report = audit_guarded(registry, "nowhere", seed=0, mode="fast", variant="default")
    assert report.status == "error" and "not found" in report.message
    assert "--variant default" in report.reproduce and "--mode fast" in report.reproduce


def test_reproduce_command_quotes_names_for_the_shell():
    command = reproduce_command("a b", 0, "auto", "N=1 D=2", None)
    assert command == "opcheck audit 'a b' --seed 0 --variant 'N=1 D=2' --jobs 1"
    assert error_report("x", "m", 1, "auto", None).reproduce == "opcheck audit x --seed 1 --jobs 1"
    assert error_report("x", "m", 1, "full", None).reproduce.endswith("--mode full --jobs 1")
