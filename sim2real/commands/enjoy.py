"""``sim2real enjoy``: watch a run's or an exported policy act, headless.

Rolls the policy out deterministically on nominal dynamics (or a target's) in its own env
(or --env), prints each episode's return, length and dynamics (what differs from nominal),
and with --video writes the episodes one after another as a GIF or an MP4 (imageio; MP4
needs imageio-ffmpeg: pip install 'sim2real[video]').
"""

from __future__ import annotations

import argparse
import json

from sim2real import limits
from sim2real.commands import path_arg


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "enjoy",
        help="watch a policy (run or export): returns, lengths, dynamics, a video",
        description=__doc__,
    )
    parser.add_argument("policy", metavar="RUN|DIR", help="run directory or exported policy")
    parser.add_argument("--env", metavar="ID", help="env id (default: the policy's)")
    parser.add_argument(
        "--target", metavar="FILE", help="target file (path or shipped name); default nominal"
    )
    parser.add_argument("--episodes", type=int, default=1, help="episodes (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first reset (default 0)")
    parser.add_argument(
        "--video", type=path_arg, metavar="OUT.gif|OUT.mp4", help="write the episodes as a video"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sim2real.commands.evaluate import load_targets
    from sim2real.enjoy import open_viewing
    from sim2real.video import MAX_FRAMES, check_video_path, write_video

    limits.check_count(args.episodes, limits.EPISODES, "--episodes")
    limits.check_count(args.seed, limits.SEED, "--seed", minimum=0)
    if args.video is not None:
        check_video_path(args.video)
    target = load_targets([args.target])[0] if args.target else None
    viewing = open_viewing(args.policy, args.env, target, render=args.video is not None)
    frames = []
    try:
        for episode in viewing.episodes(args.episodes, args.seed):
            changes = json.dumps(episode.dynamics) if episode.dynamics else "nominal"
            print(
                f"episode {episode.index + 1}: return {episode.total_return:.2f}, "
                f"length {episode.length}, dynamics {changes}",
                flush=True,
            )
            frames += episode.frames[: MAX_FRAMES - len(frames)]
    finally:
        viewing.close()
    if args.video is not None:
        write_video(frames, args.video, viewing.fps)
        cut = f", cut at {MAX_FRAMES}" if len(frames) == MAX_FRAMES else ""
        print(f"video: {args.video} ({len(frames)} frames at {viewing.fps:g} per second{cut})")
    return 0
