"""Whether a declared function can be called the way the audit calls it: by keyword, with
every name it needs and nothing it does not get. Checked once, when the op is declared."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np


def _parameters(fn: Callable[..., Any]) -> list[inspect.Parameter] | None:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # builtins without a signature: nothing to check
        return None


def accepts(fn: Callable[..., Any], name: str) -> bool:
    params = _parameters(fn)
    if params is None:
        return False
    return any(
        p.name == name and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params
    )


def check_signature(
    role: str, fn: Callable[..., Any], names: list[str], optional: tuple[str, ...]
) -> None:
    """The function must take every name as a keyword and require nothing else."""
    if isinstance(fn, np.ufunc):  # np.tanh, np.exp...: their inputs are positional only
        call = ", ".join(n for n in names)
        raise ValueError(
            f"{role}=np.{fn.__name__} is a numpy ufunc, which takes its inputs by position "
            f"only, and opcheck calls {role} by keyword; wrap it: "
            f"{role}=lambda {call}: np.{fn.__name__}({call})"
        )
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
