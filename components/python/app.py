"""The `python` tool: runs a piece of Python source in this pre-initialised CPython.

componentize-py runs this module at build time and snapshots the interpreter, so the
imports below are already done when a call starts. Each call gets a fresh instance: nothing
a program does survives it, except files it writes to its workspace.
"""

import ast
import io
import os
import sys
import traceback

# The whole standard library is imported at build time and lands in the snapshot: at run
# time the sandbox has no file system holding CPython's library (only /workspace and
# /tmp), so a module not imported now could not be imported later. Modules that cannot
# work in a sandbox (GUI, terminal, process control, the test suite) are left out; their
# import fails as it would on a system without them.
import importlib
import sys as _sys

_LEFT_OUT = {
    "antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3",
    "ensurepip", "venv", "pydoc", "pydoc_data", "curses", "readline", "_tkinter", "msvcrt",
    "winreg", "winsound", "_winapi", "nt", "_msi", "msilib", "_overlapped", "_wmi",
    "multiprocessing", "concurrent", "subprocess", "webbrowser", "pty", "tty", "_posixsubprocess",
}


def _preload_standard_library() -> None:
    for name in sorted(_sys.stdlib_module_names):
        if name in _LEFT_OUT or name.startswith("_"):
            continue
        try:
            importlib.import_module(name)
        except Exception:  # not built for WASI: absent at run time too
            pass


_preload_standard_library()

import wit_world
from wit_world.imports.types import ExceptionInfo, Outcome

CELL = "<cell>"
WORKSPACE = "/workspace"


def _program_frames(exc: BaseException) -> str:
    """The traceback as `python` prints it, without this runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CELL:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _run(code: str) -> Outcome:
    tree = ast.parse(code, CELL, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    scope = {"__name__": "__main__", "__builtins__": __builtins__}
    exec(compile(tree, CELL, "exec"), scope)
    if last is None:
        return Outcome(result=None, error=None)
    value = eval(compile(last, CELL, "eval"), scope)
    return Outcome(result=None if value is None else repr(value), error=None)


class WitWorld(wit_world.WitWorld):
    def run(self, code: str, stdin: str | None) -> Outcome:
        try:
            sys.stdin = io.StringIO(stdin or "")
            # Relative paths land in the workspace, when the call has one.
            if os.path.isdir(WORKSPACE):
                os.chdir(WORKSPACE)
            return _run(code)
        except SystemExit as e:
            if e.code in (None, 0):
                return Outcome(result=None, error=None)
            return Outcome(
                result=None,
                error=ExceptionInfo(kind="SystemExit", message=str(e.code), traceback=""),
            )
        except BaseException as e:  # the program's own errors, never the runner's to raise
            return Outcome(
                result=None,
                error=ExceptionInfo(kind=type(e).__name__, message=str(e), traceback=_program_frames(e)),
            )
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
