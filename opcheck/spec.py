"""The declarations plugins write: ``Op`` and ``Tensor`` (frozen pydantic models).

Everything a declaration can get wrong is caught here, when the plugin loads, so the
audit's hot loop never has to validate anything.
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .limits import check_range, check_size

__all__ = ["DEFAULT_DIM", "Op", "Tensor"]

#: The size of a symbolic dimension that ``Op.dims`` does not name.
DEFAULT_DIM = 3

_FLOAT_RANGE = (-1.0, 1.0)


class Tensor(BaseModel):
    """The schema of one op input: shape (ints and symbolic names), dtype, value range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: tuple[int | str, ...]
    dtype: str = "float64"
    low: float | None = None
    high: float | None = Field(None, validate_default=True)
    differentiable: bool | None = None

    @field_validator("shape", mode="before")
    @classmethod
    def _shape_is_a_sequence(cls, value: Any) -> Any:
        if isinstance(value, (int, str)):
            raise ValueError(
                f"shape={value!r} is a single value; give a tuple such as ({value!r},)"
            )
        if isinstance(value, (list, tuple)):
            for axis, size in enumerate(value):
                if isinstance(size, bool):  # before pydantic turns True into 1
                    raise ValueError(f"shape[{axis}]={size!r} is a bool; use an int size or a name")
            return tuple(value)
        return value

    @field_validator("shape")
    @classmethod
    def _shape_entries(cls, shape: tuple[int | str, ...]) -> tuple[int | str, ...]:
        for axis, size in enumerate(shape):
            if isinstance(size, bool):
                raise ValueError(f"shape[{axis}]={size!r} is a bool; use an int size or a name")
            if isinstance(size, int) and size < 1:
                raise ValueError(f"shape[{axis}]={size!r}: sizes must be at least 1")
            if isinstance(size, str) and (not size.isidentifier() or keyword.iskeyword(size)):
                raise ValueError(
                    f"shape[{axis}]={size!r} is not a valid dimension name; "
                    "use an identifier such as 'N'"
                )
        return shape

    @field_validator("dtype", mode="before")
    @classmethod
    def _dtype_name(cls, value: Any) -> str:
        try:
            dtype = np.dtype(value)
        except TypeError:
            raise ValueError(
                f"dtype={value!r} is not a numpy dtype; use a name such as 'float64', "
                "'float32' or 'int64'"
            ) from None
        if dtype.kind not in "biuf":
            raise ValueError(
                f"dtype={value!r} ({dtype.name}) is not supported; opcheck checks "
                "floating, integer and bool inputs"
            )
        return dtype.name

    @field_validator("high")
    @classmethod
    def _range(cls, high: float | None, info: ValidationInfo) -> float | None:
        if "dtype" not in info.data or "low" not in info.data:
            return high  # already reported on its own field
        low, dtype = info.data["low"], info.data["dtype"]
        kind = np.dtype(dtype).kind
        if kind in "iu" and (low is None or high is None):
            raise ValueError(
                f"an integer tensor (dtype={dtype!r}) must declare its range: "
                "low=... and high=... (values are drawn from [low, high))"
            )
        if kind == "f":
            low = _FLOAT_RANGE[0] if low is None else low
            high_ = _FLOAT_RANGE[1] if high is None else high
            if not low < high_:
                raise ValueError(f"low={low!r} must be below high={high_!r}")
        elif kind in "iu" and not low < high:
            raise ValueError(f"low={low!r} must be below high={high!r}")
        check_range(dtype, low, high)
        return high

    @model_validator(mode="after")
    def _differentiability(self) -> Tensor:
        kind = np.dtype(self.dtype).kind
        if self.differentiable and kind != "f":
            raise ValueError(
                f"differentiable=True needs a floating dtype, not {self.dtype!r}"
            )
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """The declared ``(low, high)``, with the float default ``(-1, 1)`` filled in."""
        if np.dtype(self.dtype).kind == "b":
            return (0.0, 2.0)
        low = _FLOAT_RANGE[0] if self.low is None else self.low
        high = _FLOAT_RANGE[1] if self.high is None else self.high
        return (low, high)

    @property
    def is_differentiable(self) -> bool:
        if self.differentiable is not None:
            return self.differentiable
        return np.dtype(self.dtype).kind == "f"

    def concrete_shape(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(size if isinstance(size, int) else dims[size] for size in self.shape)


class Op(BaseModel):
    """One differentiable operation: forward, backward (a VJP) and its input schemas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    inputs: dict[str, Tensor]
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    #: Forward-mode rule (CONTRACT.md §7): called with every input, ``tangents`` and
    #: optionally ``out``; returns the output tangent.
    jvp: Callable[..., Any] | None = None
    #: Second-order rule (CONTRACT.md §7): the VJP of ``backward``; called with ``ggrads``,
    #: ``dout``, every input and optionally ``out``.
    double_backward: Callable[..., Any] | None = None
    dims: dict[str, int] = {}
    description: str = ""
    rtol: float | None = None
    atol: float | None = None
    #: Expected failures and skips, read by the pytest plugin: selector → reason, where a
    #: selector is "*" (the whole op), a variant label such as "N=1", or a dtype name.
    xfail: dict[str, str] = {}
    skip: dict[str, str] = {}

    _takes_out: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any) -> None:
        self._takes_out = _accepts(self.backward, "out")  # once, not per audit call

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            name = data.get("name")
            title = f"Op {name!r}" if isinstance(name, str) else "Op"
            raise ValidationError.from_exception_data(title, exc.errors()) from None

    @field_validator("name")
    @classmethod
    def _name_shape(cls, name: str) -> str:
        if not name or name != name.strip() or any(c.isspace() for c in name):
            raise ValueError(f"name={name!r} must be non-empty and contain no whitespace")
        return name

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        if not inputs:
            raise ValueError("an op needs at least one input")
        for name in inputs:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"input name {name!r} is not a valid Python identifier")
            if name in ("dout", "out"):
                raise ValueError(f"input name {name!r} is reserved for backward's arguments")
        return inputs

    @field_validator("dims")
    @classmethod
    def _dim_sizes(cls, dims: dict[str, int]) -> dict[str, int]:
        for dim, size in dims.items():
            if size < 1:
                raise ValueError(f"dims[{dim!r}]={size!r}: sizes must be at least 1")
        return dims

    @field_validator("rtol", "atol")
    @classmethod
    def _tolerance(cls, value: float | None) -> float | None:
        if value is not None and not value >= 0:
            raise ValueError(f"{value!r} must be a non-negative number")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Op:
        used = {s for t in self.inputs.values() for s in t.shape if isinstance(s, str)}
        unknown = sorted(set(self.dims) - used)
        if unknown:
            raise ValueError(
                f"dims names {unknown} but no input shape uses them (shapes use {sorted(used)}); "
                "check the spelling"
            )
        check_size(self.name, self.inputs, self.default_dims())
        _check_signature("forward", self.forward, list(self.inputs), optional=())
        _check_signature("backward", self.backward, ["dout", *self.inputs], optional=("out",))
        if self.jvp is not None:
            _check_signature("jvp", self.jvp, [*self.inputs, "tangents"], optional=("out",))
        if self.double_backward is not None:
            _check_signature("double_backward", self.double_backward,
                             ["ggrads", "dout", *self.inputs], optional=("out",))
        return self

    @property
    def symbolic_dims(self) -> tuple[str, ...]:
        """Symbolic dimension names in order of first appearance."""
        seen: dict[str, None] = {}
        for tensor in self.inputs.values():
            for size in tensor.shape:
                if isinstance(size, str):
                    seen.setdefault(size)
        return tuple(seen)

    def default_dims(self) -> dict[str, int]:
        return {d: self.dims.get(d, DEFAULT_DIM) for d in self.symbolic_dims}

    @property
    def differentiable_inputs(self) -> tuple[str, ...]:
        return tuple(n for n, t in self.inputs.items() if t.is_differentiable)

    def backward_takes_out(self) -> bool:
        return self._takes_out


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return None


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    params = _parameters(fn)
    if params is None:
        return False
    return any(
        p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params
    )


def _check_signature(
    role: str, fn: Callable[..., Any], names: list[str], optional: tuple[str, ...]
) -> None:
    """The function must take every name as a keyword and require nothing else."""
    params = _parameters(fn)
    if params is None:
        return
    has_var_kw = any(p.kind is p.VAR_KEYWORD for p in params)
    keywordable = {
        p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }
    missing = [n for n in names if n not in keywordable]
    if missing and not has_var_kw:
        raise ValueError(
            f"{role}: its parameters ({_param_list(params)}) do not accept {missing} by keyword; "
            f"{role} is called as {role}({', '.join(f'{n}=...' for n in names)})"
        )
    allowed = set(names) | set(optional)
    extra = [
        p.name
        for p in params
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and p.name not in allowed
    ]
    if extra:
        hint = "declare it in inputs" if role == "forward" else "declare it in inputs, or give it a default"
        inputs = [n for n in names if n != "dout"]
        raise ValueError(
            f"{role}: parameter(s) {extra} are not inputs of the op (its inputs: {inputs}); {hint}"
        )


def _param_list(params: list[inspect.Parameter]) -> str:
    return ", ".join(str(p) for p in params)
