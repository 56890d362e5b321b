"""Errors the CLI reports as one line: bad input (exit code 2) and failed runs (exit code 1)."""

from typing import Any


class UserError(ValueError):
    """Bad input (a file, a field, a value); the message says what is valid."""


class RunError(RuntimeError):
    """A run could not go on for a reason other than bad input (e.g. an env worker died).

    What the run had learned is saved before this is raised; the message says where.
    """


def describe(error: BaseException) -> str:
    """``Type: first line of the message``: an exception on one line, for warnings and run.json."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def os_error_line(error: OSError) -> str:
    """``path: reason`` for an OSError about a path (the path cut to 120 characters), else
    its message."""
    if error.filename is None:
        return str(error)
    name = str(error.filename)
    name = name if len(name) <= 120 else name[:117] + "..."
    return f"{name}: {error.strerror or error}"


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a value quoted in a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
