"""Invalid declarations that do not hide their valid siblings.

A plugin's ``opcheck_ops()`` usually builds every ``Op`` inside one list literal, so a
single ``ValidationError`` would abort the whole list and drop the valid ops with it.
While discovery calls the hook (inside ``collecting()``), an ``Op`` or ``Tensor`` that
fails validation becomes a placeholder carrying an ``Invalid`` record instead of raising;
discovery turns each placeholder into an error entry and keeps the rest. Outside
discovery (a test, a script) an invalid declaration raises as usual.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import pydantic
from pydantic_core import PydanticCustomError

_COLLECTING: ContextVar[bool] = ContextVar("opcheck_collecting", default=False)
_SKIPPED_DIRS = tuple(
    os.path.dirname(os.path.realpath(module.__file__)) + os.sep
    for module in (sys.modules[__package__], pydantic)  # type: ignore[arg-type]
)


#: Every field of Op and Tensor (spec.py and tensor_spec.py add theirs), for the hint of a
#: misspelt one; filled by them so that this module imports neither.
KNOWN_FIELDS: set[str] = set()


def error_message(err: Any) -> str:
    """pydantic's message for one problem, without its prefix; a misspelt field name
    (``dtyp=``) also gets the field it was probably meant to be."""
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err.get("type") != "extra_forbidden" or not err.get("loc"):
        return msg
    given = str(err["loc"][-1])
    close = difflib.get_close_matches(given, sorted(KNOWN_FIELDS), n=1)
    return f"{msg}: {given!r} is not a field" + (f"; did you mean {close[0]!r}?" if close else "")


def hinted(title: str, exc: pydantic.ValidationError) -> pydantic.ValidationError:
    """``exc`` raised again under ``title`` (outside discovery: a test, a script), where a
    misspelt field name (``shpae=``) also gets the field it was probably meant to be."""
    errors = [
        {**err, "type": PydanticCustomError("extra_forbidden", "{hint}", {"hint": error_message(err)})}
        if err.get("type") == "extra_forbidden" and err.get("loc") else err
        for err in exc.errors()
    ]
    return pydantic.ValidationError.from_exception_data(title, errors)


@dataclass(frozen=True)
class Invalid:
    """Why a declaration is invalid: (field path, message) pairs, and where it was written."""

    title: str
    problems: tuple[tuple[str, str], ...]
    location: str

    @classmethod
    def from_error(cls, title: str, exc: pydantic.ValidationError, location: str) -> Invalid:
        problems = []
        for err in exc.errors():
            msg = error_message(err)
            field = ".".join(str(part) for part in err["loc"])
            if not field:  # a cross-field rule: shown under the title, as pydantic does
                msg = f"{title}: {msg}"
                head = msg.split(": ", 2)[1].split(":", 1)[0]
                field = head if head.isidentifier() else title  # its message names the field
            problems.append((field, msg))
        return cls(title, tuple(problems), location)

    def lines(self) -> str:
        return "\n".join(
            f"  {msg}" if msg.startswith(f"{self.title}:") else f"  {field}: {msg}"
            for field, msg in self.problems
        )


@contextmanager
def collecting() -> Iterator[None]:
    """Declarations built inside this block defer their validation errors."""
    token = _COLLECTING.set(True)
    try:
        yield
    finally:
        _COLLECTING.reset(token)


def deferring() -> bool:
    return _COLLECTING.get()


def caller_location() -> str:
    """'FILE:LINE' of the innermost frame outside opcheck and pydantic: the plugin's line
    that called ``Op(...)`` or ``Tensor(...)``."""
    frame = sys._getframe(1)
    while frame is not None:
        path = os.path.realpath(frame.f_code.co_filename)
        if not path.startswith(_SKIPPED_DIRS):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""
