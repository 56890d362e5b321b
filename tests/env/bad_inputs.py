"""Shared by the property tests of bad input: the one-line check and a tally of what they try.

With ``SIM2REAL_BAD_INPUTS=<file>`` set, each test module appends one JSON line to the file at
its end: the distinct inputs tried, how many loaded and how many ended in the one-line error
(anything else fails the test), which is the count issue 8 asks for.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest


def assert_one_line(message: str) -> None:
    assert message.strip() and "\n" not in message.strip(), message
    assert "Traceback" not in message, message


class Tally:
    def __init__(self, name: str):
        self.name = name
        self.outcomes: dict[str, dict[str, str]] = {}

    def record(self, kind: str, value: Any, outcome: str) -> None:
        """``outcome``: ``loaded`` or ``refused`` (a one-line UserError)."""
        self.outcomes.setdefault(kind, {})[repr(value)] = outcome

    def write(self) -> None:
        path = os.environ.get("SIM2REAL_BAD_INPUTS")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as handle:
            for kind, outcomes in self.outcomes.items():
                refused = sum(outcome == "refused" for outcome in outcomes.values())
                line = {"module": self.name, "kind": kind, "tried": len(outcomes)}
                line.update({"refused_one_line": refused, "loaded": len(outcomes) - refused})
                handle.write(json.dumps(line) + "\n")


def tally_fixture(tally: Tally):
    """A module-scoped autouse fixture that writes ``tally`` when the module's tests end."""

    @pytest.fixture(scope="module", autouse=True)
    def _write_tally() -> Iterator[None]:
        yield
        tally.write()

    return _write_tally
