"""CEL expressions: parsed by cel-python, type-checked against an event's variables, compiled to closures.

cel-python parses (with positions) but neither type-checks nor evaluates fast enough for 50 rules per
event in a millisecond, so this module walks its syntax tree once, checks the types of a safe CEL
subset (no macros, no maps, no messages: nothing that loops) and builds plain Python closures.
Nothing is ever passed to `eval`. Compiled programs are cached by (text, event, expected type).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from celpy.celparser import CELParseError, CELParser
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedToken

from incentives.errors import N_, Msg
from incentives.rules.celruntime import (
    COMPARE,
    METHODS,
    OPERATORS,
    Env,
    Fn,
    accessor,
    int_checked,
    int_div,
    string_literal,
    timestamp,
    to_int,
    to_string,
)
from incentives.rules.variables import (
    ALL_NAMESPACES,
    BOOL,
    DOUBLE,
    INT,
    STRING,
    TIMESTAMP,
    variables_of,
)

MAX_LENGTH = 1000
NUMERIC = (INT, DOUBLE)


class ExpressionError(Exception):
    """An expression that cannot be saved: what is wrong and where (1-based line and column)."""

    def __init__(self, message: Msg, line: int = 1, column: int = 1) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.message, self.line, self.column = message, line, column


class EvaluationError(Exception):
    """An expression that failed for one event (a missing value, a division by zero, an overflow)."""


@dataclass(frozen=True)
class Compiled:
    text: str
    type: str
    constant: bool
    fn: Fn

    def __call__(self, env: Env) -> Any:
        try:
            return self.fn(env)
        except KeyError as exc:
            raise EvaluationError(f"missing value {exc.args[0]}") from exc
        except ZeroDivisionError as exc:
            raise EvaluationError("division by zero") from exc
        except (TypeError, ValueError, OverflowError, IndexError) as exc:
            raise EvaluationError(str(exc) or type(exc).__name__) from exc


@dataclass(frozen=True)
class _Node:
    type: str
    fn: Fn
    constant: bool = False


def _where(node: Tree[Any] | Token) -> tuple[int, int]:
    if isinstance(node, Token):
        return node.line or 1, node.column or 1
    meta = node.meta
    return getattr(meta, "line", 1) or 1, getattr(meta, "column", 1) or 1


def _fail(node: Tree[Any] | Token, message: Msg) -> ExpressionError:
    return ExpressionError(message, *_where(node))


_PARSER: CELParser | None = None


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str, event: str, expected: str) -> Compiled:
    """The checked program of `text` for `event`; `expected` is BOOL (a condition) or INT (points)."""
    global _PARSER
    if len(text) > MAX_LENGTH:
        raise ExpressionError(Msg(N_("the expression is longer than %(max)s characters"), max=MAX_LENGTH))
    if not text.strip():
        raise ExpressionError(Msg(N_("the expression is empty")))
    if _PARSER is None:
        _PARSER = CELParser()
    try:
        tree = _PARSER.parse(text)
    except CELParseError as exc:
        raise ExpressionError(_syntax(exc), exc.line or 1, exc.column or 1) from exc
    except RecursionError as exc:
        raise ExpressionError(Msg(N_("the expression is nested too deeply"))) from exc
    try:
        node = _Checker(variables_of(event), event).visit(tree)
    except RecursionError as exc:
        raise ExpressionError(Msg(N_("the expression is nested too deeply"))) from exc
    if node.type != expected and not (expected == DOUBLE and node.type == INT):
        raise _fail(tree, Msg(N_("must be of type %(expected)s, but is %(type)s"), expected=expected, type=node.type))
    return Compiled(text, node.type, node.constant, node.fn)


def _syntax(exc: CELParseError) -> Msg:
    cause = exc.__context__
    if isinstance(cause, UnexpectedToken):
        if cause.token.type == "$END":
            return Msg(N_("syntax error: the expression ends too early"))
        return Msg(N_("syntax error: unexpected %(token)s"), token=repr(str(cause.token)))
    if isinstance(cause, UnexpectedCharacters):
        return Msg(N_("syntax error: unexpected character %(char)s"), char=repr(cause.char))
    return Msg(N_("syntax error"))


def _const(node: _Node) -> _Node:
    """Fold a node without variables into its value, so constant parts cost nothing per event."""
    if not node.constant:
        return node
    value = node.fn({})
    return _Node(node.type, lambda _env: value, True)


_WRAPPERS = frozenset(
    ("expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary", "member", "primary")
)


class _Checker:
    """Checks types bottom-up and returns, for each subtree, its type and its closure."""

    def __init__(self, variables: dict[str, str], event: str) -> None:
        self.variables = variables
        self.event = event
        self.namespaces = {name.split(".")[0] for name in variables}

    def visit(self, tree: Tree[Any]) -> _Node:
        handler = getattr(self, "_" + str(tree.data), None)
        if handler is None:
            raise _fail(tree, Msg(N_("%(what)s is not supported in rule expressions"), what=tree.data))
        try:
            return _const(handler(tree))
        except (OverflowError, ZeroDivisionError, ValueError, TypeError, IndexError) as exc:
            # A constant part that cannot be computed (1 / 0, an integer beyond 64 bits) is an error now.
            raise _fail(tree, Msg(N_("cannot be computed: %(error)s"), error=str(exc))) from exc

    def _children(self, tree: Tree[Any]) -> list[Any]:
        return list(tree.children)

    def _expr(self, tree: Tree[Any]) -> _Node:
        kids = self._children(tree)
        if len(kids) == 1:
            return self.visit(kids[0])
        cond, yes, no = (self.visit(kid) for kid in kids)
        if cond.type != BOOL:
            raise _fail(kids[0], Msg(N_("the condition before ? must be bool, not %(type)s"), type=cond.type))
        if yes.type != no.type:
            raise _fail(
                kids[1],
                Msg(N_("both branches of ?: must have the same type, not %(a)s and %(b)s"), a=yes.type, b=no.type),
            )
        c, a, b = cond.fn, yes.fn, no.fn
        return _Node(yes.type, lambda env: a(env) if c(env) else b(env), cond.constant and yes.constant and no.constant)

    def _logical(self, tree: Tree[Any], word: str) -> _Node:
        kids = self._children(tree)
        if len(kids) == 1:
            return self.visit(kids[0])
        left, right = self.visit(kids[0]), self.visit(kids[1])
        for kid, node in ((kids[0], left), (kids[1], right)):
            if node.type != BOOL:
                raise _fail(kid, Msg(N_("%(op)s needs bool operands, not %(type)s"), op=word, type=node.type))
        a, b = left.fn, right.fn
        fn: Fn = (lambda env: a(env) or b(env)) if word == "||" else (lambda env: a(env) and b(env))
        return _Node(BOOL, fn, left.constant and right.constant)

    def _conditionalor(self, tree: Tree[Any]) -> _Node:
        return self._logical(tree, "||")

    def _conditionaland(self, tree: Tree[Any]) -> _Node:
        return self._logical(tree, "&&")

    def _binary(self, tree: Tree[Any]) -> tuple[str, Tree[Any], _Node, _Node] | None:
        kids = self._children(tree)
        if len(kids) == 1:
            return None
        op_tree, right_tree = kids
        left = self.visit(op_tree.children[0])
        return str(op_tree.data), op_tree, left, self.visit(right_tree)

    def _relation(self, tree: Tree[Any]) -> _Node:
        parts = self._binary(tree)
        if parts is None:
            return self.visit(tree.children[0])
        op, where, left, right = parts
        a, b, constant = left.fn, right.fn, left.constant and right.constant
        symbol = OPERATORS[op]
        if op == "relation_in":
            element = right.type[5:-1] if right.type.startswith("list(") else None
            if element is None or not (element in (left.type, "dyn") or {element, left.type} <= set(NUMERIC)):
                raise _fail(where, Msg(N_("cannot test %(a)s in %(b)s"), a=left.type, b=right.type))
            return _Node(BOOL, lambda env: a(env) in b(env), constant)
        comparable = left.type == right.type or {left.type, right.type} <= set(NUMERIC)
        if not comparable:
            raise _fail(where, Msg(N_("cannot compare %(a)s %(op)s %(b)s"), a=left.type, op=symbol, b=right.type))
        if op == "relation_eq":
            return _Node(BOOL, lambda env: a(env) == b(env), constant)
        if op == "relation_ne":
            return _Node(BOOL, lambda env: a(env) != b(env), constant)
        if left.type not in (INT, DOUBLE, STRING, TIMESTAMP):
            raise _fail(where, Msg(N_("cannot order values of type %(type)s"), type=left.type))
        compare = COMPARE[op]
        return _Node(BOOL, lambda env: compare(a(env), b(env)), constant)

    def _arithmetic(self, tree: Tree[Any]) -> _Node:
        parts = self._binary(tree)
        if parts is None:
            return self.visit(tree.children[0])
        op, where, left, right = parts
        symbol = OPERATORS[op]
        if left.type != right.type:
            raise _fail(
                where,
                Msg(
                    N_("cannot compute %(a)s %(op)s %(b)s; convert with int() or double()"),
                    a=left.type,
                    op=symbol,
                    b=right.type,
                ),
            )
        kind, a, b, constant = left.type, left.fn, right.fn, left.constant and right.constant
        fn: Fn
        if op == "addition_add" and kind in (INT, DOUBLE, STRING):
            fn = (lambda env: int_checked(a(env) + b(env))) if kind == INT else (lambda env: a(env) + b(env))
        elif kind == INT and op != "addition_add":
            int_ops: dict[str, Callable[[int, int], int]] = {
                "addition_sub": lambda x, y: x - y,
                "multiplication_mul": lambda x, y: x * y,
                "multiplication_div": int_div,
                "multiplication_mod": lambda x, y: x - y * int_div(x, y),
            }
            f = int_ops[op]
            fn = lambda env: int_checked(f(a(env), b(env)))  # noqa: E731
        elif kind == DOUBLE and op in ("addition_sub", "multiplication_mul", "multiplication_div"):
            double_ops: dict[str, Callable[[float, float], float]] = {
                "addition_sub": lambda x, y: x - y,
                "multiplication_mul": lambda x, y: x * y,
                "multiplication_div": lambda x, y: x / y,
            }
            g = double_ops[op]
            fn = lambda env: g(a(env), b(env))  # noqa: E731
        else:
            raise _fail(where, Msg(N_("cannot compute %(a)s %(op)s %(b)s"), a=kind, op=symbol, b=kind))
        return _Node(kind, fn, constant)

    _addition = _arithmetic
    _multiplication = _arithmetic

    def _unary(self, tree: Tree[Any]) -> _Node:
        kids = self._children(tree)
        if len(kids) == 1:
            return self.visit(kids[0])
        operand = self.visit(kids[1])
        f = operand.fn
        if kids[0].data == "unary_not":
            if operand.type != BOOL:
                raise _fail(tree, Msg(N_("! needs a bool, not %(type)s"), type=operand.type))
            return _Node(BOOL, lambda env: not f(env), operand.constant)
        if operand.type not in NUMERIC:
            raise _fail(tree, Msg(N_("- needs a number, not %(type)s"), type=operand.type))
        return _Node(operand.type, lambda env: -f(env), operand.constant)

    def _member(self, tree: Tree[Any]) -> _Node:
        return self.visit(tree.children[0])

    def _primary(self, tree: Tree[Any]) -> _Node:
        return self.visit(tree.children[0])

    def _paren_expr(self, tree: Tree[Any]) -> _Node:
        return self.visit(tree.children[0])

    def _path(self, tree: Tree[Any]) -> str | None:
        """`a.b.c` as a dotted name when the subtree is only identifiers and dots."""
        data = str(tree.data)
        if data in _WRAPPERS and len(tree.children) == 1:
            return self._path(tree.children[0])
        if data == "ident":
            return str(tree.children[0])
        if data == "member_dot":
            inner = self._path(tree.children[0])
            return None if inner is None else f"{inner}.{tree.children[1]}"
        return None

    def _variable(self, tree: Tree[Any], path: str) -> _Node:
        kind = self.variables.get(path)
        if kind is not None:
            return _Node(kind, accessor(path, kind))
        namespace = path.split(".")[0]
        if namespace in self.namespaces:
            if "." not in path:
                raise _fail(
                    tree,
                    Msg(
                        N_("%(path)s is not a value; use one of its fields, e.g. %(example)s"),
                        path=path,
                        example=self._example(namespace),
                    ),
                )
            raise _fail(tree, Msg(N_("unknown field %(path)s"), path=path))
        if namespace in ALL_NAMESPACES:
            raise _fail(
                tree, Msg(N_("%(name)s is not available for event %(event)s"), name=namespace, event=self.event)
            )
        raise _fail(tree, Msg(N_("unknown variable %(name)s"), name=namespace))

    def _example(self, namespace: str) -> str:
        return next(name for name in self.variables if name.startswith(namespace + "."))

    def _ident(self, tree: Tree[Any]) -> _Node:
        return self._variable(tree, str(tree.children[0]))

    def _member_dot(self, tree: Tree[Any]) -> _Node:
        path = self._path(tree)
        if path is None:
            inner = self.visit(tree.children[0])
            raise _fail(tree, Msg(N_("%(type)s has no field %(field)s"), type=inner.type, field=str(tree.children[1])))
        return self._variable(tree, path)

    def _member_index(self, tree: Tree[Any]) -> _Node:
        target, index = self.visit(tree.children[0]), self.visit(tree.children[1])
        if not target.type.startswith("list(") or index.type != INT:
            raise _fail(tree, Msg(N_("cannot index %(a)s with %(b)s"), a=target.type, b=index.type))
        t, i = target.fn, index.fn
        return _Node(target.type[5:-1], lambda env: t(env)[i(env)], target.constant and index.constant)

    def _arguments(self, tree: Tree[Any] | None) -> list[_Node]:
        return [] if tree is None else [self.visit(kid) for kid in tree.children]

    def _member_dot_arg(self, tree: Tree[Any]) -> _Node:
        kids = self._children(tree)
        name = str(kids[1])
        if name in ("all", "exists", "exists_one", "map", "filter"):
            raise _fail(tree, Msg(N_("the macro %(name)s() is not supported in rule expressions"), name=name))
        target = self.visit(kids[0])
        args = self._arguments(kids[2] if len(kids) > 2 else None)
        found = METHODS.get((target.type, name))
        if found is None:
            raise _fail(tree, Msg(N_("%(type)s has no method %(name)s()"), type=target.type, name=name))
        wanted, result, function = found
        if tuple(arg.type for arg in args) != wanted:
            raise _fail(tree, Msg(N_("%(name)s() takes (%(args)s)"), name=name, args=", ".join(wanted)))
        t, fns = target.fn, [arg.fn for arg in args]
        constant = target.constant and all(arg.constant for arg in args)
        return _Node(result, lambda env: function(t(env), *(f(env) for f in fns)), constant)

    def _ident_arg(self, tree: Tree[Any]) -> _Node:
        kids = self._children(tree)
        name = str(kids[0])
        if name == "has":
            return self._has(tree, kids[1] if len(kids) > 1 else None)
        args = self._arguments(kids[1] if len(kids) > 1 else None)
        if len(args) != 1:
            raise _fail(tree, Msg(N_("%(name)s() takes one argument"), name=name))
        arg = args[0]
        f, constant = arg.fn, arg.constant
        if name == "size" and (arg.type == STRING or arg.type.startswith("list(")):
            return _Node(INT, lambda env: len(f(env)), constant)
        if name == "int" and arg.type in (INT, DOUBLE, STRING):
            return _Node(INT, lambda env: to_int(f(env)), constant)
        if name == "double" and arg.type in (INT, DOUBLE, STRING):
            return _Node(DOUBLE, lambda env: float(f(env)), constant)
        if name == "string" and arg.type in (INT, DOUBLE, STRING, BOOL, TIMESTAMP):
            return _Node(STRING, lambda env: to_string(f(env)), constant)
        if name == "timestamp" and arg.type == STRING:
            return _Node(TIMESTAMP, lambda env: timestamp(f(env)), constant)
        if name in ("size", "int", "double", "string", "timestamp"):
            raise _fail(tree, Msg(N_("%(name)s() does not take %(type)s"), name=name, type=arg.type))
        raise _fail(tree, Msg(N_("unknown function %(name)s()"), name=name))

    def _has(self, tree: Tree[Any], args: Tree[Any] | None) -> _Node:
        path = self._path(args.children[0]) if args is not None and len(args.children) == 1 else None
        if path is None or "." not in path:
            raise _fail(tree, Msg(N_("has() takes a field such as has(lead.industry)")))
        self._variable(tree, path)
        parts = path.split(".")

        def present(env: Env) -> bool:
            value: Any = env
            for part in parts:
                value = value.get(part) if isinstance(value, Mapping) else None
            return value not in (None, "")

        return _Node(BOOL, present)

    def _list_lit(self, tree: Tree[Any]) -> _Node:
        items = self._arguments(tree.children[0] if tree.children else None)
        kinds = {item.type for item in items}
        if len(kinds) > 1:
            raise _fail(
                tree, Msg(N_("list elements must share one type, not %(types)s"), types=", ".join(sorted(kinds)))
            )
        fns = [item.fn for item in items]
        element = kinds.pop() if kinds else "dyn"
        return _Node(f"list({element})", lambda env: [f(env) for f in fns], all(item.constant for item in items))

    def _literal(self, tree: Tree[Any]) -> _Node:
        token = cast(Token, tree.children[0])
        kind, text = token.type, str(token)
        value: Any
        if kind == "INT_LIT":
            value, result = int_checked(int(text, 16) if "x" in text.lower() else int(text)), INT
        elif kind == "FLOAT_LIT":
            value, result = float(text), DOUBLE
        elif kind in ("STRING_LIT", "MLSTRING_LIT"):
            value, result = string_literal(token), STRING
        elif kind == "BOOL_LIT":
            value, result = text == "true", BOOL
        else:
            raise _fail(token, Msg(N_("%(kind)s literals are not supported in rule expressions"), kind=text))
        return _Node(result, lambda _env: value, True)
