"""Declarations the audit could not survive are refused when the plugin loads: inputs too
large to allocate, integer ranges the dtype cannot hold, float ranges that overflow."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

import opcheck
from opcheck.limits import DEFAULT_MAX_BYTES, MAX_BYTES_ENV


def _op(**tensor):
    shape = tensor.pop("shape", ("N",))
    return opcheck.Op(name="lim", forward=lambda x: x, backward=lambda dout, x: {"x": dout},
                      inputs={"x": opcheck.Tensor(shape=shape, **tensor)},
                      dims=tensor.pop("dims", {}))


@pytest.mark.parametrize(("tensor", "message"), [
    pytest.param({"shape": (10**9,)}, "the inputs take 7.45 GiB at dims {} (input 'x': 7.45 GiB), "
                 "above the limit of 1 GiB", id="shape-1e9-float64"),
    pytest.param({"dtype": "uint8", "low": -5, "high": 10}, "low=-5 is below the smallest uint8 (0)",
                 id="uint8-negative-low"),
    pytest.param({"dtype": "int8", "low": 0, "high": 300}, "high=300 is above what int8 holds",
                 id="int8-high-300"),
    pytest.param({"dtype": "float16", "low": -1e6, "high": 1e6},
                 "low=-1e+06 is outside the finite range of float16 (±65504)",
                 id="float16-1e6"),
    pytest.param({"dtype": "float32", "high": 1e39}, "high=1e+39 is outside the finite range",
                 id="float32-1e39"),
], )
def test_a_declaration_beyond_its_dtype_or_size_is_refused(tensor, message):
    with pytest.raises(ValidationError) as info:
        _op(**tensor)
    assert message in str(info.value)


@pytest.mark.parametrize("tensor", [
    {"dtype": "uint8", "low": 0, "high": 256},
    {"dtype": "int8", "low": -128, "high": 128},
    {"dtype": "float16", "low": -60000.0, "high": 60000.0},
    {"shape": (1000, 1000)},
], ids=["uint8-full", "int8-full", "float16-wide", "8MB"])
def test_declarations_at_the_edge_are_accepted(tensor):
    _op(**tensor)


def test_the_size_limit_can_be_raised(monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, str(DEFAULT_MAX_BYTES * 16))
    op = _op(shape=(10**9,))  # declared, never sampled here
    assert op.inputs["x"].shape == (10**9,)


def test_the_dims_count_toward_the_size():
    with pytest.raises(ValidationError, match="at dims {'N': 200000000}"):
        opcheck.Op(name="lim", forward=lambda x: x, backward=lambda dout, x: {"x": dout},
                   inputs={"x": opcheck.Tensor(shape=("N",), dtype="float64")},
                   dims={"N": 200_000_000})
    assert np.dtype("float64").itemsize * 100 < DEFAULT_MAX_BYTES


@pytest.mark.parametrize("raw", ["abc", "-1", "0", "inf"])
def test_a_bad_size_limit_in_the_environment_is_a_usage_error_naming_it(monkeypatch, raw):
    monkeypatch.setenv(MAX_BYTES_ENV, raw)
    words = rf"OPCHECK_MAX_INPUT_BYTES='{raw}' is not a number of bytes; set it to"
    with pytest.raises(opcheck.UsageError, match=words):
        opcheck.discover()
    with pytest.raises(opcheck.UsageError, match=words):
        opcheck.audit("relu")
