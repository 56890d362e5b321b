"""A crashed subprocess env worker (``vec_env: subproc``): one line naming the env and its seed."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from sim2real.cli import main
from sim2real.env_workers import WorkerVecEnv
from sim2real.errors import RunError
from sim2real.training import EnvFactory

pytestmark = pytest.mark.slow

CARTPOLE = "sim2real/CartPole-v0"


def test_a_crashed_env_worker_is_one_line_naming_the_env_and_seed():
    factory = EnvFactory(CARTPOLE, None, {}, in_worker=True)
    venv = WorkerVecEnv([factory, factory], CARTPOLE)
    try:
        venv.seed(7)
        venv.reset()
        bad = np.array([[0.0], ["not a number"]], dtype=object)
        with pytest.raises(RunError) as raised:  # an exception inside the worker's env
            venv.step(bad)
        message = str(raised.value)
        assert f"env {CARTPOLE} in worker 2 of 2, seed 8 failed in step: ValueError" in message
        venv.step(np.zeros((2, 1)))  # that worker lives on; now one dies as in a segfault
        os.kill(venv.processes[0].pid, signal.SIGKILL)
        with pytest.raises(RunError) as raised:
            venv.step(np.zeros((2, 1)))
        assert f"env {CARTPOLE} in worker 1 of 2, seed 7 died (killed by SIGKILL)" in str(
            raised.value
        )
        assert "\n" not in message + str(raised.value)
    finally:
        venv.close()
    assert not any(process.is_alive() for process in venv.processes)


def test_the_cli_reports_a_failed_run_on_one_line_with_exit_code_1(monkeypatch, capsys):
    def crash(*args, **kwargs):
        raise RunError("env sim2real/CartPole-v0 in worker 2 of 2, seed 1 died (killed by SIGSEGV)")

    monkeypatch.setattr("sim2real.training.train", crash)
    assert main(["train", "cartpole_nominal.yaml", "--no-progress"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "sim2real train: error: env sim2real/CartPole-v0 in worker 2 of 2, seed 1 died "
        "(killed by SIGSEGV)"
    ]
