"""The messages of plugins that break while they load: where in the plugin it happened
(file and line), and what to do about it."""

from __future__ import annotations

import importlib.util
import os
import traceback
from typing import TYPE_CHECKING

from pydantic import ValidationError

from .declaration_errors import error_message
from .errors import PluginError, WrapperError

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))  # venvs link lib64 -> lib

if TYPE_CHECKING:
    from .plugin_manager import PluginInfo
    from .spec import Op


def wrapper_error(info: PluginInfo, hook: str, exc: WrapperError) -> PluginError:
    return PluginError(exc.plugin, f"its {hook}() wrapper raised {one_line(exc.error)} while "
                                   f"wrapping plugin {info.name!r}")


def declaration_error(info: PluginInfo, exc: ValidationError) -> PluginError:
    op = exc.title[4:-1] if exc.title.startswith("Op '") else None
    where = plugin_frame(info, exc)
    what = f"invalid declaration of op {op!r}" if op else f"invalid {exc.title} declaration"
    if not op:
        where += " (the op was never built)"
    return PluginError(info.name, f"{what}{where}:\n{describe_validation_error(exc)}", op=op)


def invalid_op(info: PluginInfo, op: Op) -> PluginError:
    """The error entry of one op whose declaration failed while the plugin was collected."""
    invalid = op._invalid
    assert invalid is not None
    named = invalid.title.startswith("Op '")
    what = f"invalid declaration of op {op.name!r}" if named else "invalid declaration of an op without a valid name"
    return PluginError(
        info.name, f"{what} at {invalid.location}:\n{invalid.lines()}",
        op=op.name if named else None, location=invalid.location,
        fields=tuple(field for field, _ in invalid.problems),
    )


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: the field path, then pydantic's message without its prefix."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or exc.title
        lines.append(f"  {loc}: {error_message(err)}")
    return "\n".join(lines)


def plugin_frame(info: PluginInfo, exc: BaseException) -> str:
    """' at FILE:LINE' of the deepest traceback frame inside the plugin's own file."""
    filename = info.file
    if not filename:
        return ""
    target = os.path.realpath(filename)
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            found = f" at {frame.filename}:{frame.lineno}"
    return found


def import_failure(spec: str, exc: BaseException, option: str = "-p") -> str:
    """Why importing module ``spec`` failed, and what to do: not found (a name or sys.path
    problem) reads differently from a module that was found and raised while importing.
    ``option`` is where the name was given (``--opcheck-plugin``, the ini's
    ``opcheck_plugins``), so that the fix names it."""
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if spec.endswith(".py") or "/" in spec or os.sep in spec:  # a path, not a module name
        # (whatever importlib made of it: './lib.py' is a relative import without a package)
        folder, module = os.path.split(os.path.normpath(spec.removesuffix(".py")))
        run = f"run from {folder!r} with " if folder not in ("", os.curdir) else ""
        given = f"{option} = {module}" if option.isidentifier() else f"{option} {module}"
        return (f"cannot be imported: {option} takes a module name, not a file path; {run}"
                f"{given}")
    if missing is not None and (spec == missing or spec.startswith(missing + ".")):
        return f"cannot be imported: {one_line(exc)}; check the name and that it is on sys.path"
    where = _import_site(spec, exc)
    hint = (f"; install {missing!r}, which it imports" if missing else "; fix the module")
    return f"was found but raised while importing: {one_line(exc)}{where}{hint}"


def _import_site(spec: str, exc: BaseException) -> str:
    """' (at FILE:LINE)' in the plugin's own code: a syntax error's own line; else the
    deepest frame in the plugin's file; else the last frame outside importlib, installed
    packages and opcheck (never numpy's ``__getattr__`` for a plugin's ``numpy.nosuch``)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "importlib" not in f.filename and not f.filename.startswith("<frozen")]
    origin = _origin(spec)
    own = [f for f in frames if origin and os.path.realpath(f.filename) == origin]
    theirs = [f for f in frames if not _installed(f.filename)]
    frame = (own or theirs or [None])[-1]
    return f" (at {frame.filename}:{frame.lineno})" if frame else ""


def _origin(spec: str) -> str | None:
    """The real path of module ``spec``'s file, found again without importing it."""
    try:
        found = importlib.util.find_spec(spec)
    except Exception:  # noqa: BLE001 - a parent package that raises too: no file to name
        return None
    origin = getattr(found, "origin", None)
    return os.path.realpath(origin) if origin and os.path.exists(origin) else None


def _installed(filename: str) -> bool:
    """Code the plugin's author did not write: installed packages and opcheck itself."""
    real = os.path.realpath(filename)
    return ("site-packages" in real.split(os.sep) or "dist-packages" in real.split(os.sep)
            or real.startswith(_PACKAGE_DIR + os.sep))


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
