r"""`{{name}}`: summarises CSV tables. Written by `cordon new tool {{name}} --lang python`;
make it yours. Build with `cordon build`, install with `cordon tools add .`, call with
`cordon run {{name}} --json '{"csv": "a,b\n1,2\n"}'`.

Each function the world in wit/world.wit exports is a plain function here, passed to
`exports` at the end. componentize-py runs this module once while it builds and snapshots
the result, so work done at import time is free at call time.
"""

import re
from dataclasses import dataclass
from typing import List, Optional

from cordon_sdk import ToolError, exports, log


# The world's records. componentize-py reads a record by its fields' names (kebab-case in
# WIT, snake_case here), so any object with those attributes will do; these dataclasses
# keep the functions testable without the generated bindings.
@dataclass
class NumericStats:
    """Statistics of a column whose every value is a number."""

    min: float
    max: float
    mean: float


@dataclass
class Column:
    """One column of the table."""

    name: str
    filled: int
    # `option<T>`: None, or the value itself.
    numeric: Optional[NumericStats]


@dataclass
class Summary:
    """A table's shape."""

    rows: int
    columns: List[Column]


def summarize(csv: str) -> Summary:
    """Summarises a CSV table: comma-separated, the first line its header, no quoting."""
    lines = [l.removesuffix("\r") for l in csv.split("\n") if l.strip()]
    if not lines:
        raise ToolError.invalid_input("the table is empty")
    header = [f.strip() for f in lines[0].split(",")]
    filled = [0] * len(header)
    # A column's numbers while every value so far is one; None once one is not.
    numbers: List[Optional[List[float]]] = [[] for _ in header]
    rows = 0
    for i, line in enumerate(lines[1:], start=1):
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(header):
            raise ToolError.invalid_input(
                f"row {i} has {len(fields)} fields, the header {len(header)}"
            )
        rows += 1
        for c, field in enumerate(fields):
            if not field:
                continue
            filled[c] += 1
            if numbers[c] is not None:
                n = _number(field)
                numbers[c] = None if n is None else numbers[c] + [n]
    columns = [
        Column(name=name, filled=filled[c], numeric=_stats(numbers[c]) if numbers[c] else None)
        for c, name in enumerate(header)
    ]
    log.info("summarised a table", rows=rows)
    return Summary(rows=rows, columns=columns)


# What Rust's `str::parse::<f64>` accepts, so the Python and Rust templates agree: Python's
# float() also takes `1_000` and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(inf|infinity|nan|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)", re.I)


def _number(text: str) -> Optional[float]:
    return float(text) if _NUMBER.fullmatch(text) else None


def _stats(values: List[float]) -> NumericStats:
    total = 0.0
    for v in values:  # left to right, as Rust sums; sum() compensates since Python 3.12
        total += v
    present = [v for v in values if v == v]  # Rust's f64::min/max skip NaN
    return NumericStats(
        min=min(present, default=float("inf")),
        max=max(present, default=float("-inf")),
        mean=total / len(values),
    )


# What componentize-py calls: the functions the world exports.
WitWorld = exports(summarize)
