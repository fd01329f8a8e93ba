"""Structured logging through the host.

Each function sends one record, a message and fields, to the host's cordon:tool/logging
import. Records land in the call's outcome (`logs` over HTTP, `_meta["cordon/logs"]` over
MCP, `cordon run --receipt`) and audit trail; a tool has no other way to write the host's
logs. Fields are keyword arguments, a dict or key-value pairs; values become strings
with `str`:

    log.info("summarised a table", rows=2)
    log.warn("skipped a line", {"line": 3, "why": "blank"})

Outside a component (a tool's tests on the host) records go to the standard `logging`
module's `cordon_sdk` logger instead, each with its fields as `record.cordon_fields`, so
`unittest`'s `assertLogs("cordon_sdk")` can check them.
"""

from ._bindings import host_logging

__all__ = ["trace", "debug", "info", "warn", "error"]

if host_logging is None:
    import logging as _stdlib

    _logger = _stdlib.getLogger("cordon_sdk")
    # The standard library has no trace level; one below DEBUG sorts it right.
    _STDLIB_LEVELS = {"trace": 5, "debug": 10, "info": 20, "warn": 30, "error": 40}


def _emit(level: str, message: str, fields, more) -> None:
    pairs = [(str(k), str(v)) for k, v in {**dict(fields or ()), **more}.items()]
    if host_logging is not None:
        host_logging.log(host_logging.Level[level.upper()], str(message), pairs)
    else:
        text = "".join(f" {k}={v}" for k, v in pairs)
        _logger.log(
            _STDLIB_LEVELS[level], "%s%s", message, text, extra={"cordon_fields": pairs}
        )


# `message` and `fields` are positional-only so that fields may be called that too.
def trace(message: str, fields=None, /, **more) -> None:
    """Fine-grained tracing."""
    _emit("trace", message, fields, more)


def debug(message: str, fields=None, /, **more) -> None:
    """Detail useful when debugging the tool."""
    _emit("debug", message, fields, more)


def info(message: str, fields=None, /, **more) -> None:
    """What the tool did."""
    _emit("info", message, fields, more)


def warn(message: str, fields=None, /, **more) -> None:
    """Something the caller may want to know about."""
    _emit("warn", message, fields, more)


def error(message: str, fields=None, /, **more) -> None:
    """Something went wrong."""
    _emit("error", message, fields, more)
