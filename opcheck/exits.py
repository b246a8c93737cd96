"""An op whose code ends the process — ``sys.exit(3)``, or ``os._exit`` under opcheck's
trap (``hygiene.ExitCalled``) — gets an error naming the rule and the line, instead of
the end of the user's script, the CLI run or the pytest session (docs/reliability.md §2).
"""

from __future__ import annotations

import os
import traceback
from types import CodeType

from .contract import call, user_traceback
from .errors import ContractError
from .spec import Op

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))  # venvs link lib64 -> lib
_RULES = ("forward", "backward", "jvp", "double_backward")


def exit_error(exc: SystemExit, op: Op) -> ContractError:
    """``exc`` as the variant's error: "forward called sys.exit(3) at FILE:LINE"."""
    text = str(exc)
    what = (text.removesuffix(" was called") if type(exc).__name__ == "ExitCalled"
            else f"sys.exit({exc.code!r})")
    frames = list(traceback.walk_tb(exc.__traceback__))
    theirs = [(f, line) for f, line in frames if not _is_ours(f.f_code.co_filename)]
    where = f" at {theirs[-1][0].f_code.co_filename}:{theirs[-1][1]}" if theirs else ""
    return ContractError(f"{_rule(frames, theirs, op)} called {what}{where}; an op must raise "
                         "an exception, never end the process", user_traceback(exc))


def _rule(frames: list, theirs: list, op: Op) -> str:
    """Which of the op's rules was running: the innermost ``contract.call``'s role, else
    the rule whose code is the first frame of the op's own (finite differences call the
    forward directly)."""
    roles = [f.f_locals.get("role") for f, _ in frames if f.f_code is call.__code__]
    if roles and isinstance(roles[-1], str):
        return roles[-1]
    codes: dict[CodeType, str] = {}
    for rule in _RULES:
        code = getattr(getattr(op, rule, None), "__code__", None)
        if isinstance(code, CodeType):
            codes.setdefault(code, rule)
    for frame, _ in theirs:
        if frame.f_code in codes:
            return codes[frame.f_code]
    return "the op"


def stopped(exc: BaseException) -> str:
    """A BaseException no rule catches (``GeneratorExit``, ...), in one line:
    "GeneratorExit (at FILE:LINE in fn)", at the op's own innermost frame."""
    text = str(exc).strip().splitlines()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_ours(f.filename)]
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}{': ' + text[0] if text else ''}{where}"


def _is_ours(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_PACKAGE_DIR + os.sep)
