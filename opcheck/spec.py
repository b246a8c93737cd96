"""The declarations plugins write: ``Op`` and ``Tensor`` (frozen pydantic models).

Everything a declaration can get wrong is caught here, when the plugin loads, so the
audit's hot loop never has to validate anything.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from . import expressions, relations
from .declaration_errors import KNOWN_FIELDS, Invalid, caller_location, deferring, hinted
from .frozen import FrozenDict, FrozenList, freeze
from .limits import check_size
from .signatures import accepts, check_signature
from .tensor_spec import DEFAULT_DIM, Tensor

__all__ = ["DEFAULT_DIM", "Op", "Tensor"]


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
        self._takes_out = self.backward is not None and accepts(self.backward, "out")
        self._jvp_takes_out = self.jvp is not None and accepts(self.jvp, "out")

    def __init__(self, **data: Any) -> None:
        __tracebackhide__ = True  # a bad declaration's pytest traceback ends at the caller's line
        try:
            super().__init__(**data)
        except ValidationError as exc:
            name = data.get("name")
            title = f"Op {name!r}" if isinstance(name, str) else "Op"
            if not deferring():
                raise hinted(title, exc) from None
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
                _json_like(name, values)  # a dict or an object: say which values are allowed
                raise ValueError(
                    f"attrs[{name!r}]={values!r}: give a non-empty list of the values to audit, "
                    "the first being the default" + (
                        f", e.g. {{{name!r}: [{values!r}]}}" if values != [] and values != () else "")
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
        check_signature("forward", self.forward, list(self.inputs), optional=attrs)
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
            check_signature("backward", self.backward, ["dout", "residuals"],
                             optional=("out", *self.inputs, *attrs))
        else:
            check_signature("backward", self.backward, ["dout", *self.inputs],
                             optional=("out", *attrs))
        if self.jvp is not None:
            check_signature("jvp", self.jvp, [*self.inputs, "tangents"], optional=("out", *attrs))
        if self.double_backward is not None:
            check_signature("double_backward", self.double_backward,
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

    # (read from pydantic's store of private attributes: ``self._takes_out`` goes through
    # BaseModel.__getattr__, 3.6 us against 0.1 us, twice per audited variant)
    def backward_takes_out(self) -> bool:
        return bool((self.__pydantic_private__ or {}).get("_takes_out"))

    def jvp_takes_out(self) -> bool:
        return bool((self.__pydantic_private__ or {}).get("_jvp_takes_out"))


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


KNOWN_FIELDS.update(Op.model_fields)  # the misspelt-field hint's candidates
