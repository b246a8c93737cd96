"""Small arithmetic over dims and attrs: shape entries ("4*H", "H+D", "2*N+1"), integer
bounds (high="C") and constraints ("C % G == 0", "pad < K").

Parsed with ``ast`` against a whitelist (names, integer constants, ``+ - * // %``,
unary minus, parentheses; comparisons, ``and``/``or``/``not`` in constraints), never
``eval``: a declaration is data, and a typo must be a declaration error, not code run.
"""

from __future__ import annotations

import ast
import functools
import operator
from collections.abc import Mapping
from typing import Any

__all__ = ["ExpressionError", "evaluate", "names", "parse"]

_ARITHMETIC: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_COMPARE: dict[type, Any] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


class ExpressionError(ValueError):
    """A shape expression, bound or constraint that cannot be parsed or evaluated."""


@functools.lru_cache(maxsize=1024)
def parse(text: str, relation: bool = False) -> ast.expr:
    """The checked syntax tree of ``text``; ``relation`` allows comparisons and logic."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise ExpressionError(f"{text!r} is not an expression") from None
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd,
                             *_ARITHMETIC)):
            continue
        if isinstance(node, ast.Constant) and type(node.value) is int:
            continue
        if relation and isinstance(node, (ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.Not,
                                          *_COMPARE)):
            continue
        if relation and isinstance(node, ast.Constant) and isinstance(node.value, (str, float, bool)):
            continue
        allowed = ("names, integers, + - * // %, parentheses" +
                   (", comparisons, and/or/not" if relation else ""))
        raise ExpressionError(f"{text!r} uses {_spell(node)}; expressions may use {allowed}")
    return tree


@functools.lru_cache(maxsize=1024)
def names(text: str, relation: bool = False) -> tuple[str, ...]:
    """The names in ``text`` in order of first appearance."""
    found = [n for n in ast.walk(parse(text, relation)) if isinstance(n, ast.Name)]
    found.sort(key=lambda n: n.col_offset)  # ast.walk is breadth-first: restore source order
    return tuple(dict.fromkeys(n.id for n in found))


def evaluate(text: str, env: Mapping[str, Any], relation: bool = False) -> Any:
    return _eval(parse(text, relation), env, text)


def _eval(node: ast.expr, env: Mapping[str, Any], text: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ExpressionError(f"{text!r} names {node.id!r}, which is not a dim or attr")
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, env, text)
        return -value if isinstance(node.op, ast.USub) else (
            not value if isinstance(node.op, ast.Not) else value)
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env, text), _eval(node.right, env, text)
        try:
            return _ARITHMETIC[type(node.op)](left, right)
        except (ZeroDivisionError, TypeError) as exc:
            raise ExpressionError(f"{text!r}: {exc}") from None
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env, text) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env, text)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise ExpressionError(f"{text!r}: {exc}") from None
            left = right
        return True
    raise ExpressionError(f"{text!r}: cannot evaluate {_spell(node)}")  # parse() refused it


def _spell(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"
    return {ast.Div: "'/' (use '//')", ast.Pow: "'**'", ast.Call: "a function call",
            ast.Attribute: "an attribute"}.get(type(node), type(node).__name__)
