"""Test plugin: declares ``twin.op``, as does ``twin_a_ops`` (a duplicate name)."""

import opcheck


@opcheck.hookimpl
def opcheck_ops():
    return [opcheck.Op(name="twin.op", forward=lambda x: x * 2.0,
                       backward=lambda dout, x: {"x": dout * 2.0},
                       inputs={"x": opcheck.Tensor(shape=("N",))})]
