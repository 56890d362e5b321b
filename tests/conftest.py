"""Suite-wide settings."""

from __future__ import annotations

import os

from hypothesis import settings

# CI replays the same examples every run, so a submission lands or fails on its own code,
# not on the draw; locally each run explores new examples (and keeps failures to replay).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")
