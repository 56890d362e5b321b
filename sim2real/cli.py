"""The ``sim2real`` command: parse arguments, call one verb, turn errors into exit codes.

Bad input (:class:`UserError`): one line, exit code 2. A run that failed for another reason
(:class:`RunError`, e.g. a crashed env worker; its model is saved): one line, exit code 1.
Ctrl-C: exit code 130; SIGTERM where a verb turns it into :class:`Terminated`: 143. A reader
that leaves (``| head``, ``|& head``) silences its stream, not the verb: a training runs to its
end.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import NoReturn, TextIO, TypeVar

from sim2real import __version__
from sim2real.errors import RunError, UserError, os_error_line

_T = TypeVar("_T")

# Each verb lives in sim2real/commands/<verb>.py with add_parser(subparsers) and run(args) -> int
# (a verb with a hyphen in a module with an underscore).
VERBS = (
    "envs",
    "rollout",
    "train",
    "evaluate",
    "sweep",
    "transfer",
    "compare",
    "export",
    "enjoy",
    "demo",
    "record",
    "data",
    "identify",
    "fit_actuator",
    "zoo",
    "export_spec",  # the verb export-spec
    "study",
)


class _UsageError(Exception):
    """A command line argparse refused; ``prog`` is the (sub)command it belongs to."""

    def __init__(self, prog: str, message: str):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line like every other error (argparse prints usage, then exits)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, " ".join(message.split()))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sim2real",
        description="Domain-randomized PyBullet worlds, training, transfer and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"sim2real {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"sim2real.commands.{verb}").add_parser(subparsers)
    for verb_parser in subparsers.choices.values():
        # Descriptions come from docstrings: drop their reST literal quotes for the terminal.
        verb_parser.description = (verb_parser.description or "").replace("``", "")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        print(f"{error.prog}: error: {error}; see {error.prog} --help", file=sys.stderr)
        return 2
    warnings.showwarning = functools.partial(_one_line_warning, args.verb)
    streams = sys.stdout, sys.stderr
    quiet = _QuietAfterBrokenPipe(streams[0]), _QuietAfterBrokenPipe(streams[1])
    sys.stdout, sys.stderr = quiet  # type: ignore[assignment]
    try:
        return int(args.run(args) or 0)
    except UserError as error:
        print(f"sim2real {args.verb}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except RunError as error:
        print(f"sim2real {args.verb}: error: {_one_line(error)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # A pipe other than stdout and stderr lost its reader: stop quietly, as Unix tools do.
        return 1
    except OSError as error:
        # The OS refused a path (too long, not readable, ...): one line naming it. Exit code 2
        # where it names the path given, 1 for the rest (a full disk is no usage error).
        print(f"sim2real {args.verb}: error: {os_error_line(error)}", file=sys.stderr)
        return 2 if error.filename is not None else 1
    except KeyboardInterrupt as error:
        signum = signal.Signals(getattr(error, "signum", signal.SIGINT))
        print(f"sim2real {args.verb}: interrupted by {signum.name}", file=sys.stderr)
        return 128 + signum.value
    finally:
        for stream in quiet:
            stream.flush()  # what is still buffered, before the unguarded streams are back
        sys.stdout, sys.stderr = streams


class _QuietAfterBrokenPipe:
    """stdout or stderr that goes quiet once its reader has left (``sim2real train ... | head``):
    a print that fails there would otherwise end a training as failed, with its work done."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._silenced = False

    def write(self, text: str) -> int:
        return self._quietly(lambda: self._stream.write(text), len(text))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._quietly(self._stream.flush, None)

    def _quietly(self, action: Callable[[], _T], silent: _T) -> _T:
        if self._silenced:
            return silent
        try:
            return action()
        except BrokenPipeError:
            _to_devnull(self._stream)  # what is still buffered goes there with the rest
            self._silenced = True
            return silent

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _to_devnull(stream: TextIO) -> None:
    """Point the stream's file descriptor at /dev/null (where it has one)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _one_line_warning(
    verb: str,
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as ``sim2real VERB: warning: ...``, without Python's source line."""
    stream = file if file is not None else sys.stderr
    text = _one_line(message)
    with contextlib.suppress(OSError):  # stderr closed: a warning is not worth a crash
        print(f"sim2real {verb}: warning: {text}", file=stream)


def _one_line(message: object) -> str:
    """Whatever a message holds (a path with a line break, a quoted YAML value), one line."""
    return " ".join(str(message).split())


if __name__ == "__main__":
    sys.exit(main())
