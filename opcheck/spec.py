"""The declarations plugins write: ``Op`` and ``Tensor`` (frozen pydantic models).

Everything a declaration can get wrong is caught here, when the plugin loads, so the
audit's hot loop never has to validate anything.
"""

from __future__ import annotations

import inspect
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

from . import expressions, relations
from .declaration_errors import Invalid, caller_location, deferring
from .limits import check_range, check_size
from .frozen import FrozenDict, FrozenList, freeze

__all__ = ["DEFAULT_DIM", "Op", "Tensor"]

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

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            if not deferring():
                raise
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


class Op(BaseModel):
    """One differentiable operation: forward, its derivative rules (``backward``, a VJP;
    ``jvp``, forward mode; or both) and its input schemas."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    inputs: dict[str, Tensor]
    forward: Callable[..., Any]
    #: Reverse-mode rule (a VJP). Optional when ``jvp`` is given: forward-mode registries
    #: declare only that.
    backward: Callable[..., Any] | None = None
    #: Forward-mode rule (CONTRACT.md §7): called with every input, ``tangents`` and
    #: optionally ``out``; returns the output tangent.
    jvp: Callable[..., Any] | None = None
    #: Second-order rule (CONTRACT.md §7): the VJP of ``backward``; called with ``ggrads``,
    #: ``dout``, every input and optionally ``out``.
    double_backward: Callable[..., Any] | None = None
    dims: dict[str, int] = FrozenDict()
    description: str = ""
    rtol: float | None = None
    atol: float | None = None
    #: Expected failures and skips, read by the pytest plugin: selector → reason, where a
    #: selector is "*" (the whole op), a variant label such as "N=1", a dtype name, or a
    #: check ("backward", "jvp", "adjoint", "double_backward": docs/pytest.md).
    xfail: dict[str, str] = FrozenDict()
    skip: dict[str, str] = FrozenDict()
    #: CONTRACT.md §6: forward returns ``(output, residuals)`` and backward takes
    #: ``residuals`` (from its own forward call) instead of every input.
    residuals: bool = False
    #: Non-array parameters: name → the values to audit, the first being the default.
    attrs: dict[str, list[Any]] = FrozenDict()
    #: Relations the dims (and attrs) must satisfy, e.g. "C % G == 0" or "pad < K":
    #: variants and attr configurations that break one are not audited.
    constraints: list[str] = FrozenList()

    _takes_out: bool = PrivateAttr(default=False)
    _jvp_takes_out: bool = PrivateAttr(default=False)
    _invalid: Invalid | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        # once, not per audit call
        self._takes_out = self.backward is not None and _accepts(self.backward, "out")
        self._jvp_takes_out = self.jvp is not None and _accepts(self.jvp, "out")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            name = data.get("name")
            title = f"Op {name!r}" if isinstance(name, str) else "Op"
            if not deferring():
                raise ValidationError.from_exception_data(title, exc.errors()) from None
            # A placeholder that discovery reports as an error entry, so that the plugin's
            # valid ops (built in the same list) still load.
            safe = name if isinstance(name, str) and name and not any(
                c.isspace() for c in name) else "<invalid-op>"
            super().__init__(name=safe, inputs={"_": Tensor(shape=())},
                             forward=_unbuilt, backward=_unbuilt)
            invalid = Invalid.from_error(title, exc, caller_location())
            inputs = data.get("inputs")
            tensors = [(k, t) for k, t in inputs.items() if isinstance(t, Tensor) and t._invalid
                       ] if isinstance(inputs, dict) else []
            if tensors:  # name each bad Tensor's own field and line, not just "inputs"
                own = tuple((f"inputs.{k}.{field}", f"{msg} (Tensor at {t._invalid.location})")
                            for k, t in tensors for field, msg in t._invalid.problems)
                rest = tuple(p for p in invalid.problems if not p[1].startswith("input '"))
                invalid = Invalid(title, own + rest, invalid.location)
            self._invalid = invalid

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
            if name in RESERVED:
                raise ValueError(f"input name {name!r} is reserved for the rules' arguments")
        for name, tensor in inputs.items():
            if tensor._invalid is not None:  # deferred while discovery collects
                problems = "; ".join(f"{f}: {m}" for f, m in tensor._invalid.problems)
                raise ValueError(f"input {name!r} (Tensor at {tensor._invalid.location}): {problems}")
        return inputs

    @field_validator("attrs", mode="before")
    @classmethod
    def _attr_values(cls, attrs: Any) -> Any:
        if not isinstance(attrs, Mapping):
            return attrs
        checked = {}
        for name, values in attrs.items():
            if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"attr name {name!r} is not a valid Python identifier")
            if name in RESERVED:
                raise ValueError(f"attr name {name!r} is reserved for the rules' arguments")
            if not isinstance(values, (list, tuple)) or not values:
                raise ValueError(
                    f"attrs[{name!r}]={values!r}: give a non-empty list of the values to audit, "
                    f"the first being the default, e.g. {{{name!r}: [{values!r}]}}"
                )
            checked[name] = [_json_like(name, v) for v in values]
            if len({repr(v) for v in checked[name]}) != len(checked[name]):
                raise ValueError(f"attrs[{name!r}]={values!r} lists a value twice")
        return checked

    @field_validator("dims")
    @classmethod
    def _dim_sizes(cls, dims: dict[str, int]) -> dict[str, int]:
        for dim, size in dims.items():
            if size < 1:
                raise ValueError(f"dims[{dim!r}]={size!r}: sizes must be at least 1")
        return dims

    @field_validator("inputs", "dims", "xfail", "skip", "attrs", "constraints", mode="after")
    @classmethod
    def _read_only(cls, value: Any) -> Any:
        return freeze(value)  # the op is frozen all through: hashable, not changed in place

    @field_validator("rtol", "atol")
    @classmethod
    def _tolerance(cls, value: float | None) -> float | None:
        if value is not None and not value >= 0:
            raise ValueError(f"{value!r} must be a non-negative number")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Op:
        used = set(self.symbolic_dims)
        unknown = sorted(set(self.dims) - used)
        if unknown:
            raise ValueError(
                f"dims names {unknown} but no input shape uses them (shapes use {sorted(used)}); "
                "check the spelling"
            )
        check_size(self.name, self.inputs, self.default_dims())
        relations.check_declared(self)
        clash = sorted(set(self.attrs) & set(self.inputs))
        if clash:
            raise ValueError(f"attrs: {clash} also name inputs; an attr and an input need different names")
        attrs = tuple(self.attrs)
        _check_signature("forward", self.forward, list(self.inputs), optional=attrs)
        if self.backward is None and self.jvp is None:
            raise ValueError(
                "the op has no derivative rule to check: give backward=... (a vector-Jacobian "
                "product), jvp=... (a Jacobian-vector product), or both"
            )
        if self.double_backward is not None and self.backward is None:
            raise ValueError("double_backward is the VJP of backward: it needs backward=... too")
        if self.backward is None:
            pass
        elif self.residuals:
            _check_signature("backward", self.backward, ["dout", "residuals"],
                             optional=("out", *self.inputs, *attrs))
        else:
            _check_signature("backward", self.backward, ["dout", *self.inputs],
                             optional=("out", *attrs))
        if self.jvp is not None:
            _check_signature("jvp", self.jvp, [*self.inputs, "tangents"], optional=("out", *attrs))
        if self.double_backward is not None:
            _check_signature("double_backward", self.double_backward,
                             ["ggrads", "dout", *self.inputs], optional=("out", *attrs))
        return self

    @property
    def symbolic_dims(self) -> tuple[str, ...]:
        """Symbolic dimension names in order of first appearance (in shapes, expressions
        included)."""
        seen: dict[str, None] = {}
        for tensor in self.inputs.values():
            for size in tensor.shape:
                if isinstance(size, str):
                    for name in expressions.names(size):
                        seen.setdefault(name)
        return tuple(seen)

    def default_dims(self) -> dict[str, int]:
        return {d: self.dims.get(d, DEFAULT_DIM) for d in self.symbolic_dims}

    @property
    def differentiable_inputs(self) -> tuple[str, ...]:
        return tuple(n for n, t in self.inputs.items() if t.is_differentiable)

    def backward_takes_out(self) -> bool:
        return self._takes_out

    def jvp_takes_out(self) -> bool:
        return self._jvp_takes_out


#: Names the audit passes to forward/backward/jvp/double_backward itself.
RESERVED = frozenset({"dout", "out", "residuals", "tangents", "ggrads"})

_JSON_SCALARS = (bool, int, float, str, type(None))


def _json_like(name: str, value: Any) -> Any:
    """An attr value: a JSON-like scalar, or a tuple of them (a list becomes a tuple)."""
    if isinstance(value, (list, tuple)) and all(isinstance(v, _JSON_SCALARS) for v in value):
        return tuple(value)
    if isinstance(value, _JSON_SCALARS):
        return value
    raise ValueError(
        f"attrs[{name!r}] holds {value!r} ({type(value).__name__}); attr values are int, float, "
        "str, bool, None or tuples of these, so that every report and reproduce command can "
        "spell them"
    )


def _unbuilt(**kwargs: Any) -> Any:
    raise RuntimeError("an invalid declaration's placeholder is never audited")


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
