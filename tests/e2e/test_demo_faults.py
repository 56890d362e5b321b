"""`sim2real demo` stopped or killed while its children run: none survives it, Ctrl-C and
SIGTERM exit 130 / 143, the trainings keep checkpoints; every option is checked before stage 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from sim2real.cli import main
from sim2real.processes import GRACE_S
from sim2real.runs import Run

pytestmark = pytest.mark.slow

SIM2REAL = str(Path(sys.executable).with_name("sim2real"))
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def tagged(token: str) -> list[int]:
    """Processes whose environment holds ``token``: a process and all it started, orphans too."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours
                pass
    return found


def spawned(token: str) -> list[int]:
    """The tagged processes that multiprocessing spawned (not its resource tracker)."""
    found = []
    for pid in tagged(token):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            pass
    return found


def cpu_ticks(pids: list[int]) -> list[int]:
    """User + system CPU ticks of each process (/proc/PID/stat fields 14 and 15)."""
    ticks = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return []
        ticks.append(int(fields[11]) + int(fields[12]))
    return ticks


def settled(pids: list[int], quiet_s: float = 1.0) -> bool:
    """The processes used no CPU for ``quiet_s``: past their start-up, idle in their task."""
    before = cpu_ticks(pids)
    time.sleep(quiet_s)
    return bool(before) and before == cpu_ticks(pids)


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def start_tagged(argv: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    """``argv`` in its own session, its environment tagged so that every descendant is found."""
    token = uuid.uuid4().hex
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**os.environ, "SIM2REAL_FAULT_TEST": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, token


# A program started from a terminal gets Ctrl-C as KeyboardInterrupt; one started by a test runner
# that runs in the background (`nohup make test &` in a script) inherits SIGINT ignored, so the
# pool restores Python's default handler.
POOL = """
import signal, sys, time
from sim2real.processes import run_in_processes, sigterm_raises
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    with sigterm_raises():
        run_in_processes(time.sleep, [(300,), (300,), (300,)], workers=2)
except KeyboardInterrupt as error:
    sys.exit(128 + getattr(error, "signum", 2))
"""


@linux_only
@pytest.mark.parametrize(
    ("signum", "group", "code"),
    [
        (signal.SIGTERM, False, 143),
        (signal.SIGTERM, True, 143),
        (signal.SIGINT, True, 130),  # Ctrl-C in a terminal
        (signal.SIGKILL, False, -signal.SIGKILL),  # nothing runs in the parent: the kernel acts
    ],
)
def test_children_end_with_the_parent(tmp_path, signum, group, code):
    process, token = start_tagged([sys.executable, "-c", POOL], tmp_path)
    try:
        assert wait_until(lambda: len(spawned(token)) == 2, 60), "two children did not start"
        # Past their start-up (imports, process group, parent-death signal), even on a slow
        # machine: both children idle in their task.
        assert wait_until(lambda: settled(spawned(token)), 60), "the children never settled"
        (os.killpg if group else os.kill)(process.pid, signum)
        # The parent may wait out its grace period (GRACE_S = 20 s) on a loaded machine.
        _, err = process.communicate(timeout=GRACE_S + 40)
        assert process.returncode == code, err
        assert wait_until(lambda: not tagged(token), 10), f"survivors: {tagged(token)}"
    finally:
        for pid in tagged(token):
            os.kill(pid, signal.SIGKILL)


@linux_only
def test_sigterm_stops_the_demo_and_its_training_which_keeps_a_checkpoint(tmp_path):
    out = tmp_path / "demo"
    budgets = ["total_timesteps=1000000", "evaluation.freq_steps=0", "checkpoint.freq_steps=512"]
    budgets += ["targets=[]", "evaluation.episodes=1"]  # fewer envs to build: a faster start
    argv = [SIM2REAL, "demo", "--out", str(out), "--workers", "1"]
    process, token = start_tagged([*argv, *[f"--set={value}" for value in budgets]], tmp_path)
    try:  # stopped once the first training has a checkpoint; the second waits for a worker
        started = wait_until(lambda: any(out.glob("runs/*/checkpoints/step_*")), 120)
        assert started, process.stderr.read() if process.poll() is not None else "no training"
        os.killpg(process.pid, signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        assert process.returncode == 143, err
        assert err.strip().splitlines()[-1] == "sim2real demo: interrupted by SIGTERM"
        assert wait_until(lambda: not tagged(token), 10), f"survivors: {tagged(token)}"
    finally:
        for pid in tagged(token):
            os.kill(pid, signal.SIGKILL)
    (run_json,) = out.glob("runs/*/run.json")  # the queued training never started
    meta = json.loads(run_json.read_text())
    assert (meta["status"], meta["interrupted_by"]) == ("interrupted", "SIGTERM")
    final = Run.open(run_json.parent).checkpoints()[-1]
    assert final.timesteps == meta["timesteps"] >= 512  # where it stopped


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--transfer-seeds", "0", "-1"], "--transfer-seeds = -1; must be >= 0"),
        (["--transfer-seeds", "3", "3"], "seeds must be distinct"),
        (["--transfer-seeds", str(2**40)], "--transfer-seeds = 1,099,511,627,776; must be <="),
        (["--workers", "0"], "--workers = 0; must be >= 1"),
    ],
)
def test_demo_checks_every_option_before_training(tmp_path, capsys, option, expected):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), *option]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and expected in error[0]
    assert not out.exists()


def test_demo_out_must_be_a_directory(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for out, expected in ((afile, "is not a directory"), (afile / "sub", "is a file")):
        assert main(["demo", "--out", str(out)]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and expected in error[0]
    assert afile.read_text() == "not a directory"
