"""Videos of rollouts: GIF (imageio with Pillow) or MP4 (imageio-ffmpeg), written atomically.

Frames are RGB arrays ``(height, width, 3)`` taken once per control step. A GIF plays at
most 50 frames per second (its delays are whole centiseconds, and browsers slow delays under
two to a tenth of a second), so faster control loops keep every k-th frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sim2real.errors import UserError
from sim2real.extras import require
from sim2real.io import atomic_write_bytes, check_output_file

__all__ = ["MAX_FRAMES", "SUFFIXES", "check_video_path", "encode_video", "write_video"]

SUFFIXES = (".gif", ".mp4")
# Frames are held in memory until encoded: 2 minutes at 50 Hz, ~1.4 GB at 320x240.
MAX_FRAMES = 6000
_GIF_MAX_FPS = 50.0


def check_video_path(path: str | Path, option: str = "--video") -> Path:
    """Refuse, before any rollout, a video path that cannot be written (one line each)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"{option} {path}: unknown video format; give a .gif or .mp4 file")
    require("imageio", "writing a video")
    if suffix == ".mp4":
        require("imageio_ffmpeg", "writing an MP4 (or write a .gif)")
    return check_output_file(path, option, f"video{suffix}", overwrite=True)


def write_video(frames: Sequence[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write ``frames`` (taken at ``fps``) to ``path``; its suffix picks the format."""
    path = Path(path)
    data = encode_video(frames, fps, path.suffix.lower())
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path, data)


def encode_video(frames: Sequence[np.ndarray], fps: float, suffix: str = ".gif") -> bytes:
    """``frames`` (taken at ``fps``) encoded as a GIF or an MP4 file's bytes."""
    import imageio.v3 as iio

    if not frames:
        raise ValueError("no frames to write")
    if suffix == ".gif":
        step = max(1, math.ceil(fps / _GIF_MAX_FPS))
        return iio.imwrite(
            "<bytes>",
            np.stack(frames[::step]),
            extension=".gif",
            duration=1000 * step / fps,
            loop=0,
        )
    return iio.imwrite("<bytes>", np.stack(frames), extension=".mp4", fps=fps)
