"""A small op library with every status — pass, fail, xfail, xpass, skip — audited by
the real ``opcheck audit`` command, for the tests of the report formats."""

from __future__ import annotations

from pathlib import Path

import pytest

LIBRARY = '''
import opcheck


def _square(x):
    return x * x


def _right(dout, x):
    return {"x": 2.0 * x * dout}


def _half(dout, x):  # the factor 2 forgotten
    return {"x": x * dout}


def _op(name, backward, **fields):
    return opcheck.Op(name=name, forward=_square, backward=backward,
                      inputs={"x": opcheck.Tensor(shape=("N",))}, **fields)


@opcheck.hookimpl
def opcheck_ops():
    return [
        _op("md.good", _right),
        _op("md.wrong", _half),
        _op("md.known", _half, xfail={"*": "issue #7: half the gradient"}),
        _op("md.fixed", _right, xfail={"*": "issue #8, fixed since"}),
        _op("md.skipped", _right, skip={"*": "needs a GPU"}),
    ]
'''


def audit_library(folder: Path, fmt: str) -> str:
    """``opcheck audit 'md.*' -p md_ops --format FMT`` of ``LIBRARY`` in ``folder``,
    in-process; the report's text."""
    from opcheck.cli import main

    (folder / "md_ops.py").write_text(LIBRARY)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.syspath_prepend(str(folder))
        patch.setenv("OPCHECK_DISABLE_PLUGIN_AUTOLOAD", "1")
        assert main(["audit", "md.*", "-p", "md_ops", "-j", "1", "--format", fmt,
                     "-o", "report.out"]) == 1
    return (folder / "report.out").read_text()
