"""record -> identify -> ``transfer --strategy sysid`` -> compare, on tiny CartPole budgets.

A tiny PPO source run is fine-tuned in simulation under the spec re-centred on the dynamics
identified from 2 recorded episodes of the ``heavy`` target, and compared with a scratch run
on the target: the sysid run counts the recorded steps as its target samples.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.data import load_data
from sim2real.evaluation.compare import compare_runs
from sim2real.randomization import load_spec
from sim2real.runs import Run
from sim2real.training import train
from sim2real.transfer import transfer

pytestmark = pytest.mark.slow

HEAVY = "cartpole_heavy.yaml"
IDENTIFY = ["--params", "link_mass", "--identify-budget", "30", "--workers", "1"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sysid")
    config = tiny_ppo(
        total_timesteps=1024,
        evaluation={"freq_steps": 0, "episodes": 1},
        checkpoint={"freq_steps": 0},
    )
    source = train(parse_config(config), folder / "source", progress_bar=False, verbose=False)
    data = folder / "heavy.npz"
    argv = ["record", "--policy", "sine", "--env", "sim2real/CartPole-v0", "--target", HEAVY]
    assert main([*argv, "--episodes", "2", "--out", str(data), "--seed", "1"]) == 0
    run_dir = folder / "sysid"
    argv = ["transfer", str(source.path), "--strategy", "sysid", "--data", str(data)]
    argv += [*IDENTIFY, "--finetune-budget", "512", "--target", HEAVY, "--eval-freq", "512"]
    assert main([*argv, "--eval-episodes", "1", "--no-progress", "--run-dir", str(run_dir)]) == 0
    scratch = transfer(
        source, HEAVY, 512, "scratch", run_dir=folder / "scratch", eval_freq=512,
        eval_episodes=1, progress_bar=False, verbose=False,
    )  # fmt: skip
    return {"source": source, "data": data, "sysid": Run.open(run_dir), "scratch": scratch}


def test_sysid_run_holds_the_identification_and_counts_recorded_samples(made):
    run, data = made["sysid"], load_data(made["data"])
    meta = run.meta
    assert meta["strategy"] == "sysid" and meta["status"] == "finished"
    assert meta["source_run"] == str(made["source"].path.resolve())
    info = meta["transfer"]
    assert info["target_samples"] == data.steps and info["target_episodes"] == 2
    assert info["target"] == "heavy" and info["evaluated_on"] == "given target"
    assert set(info["identified"]) | set(info["not_identified"]) == {
        "link_mass:pole",
        "link_mass:cart",
    }
    files = {"report.json", "report.md", "spec.yaml", "trajectories.png", "loss.png"}
    assert files <= {p.name for p in (run.path / "sysid").iterdir()}
    # The training world is the re-centred spec identify wrote, nothing else.
    written = load_spec(run.path / "sysid" / "spec.yaml")
    assert run.config.randomization.terms == written.terms
    assert run.config.total_timesteps == 512
    assert run.evaluations()["timesteps"] == [0, 512]
    assert not list(run.path.parent.glob(".sysid-sysid-*"))  # the staging directory is gone


def test_a_zoo_entry_is_a_sysid_source(made, tmp_path):
    """A zoo entry holds weights.npz, no model.zip: sysid fine-tunes it like a run."""
    import sim2real.policies.zoo as zoo
    from sim2real.evaluation.evaluate import EvaluationSettings
    from sim2real.transfer.sysid import transfer_sysid

    settings = EvaluationSettings(episodes=1, workers=1)
    entry = zoo.add_entry(made["source"].path, "tiny", settings=settings, zoo_dir=tmp_path)
    run = transfer_sysid(
        entry.path, made["data"], 128, target=HEAVY, params=["link_mass"], identify_budget=30,
        run_dir=tmp_path / "sysid", eval_freq=128, eval_episodes=1, progress_bar=False,
        verbose=False,
    )  # fmt: skip
    assert run.meta["status"] == "finished" and run.meta["strategy"] == "sysid"
    assert run.meta["source_run"] == str(entry.path.resolve())


def test_a_budget_short_of_a_rollout_is_said_to_round_up(made, tmp_path, capsys):
    """On-policy fine-tuning collects whole rollouts: the note says how many steps it takes."""
    argv = ["transfer", str(made["source"].path), "--strategy", "sysid"]
    argv += ["--data", str(made["data"]), *IDENTIFY, "--finetune-budget", "300"]
    argv += ["--target", HEAVY, "--eval-episodes", "1", "--no-progress"]
    assert main([*argv, "--run-dir", str(tmp_path / "sysid")]) == 0
    assert (
        "note: --finetune-budget 300 is not a multiple of one rollout (n_steps x n_envs = 512); "
        "512 simulation steps will be collected"
    ) in capsys.readouterr().err
    assert Run.open(tmp_path / "sysid").meta["timesteps"] == 512


def test_compare_puts_sysid_on_the_target_sample_axis(made):
    comparison = compare_runs([made["sysid"].path], [made["scratch"].path], n_boot=50)
    (method,) = comparison.methods
    assert method.strategy == "sysid"
    curve = made["sysid"].evaluations()["curves"]["heavy"]
    samples = made["sysid"].meta["transfer"]["target_samples"]
    expected = np.where(comparison.timesteps < samples, curve[0], curve[-1])
    np.testing.assert_allclose(method.curves[0], expected)
    assert method.metrics.jumpstart.value == pytest.approx(
        curve[0] - made["scratch"].evaluations()["curves"]["heavy"][0]
    )


def test_evaluate_reads_a_sysid_run_like_any_run(made, tmp_path):
    out = tmp_path / "eval"
    argv = ["evaluate", str(made["sysid"].path), "--episodes", "1", "--out", str(out)]
    assert main([*argv, "--workers", "1"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "heavy" in json.dumps(report)


def test_sysid_bad_input_is_one_line_and_writes_nothing(made, tmp_path, capsys):
    source, data = str(made["source"].path), str(made["data"])
    hopper = tmp_path / "hopper.npz"
    argv = ["record", "--policy", "zero", "--env", "sim2real/Hopper-v0", "--target"]
    assert main([*argv, "hopper_heavy.yaml", "--episodes", "1", "--out", str(hopper)]) == 0
    out = ["--run-dir", str(tmp_path / "never")]
    cases = {
        "'--data' is required": ["--strategy", "sysid", *out],
        "sysid trains on no target steps": ["--strategy", "sysid", "--data", data, "--budget", "9"],
        "applies to --strategy sysid only": ["--target", HEAVY, "--budget", "9", "--data", data],
        # Given at its default value, a sysid option still does nothing for another strategy:
        "'--horizon' applies to --strategy sysid only, not full": [
            *("--target", HEAVY, "--budget", "9", "--horizon", "10", *out)
        ],
        "but the source run": ["--strategy", "sysid", "--data", str(hopper), *out],
        "does not exist": ["--strategy", "sysid", "--data", str(tmp_path / "none.npz"), *out],
        "--finetune-budget": ["--strategy", "sysid", "--data", data, "--finetune-budget", "0"],
        "--identify-budget = 30": [
            "--strategy",
            "sysid",
            "--data",
            data,
            "--identify-budget",
            "30",
        ],
        "--params kp": ["--strategy", "sysid", "--data", data, "--params", "kp", *out],
        "field 'env_id'": ["--strategy", "sysid", "--data", data, "--target", "hopper_heavy.yaml"],
        "'--lr-scale' = 0.5 applies to --strategy lr only, not sysid": [
            *("--strategy", "sysid", "--data", data, "--lr-scale", "0.5", *out)
        ],
        "'--freeze' = 1 applies to --strategy freeze only, not sysid": [
            *("--strategy", "sysid", "--data", data, "--freeze", "1", *out)
        ],
        "'--dr-width' = 0.2 applies to --strategy narrow_dr only, not sysid": [
            *("--strategy", "sysid", "--data", data, "--dr-width", "0.2", *out)
        ],
    }
    for message, args in cases.items():
        capsys.readouterr()
        assert main(["transfer", source, *args]) == 2, args
        err = [
            line for line in capsys.readouterr().err.splitlines() if "pybullet build" not in line
        ]
        assert len(err) == 1 and message in err[0], (message, err)
    assert not (tmp_path / "never").exists()
