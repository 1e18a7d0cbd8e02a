"""SQL the reports share: a time difference in seconds and a whole number on both databases, and counting rows
that match."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Float, Integer, case
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds: SQLite keeps timestamps as text, PostgreSQL subtracts them natively."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


class whole_number(FunctionElement[int]):
    """The whole part of a non-negative number (a week's index): CAST truncates on SQLite, rounds on PostgreSQL."""

    type = Integer()
    inherit_cache = True
    name = "whole_number"


@compiles(whole_number, "sqlite")
def _whole_sqlite(element: whole_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS INTEGER)"


@compiles(whole_number, "postgresql")
def _whole_postgresql(element: whole_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR({compiler.process(element.clauses, **kw)}) AS INTEGER)"


def count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)
