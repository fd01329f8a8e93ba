"""Write Cordon tools in Python.

A tool is a WASI 0.2 component whose world includes `cordon:tool/tool`. Each function the
world exports becomes a callable tool function; its JSON Schema comes from the WIT types
and its description from the WIT doc comment. componentize-py turns a Python module into
such a component; this package gives the module what that world imports, and the
conventions callers rely on:

- `log`: structured records that land in the call's outcome and audit trail (never on a
  stream the tool controls, so a tool cannot forge or flood the host's logs);
- `ToolError`: an error with a kind callers can branch on, for functions declared
  `-> result<T, string>`; the host reports it as `tool_error` with the text
  `kind: message`;
- `exports`: turns plain functions into the `WitWorld` class componentize-py calls.

A tool is plain functions, and one line that exports them::

    from cordon_sdk import ToolError, exports, log

    def count_words(text: str) -> int:
        if not text:
            raise ToolError.invalid_input("the text is empty")
        log.info("counted", words=len(text.split()))
        return len(text.split())

    WitWorld = exports(count_words)

The same module imports on a machine without componentize-py (there is no `wit_world`
there): `exports` then returns a plain class and `log` writes to the standard `logging`
module, so `python3 -m unittest` tests a tool's functions directly.

`cordon new tool NAME --lang python` writes a tool that does this; `docs/sdk-python.md`
walks through it.
"""

from . import log
from ._bindings import IN_COMPONENT

__all__ = ["KINDS", "ToolError", "exports", "log"]

KINDS = ("invalid_input", "not_found", "unsupported", "failed")
"""The kinds a `ToolError` can have: the word before the colon in the error text."""


class ToolError(Exception):
    """An error a tool raises from a function declared `-> result<T, string>`.

    Callers get `tool_error` with the text `kind: message` (`str(error)`), so they can tell
    a bad argument (`invalid_input`: calling again with the same one fails the same way)
    from a missing thing (`not_found`), a missing ability (`unsupported`) or a failure of
    the tool's own (`failed`).
    """

    def __init__(self, kind: str, message: str):
        if kind not in KINDS:
            raise ValueError(f"ToolError kind {kind!r}: one of {', '.join(KINDS)}")
        super().__init__(kind, message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"

    @classmethod
    def invalid_input(cls, message: str) -> "ToolError":
        """The arguments were wrong; calling again with the same ones fails the same way."""
        return cls("invalid_input", message)

    @classmethod
    def not_found(cls, message: str) -> "ToolError":
        """Something the arguments name does not exist."""
        return cls("not_found", message)

    @classmethod
    def unsupported(cls, message: str) -> "ToolError":
        """The tool cannot do this (a format or feature it lacks)."""
        return cls("unsupported", message)

    @classmethod
    def failed(cls, message: str) -> "ToolError":
        """The tool failed for a reason of its own."""
        return cls("failed", message)


def exports(*functions, **named) -> type:
    """The class componentize-py calls: assign it to `WitWorld` in the tool's module.

    Pass each function the world exports, named as in WIT with `-` as `_`
    (`count-words` is `count_words`), or by keyword to export a function under another
    name (`exports(count_words=words)`). In a component, a `ToolError` a function raises
    becomes the `err` of its WIT `result`; any other exception (or a `ToolError` from a
    function without a `result`) traps, and the call fails with code `trap`, the traceback
    on its stderr.

    componentize-py runs the module while it builds, so a function the world exports but
    this call does not name (or the other way round) fails the build, not a call.
    """
    table = {f.__name__: f for f in functions}
    table.update(named)
    if not IN_COMPONENT:
        # Tests on the host call the functions themselves; the class only has to exist.
        return type("WitWorld", (), {n: staticmethod(f) for n, f in table.items()})

    import wit_world
    from componentize_py_types import Err

    wanted = set(getattr(wit_world.WitWorld, "__abstractmethods__", ()))
    missing, unknown = sorted(wanted - table.keys()), sorted(table.keys() - wanted)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"the world exports {', '.join(missing)}, not given to exports()")
        if unknown:
            problems.append(f"exports() was given {', '.join(unknown)}, not in the world")
        raise TypeError("WitWorld does not match wit/: " + "; ".join(problems))

    def lift(name, function):
        def call(*args):
            try:
                return function(*args)
            except ToolError as e:
                # componentize-py lowers a raised `Err(value)` as the result's `err`.
                raise Err(str(e)) from None

        call.__name__ = call.__qualname__ = name
        call.__doc__ = function.__doc__
        # componentize-py calls methods of an instance of `WitWorld`; `self` is not ours.
        return staticmethod(call)

    return type(
        "WitWorld",
        (wit_world.WitWorld,),
        {name: lift(name, f) for name, f in table.items()},
    )
