"""``Tensor``: the schema of one op input (shape, dtype, value range, sampler), a frozen
pydantic model checked when the plugin loads. ``spec`` re-exports it beside ``Op``."""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from . import expressions
from .declaration_errors import KNOWN_FIELDS, Invalid, caller_location, deferring, hinted
from .limits import check_range

#: The size of a symbolic dimension that ``Op.dims`` does not name.
DEFAULT_DIM = 3

_FLOAT_RANGE = (-1.0, 1.0)
#: Complex dtypes the audit checks (real and imaginary parts are differenced separately).
_COMPLEX = ("complex64", "complex128")


class Tensor(BaseModel):
    """The schema of one op input: shape (ints and symbolic names), dtype, value range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    shape: tuple[int | str, ...]
    dtype: str = "float64"
    #: Numbers, or for an integer tensor a dim name or expression ("C", "C-1").
    low: float | str | None = None
    high: float | str | None = Field(None, validate_default=True)
    differentiable: bool | None = None
    #: How values are drawn: "spd", "simplex", "orthogonal", a plugin sampler's name, or a
    #: callable (rng, shape, dtype) -> ndarray (see ``samplers.py``); None: uniform in range.
    sampler: Annotated[
        str | Callable[..., Any] | None,
        WithJsonSchema({"type": ["string", "null"], "description": "a sampler name or callable"}),
        PlainSerializer(lambda v: v if v is None or isinstance(v, str)
                        else getattr(v, "__qualname__", repr(v)), when_used="json"),
    ] = None

    #: Set on a placeholder built while discovery collects a plugin's ops (see
    #: ``declaration_errors``): why the declaration is invalid.
    _invalid: Invalid | None = PrivateAttr(default=None)
    #: 'FILE:LINE' of a Tensor that names its sampler: whether the name exists is known
    #: only once every plugin's samplers are, and the error then points here.
    _sampler_at: str = PrivateAttr(default="")

    def __init__(self, **data: Any) -> None:
        __tracebackhide__ = True  # a bad declaration's pytest traceback ends at the caller's line
        try:
            super().__init__(**data)
            if isinstance(self.sampler, str):
                self._sampler_at = caller_location()
        except ValidationError as exc:
            if not deferring():
                raise hinted("Tensor", exc) from None
            super().__init__(shape=())
            self._invalid = Invalid.from_error("Tensor", exc, caller_location())

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
                whole = isinstance(size, float) and size.is_integer()  # 2.0: pydantic's 2
                if not (isinstance(size, (int, str, np.integer)) or whole):
                    # (one message, not pydantic's one per type of the union it tried)
                    raise ValueError(
                        f"shape[{axis}]={size!r} is a {type(size).__name__}; a size is an int, a dim "
                        f"name such as 'N' or an expression such as 'N+1'"
                    )
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
            if isinstance(size, str) and keyword.iskeyword(size):
                raise ValueError(f"shape[{axis}]={size!r} is a Python keyword; name dims such as 'N'")
            if isinstance(size, str) and not size.isidentifier():
                try:
                    expressions.parse(size)
                except expressions.ExpressionError as exc:
                    raise ValueError(
                        f"shape[{axis}]={size!r} is not a valid dimension name (such as 'N') or "
                        f"expression over dims (such as '4*H' or 'H+D'): {exc}"
                    ) from None
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
        if dtype.kind not in "biufc" or dtype.name not in _COMPLEX and dtype.kind == "c":
            raise ValueError(
                f"dtype={value!r} ({dtype.name}) is not supported; opcheck checks "
                "floating, complex64/complex128, integer and bool inputs"
            )
        return dtype.name

    @field_validator("high")
    @classmethod
    def _range(cls, high: float | None, info: ValidationInfo) -> float | None:
        if "dtype" not in info.data or "low" not in info.data:
            return high  # already reported on its own field
        low, dtype = info.data["low"], info.data["dtype"]
        kind = np.dtype(dtype).kind
        for side, value in (("low", low), ("high", high)):
            if isinstance(value, str):
                if kind not in "iu":
                    raise ValueError(
                        f"{side}={value!r} names a dim, which only an integer tensor's range may "
                        f"do (dtype={dtype!r}); give a number"
                    )
                try:
                    expressions.parse(value)
                except expressions.ExpressionError as exc:
                    raise ValueError(f"{side}={value!r}: {exc}") from None
        if isinstance(low, str) or isinstance(high, str):
            return high  # compared at the op's dims, where the names have sizes
        if kind in "iu" and (low is None or high is None):
            raise ValueError(
                f"an integer tensor (dtype={dtype!r}) must declare its range: "
                "low=... and high=... (values are drawn from [low, high))"
            )
        if kind in "fc":
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
        if self.sampler in ("spd", "orthogonal", "simplex"):
            need = 1 if self.sampler == "simplex" else 2
            if len(self.shape) < need:
                raise ValueError(f"sampler={self.sampler!r} needs at least {need} axes, not shape {self.shape}")
            if kind != "f":
                raise ValueError(f"sampler={self.sampler!r} draws floats; dtype={self.dtype!r} is not one")
            if self.sampler == "spd" and self.shape[-1] != self.shape[-2]:
                raise ValueError(
                    f"sampler='spd' needs square matrices over the last two axes, but shape ends "
                    f"{self.shape[-2:]}; use one dim name for both, e.g. ('N', 'N')"
                )
        elif isinstance(self.sampler, str) and not self.sampler:
            raise ValueError("sampler='' is empty; give a sampler's name or a callable")
        if self.differentiable and kind not in "fc":
            raise ValueError(
                f"differentiable=True needs a floating or complex dtype, not {self.dtype!r}"
            )
        return self

    @property
    def bounds(self) -> tuple[float, float]:
        """The declared ``(low, high)``, with the float default ``(-1, 1)`` filled in."""
        if np.dtype(self.dtype).kind == "b":
            return (0.0, 2.0)
        if self.sampler is not None and np.dtype(self.dtype).kind == "f":
            # A sampler's values are not confined to [-1, 1]: steps need no room below a bound
            return (-np.inf if self.low is None else self.low,
                    np.inf if self.high is None else self.high)
        low = _FLOAT_RANGE[0] if self.low is None else self.low
        high = _FLOAT_RANGE[1] if self.high is None else self.high
        return (low, high)

    @property
    def is_differentiable(self) -> bool:
        if self.differentiable is not None:
            return self.differentiable
        return np.dtype(self.dtype).kind in "fc"

    def concrete_shape(self, dims: Mapping[str, int]) -> tuple[int, ...]:
        return tuple(
            size if isinstance(size, int) else dims[size] if size in dims
            else int(expressions.evaluate(size, dims))
            for size in self.shape
        )

    def bounds_at(self, dims: Mapping[str, int]) -> tuple[float, float]:
        """``bounds`` with dim names and expressions in ``low``/``high`` evaluated."""
        low, high = self.bounds
        return (float(expressions.evaluate(low, dims)) if isinstance(low, str) else low,
                float(expressions.evaluate(high, dims)) if isinstance(high, str) else high)

    @property
    def dim_names(self) -> tuple[str, ...]:
        """Every dim this tensor uses, in its shape (names and expressions) and its range."""
        seen: dict[str, None] = {}
        for entry in (*self.shape, self.low, self.high):
            if isinstance(entry, str):
                for name in expressions.names(entry):
                    seen.setdefault(name)
        return tuple(seen)


KNOWN_FIELDS.update(Tensor.model_fields)  # the misspelt-field hint's candidates
