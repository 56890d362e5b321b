"""`sim2real demo` end to end on tiny budgets: every stage runs and writes its report."""

from __future__ import annotations

import json

import pytest

from sim2real.cli import main

pytestmark = pytest.mark.slow


def test_demo_trains_evaluates_fine_tunes_and_reports(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--episodes",
        "1",
        "--hopper-episodes",
        "1",
        "--transfer-budget",
        "512",
        "--transfer-seeds",
        "0",
        "--set",
        "total_timesteps=1024",
        "--set",
        "evaluation.freq_steps=0",
        "--set",
        "checkpoint.freq_steps=0",
        "--set",
        "evaluation.episodes=1",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "tensorboard --logdir" in printed and "jumpstart" in printed

    evaluation = json.loads((out / "reports" / "evaluate" / "report.json").read_text())
    assert set(evaluation["methods"]) == {"cartpole_nominal", "cartpole_dr"}
    assert len(evaluation["targets"]) == 6  # every shipped CartPole target

    gaps = {
        name: evaluation["results"]["cartpole_nominal"][name]["gap"]["value"]
        for name in evaluation["targets"]
    }
    hardest = max(gaps, key=gaps.get)
    for strategy in ("full", "scratch"):
        meta = json.loads((out / "transfer" / f"{strategy}-seed0" / "run.json").read_text())
        assert meta["strategy"] == strategy
        assert meta["source_run"].endswith("cartpole_nominal-seed0")
    comparison = json.loads((out / "reports" / "transfer" / "report.json").read_text())
    assert comparison["target"] == hardest
    assert (out / "reports" / "transfer" / "learning_curves.png").is_file()
    # Stage 4: the zoo's Hopper without DR, with DR and the RMA student on every Hopper
    # target, no training.
    hopper = json.loads((out / "reports" / "hopper" / "report.json").read_text())
    assert set(hopper["methods"]) == {"hopper_nominal_ppo", "hopper_dr_ppo", "hopper_rma_ppo"}
    assert hopper["targets"] == [
        "heavy",
        "slippery",
        "weak_motors",
        "laggy",
        "noisy_sensors",
        "hard",
    ]
    assert all(
        len(result["returns"]) == 1
        for method in hopper["results"].values()
        for result in method.values()
    )


def test_demo_rejects_a_bad_override_before_training(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--set", "n_envs=0"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "n_envs" in error[0]
    assert not (tmp_path / "d").exists()


def test_demo_skips_the_hopper_stage_when_asked(tmp_path, capsys):
    from sim2real.demo import DemoPlan, _hopper_from_zoo

    lines: list[str] = []
    plan = DemoPlan(out_dir=tmp_path, hopper_episodes=0, log=lines.append)
    assert _hopper_from_zoo(plan, tmp_path / "hopper") is False
    assert lines == ["[4/4] Hopper from the zoo: skipped (--hopper-episodes 0)"]
    assert not (tmp_path / "hopper").exists()
