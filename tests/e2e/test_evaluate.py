"""``sim2real evaluate`` and ``sim2real sweep`` on tiny CartPole runs: numbers, files, errors."""

import csv
import json
import shutil

import numpy as np
import pytest

from sim2real.cli import main
from sim2real.config import load_config
from sim2real.evaluation.conditions import Condition, make_env
from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
from sim2real.evaluation.rollouts import rollout
from sim2real.policies.predictor import RunPolicy
from sim2real.resources import shipped_dir
from sim2real.table import format_cell
from sim2real.targets import load_target, target_dynamics
from sim2real.training import train

pytestmark = pytest.mark.slow

TINY = [
    "total_timesteps=256",
    "n_envs=1",
    "evaluation.freq_steps=0",
    "evaluation.episodes=1",
    "checkpoint.freq_steps=0",
    "normalize.observations=true",
    "algorithm.hyperparams.n_steps=128",
    "algorithm.hyperparams.batch_size=64",
    "algorithm.hyperparams.n_epochs=1",
    "algorithm.hyperparams.policy_kwargs.net_arch=[16, 16]",
    "targets=[cartpole_heavy.yaml, cartpole_weak_motors.yaml]",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two seeds of cartpole_dr and one of cartpole_nominal, trained for 256 steps."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for name, config, seed in [
        ("dr0", "cartpole_dr.yaml", 0),
        ("dr1", "cartpole_dr.yaml", 1),
        ("nom0", "cartpole_nominal.yaml", 0),
    ]:
        cfg = load_config(config, [*TINY, f"seed={seed}"])
        made[name] = train(cfg, root / name, progress_bar=False, verbose=False).path
    return made


def one_line_error(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert expected in err, err


def test_evaluate_cli_report_numbers_and_files(runs, tmp_path, capsys):
    out = tmp_path / "report"
    argv = ["evaluate", str(runs["dr0"]), str(runs["dr1"]), str(runs["nom0"])]
    argv += ["--episodes", "2", "--seeds", "0", "3", "--workers", "1", "--out", str(out)]
    argv += ["--oracle", f"heavy={runs['dr1']}", "--seed", "7", "--n-boot", "500"]
    assert main(argv) == 0
    assert "cartpole_nominal" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["kind"] == "evaluate" and report["settings"]["seeds"] == [0, 3]
    assert report["methods"] == {
        "cartpole_dr": [str(runs["dr0"].resolve()), str(runs["dr1"].resolve())],
        "cartpole_nominal": [str(runs["nom0"].resolve())],
    }
    assert report["targets"] == ["heavy", "weak_motors"]  # the configs' targets by default
    heavy = {"link_mass": pytest.approx(shipped_link_masses("cartpole_heavy.yaml"))}
    assert report["conditions"]["heavy"]["dynamics"] == heavy
    dr, nominal = report["results"]["cartpole_dr"], report["results"]["cartpole_nominal"]
    for method in (dr, nominal):
        assert list(method) == ["nominal", "dr", "heavy", "weak_motors"]
        for result in method.values():
            returns = np.concatenate(list(result["returns"].values()))
            assert all(len(r) == 4 for r in result["returns"].values())  # 2 seeds x 2 episodes
            assert np.all((returns >= 1) & (returns <= 500) & (returns == np.round(returns)))
            summary = result["summary"]
            assert summary["n"] == returns.size
            assert summary["mean"] == pytest.approx(returns.mean())
            assert summary["ci_low"] <= summary["iqm"] <= summary["ci_high"]
        j_source = np.mean(np.concatenate(list(method["nominal"]["returns"].values())))
        for target in ("heavy", "weak_motors"):
            j_target = method[target]["summary"]["mean"]
            gap = method[target]["gap"]
            assert gap["value"] == pytest.approx(j_source - j_target)
            assert gap["ci_low"] <= gap["value"] <= gap["ci_high"]
            assert method[target]["gap_normalized"]["value"] == pytest.approx(
                (j_source - j_target) / abs(j_source)
            )
            j_dr = method["dr"]["summary"]["mean"]
            assert method[target]["gap_vs_dr"]["value"] == pytest.approx(j_dr - j_target)
    # A method without DR: its "dr" condition is its nominal dynamics.
    assert report["dr_is_nominal"] == {"cartpole_dr": False, "cartpole_nominal": True}
    assert nominal["dr"]["returns"] == nominal["nominal"]["returns"]
    # Oracle: regret and the fraction of the baseline's (first method's) gap closed.
    j_oracle = report["oracles"]["heavy"]["summary"]["mean"]
    assert j_oracle == pytest.approx(np.mean(dr["heavy"]["returns"][str(runs["dr1"].resolve())]))
    assert report["baseline"] == "cartpole_dr"
    for method in (dr, nominal):
        j_heavy = method["heavy"]["summary"]["mean"]
        assert method["heavy"]["regret"]["value"] == pytest.approx(j_oracle - j_heavy)
        j_base = dr["heavy"]["summary"]["mean"]
        expected = (j_heavy - j_base) / (j_oracle - j_base) if j_oracle != j_base else None
        assert method["heavy"]["fraction_gap_closed"] == pytest.approx(expected)
        assert method["weak_motors"]["regret"] is None
    files = {p.name for p in out.iterdir()}
    assert {
        "report.md",
        "report.json",
        "results.csv",
        "returns.png",
        "transfer_gap.png",
        "tb",
    } <= files
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 8
    assert float(rows[2]["gap"]) == pytest.approx(dr["heavy"]["gap"]["value"])
    markdown = (out / "report.md").read_text()
    assert "![transfer_gap](transfer_gap.png)" in markdown and "| cartpole_dr | heavy |" in markdown
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    assert set(events.Tags()["images"]) == {"returns", "transfer_gap", "methods_by_target"}
    # One table per target, methods side by side; trained in simulation only: 0 target samples.
    assert report["target_samples"] == {
        "cartpole_dr": {"heavy": 0.0, "weak_motors": 0.0},
        "cartpole_nominal": {"heavy": 0.0, "weak_motors": 0.0},
    }
    assert "## Methods per target" in markdown and "**weak_motors**" in markdown
    closed = dr["heavy"]["fraction_gap_closed"]
    row = f"| cartpole_dr | {format_cell(dr['heavy']['summary']['iqm'])} |"
    assert row in markdown and (out / "methods_by_target.png").is_file()
    assert closed is None or f"| 0 | {format_cell(closed)} |" in markdown


def test_target_returns_match_an_independent_rollout(runs, tmp_path):
    """The evaluator's target condition is the target world, with the run's normalization."""
    heavy = load_target(shipped_dir() / "targets" / "cartpole_heavy.yaml")
    settings = EvaluationSettings(episodes=3, seeds=(5,), workers=1, n_boot=10)
    evaluation = evaluate_runs([runs["dr0"]], targets=[heavy], settings=settings)
    reported = evaluation.results["cartpole_dr"]["heavy"].returns[str(runs["dr0"].resolve())]
    policy = RunPolicy.from_run(runs["dr0"])
    assert policy.normalization is not None and policy.normalization.norm_obs
    env = make_env("sim2real/CartPole-v0", Condition("nominal"))
    env.unwrapped.set_dynamics(target_dynamics(env, heavy))
    expected_masses = pytest.approx(shipped_link_masses("cartpole_heavy.yaml"))
    assert env.unwrapped.get_dynamics()["link_mass"] == expected_masses
    expected = rollout(policy, env, seed=5, episodes=3).returns
    env.close()
    assert reported == expected.tolist()


def test_same_seeds_same_returns_with_one_and_two_workers(runs):
    """Stochastic actions too: every job seeds its env and torch itself."""
    targets = [load_target(shipped_dir() / "targets" / "cartpole_weak_motors.yaml")]
    results = []
    for workers, seeds in ((1, (0, 1)), (2, (0, 1)), (2, (2, 3))):
        settings = EvaluationSettings(
            episodes=2, seeds=seeds, workers=workers, deterministic=False, n_boot=10
        )
        evaluation = evaluate_runs([runs["dr0"], runs["nom0"]], targets, settings=settings)
        results.append(
            {m: {c: r.returns for c, r in by.items()} for m, by in evaluation.results.items()}
        )
    assert results[0] == results[1]
    assert results[0] != results[2]  # other seeds, other episodes


def test_sweep_1d_scale_marks_dr_range_and_targets(runs, tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", str(runs["dr0"]), "--param", "link_mass:pole", "--values", "0.5,1,3"]
    argv += ["--scale", "--episodes", "2", "--workers", "1", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    (axis,) = report["axes"]
    assert axis["parameter"] == "link_mass" and axis["elements"] == ["pole"]
    (pole_term,) = [
        t for t in load_config("cartpole_dr.yaml").randomization.terms
        if t.parameter == "link_mass" and t.selector == ("pole",)
    ]  # fmt: skip
    assert pole_term.operation == "scale"  # so the range is in multiples of nominal
    expected = [pole_term.distribution.low, pole_term.distribution.high]
    assert axis["dr_range"] == pytest.approx(expected)
    assert axis["nominal"] == pytest.approx(1.0)
    markers = {m["name"]: m["position"] for m in report["markers"]}
    heavy = load_target(shipped_dir() / "targets" / "cartpole_heavy.yaml")
    (heavy_pole,) = [t for t in heavy.spec.terms if t.selector == ("pole",)]
    assert heavy_pole.operation == "scale"
    # weak_motors etc. leave the pole mass alone, so only nominal and heavy are marked.
    assert markers == {
        "nominal": [pytest.approx(1.0)],
        "heavy": [pytest.approx(heavy_pole.distribution.low)],
    }
    points = report["points"]
    assert [p["values"] for p in points] == [[0.5], [1.0], [3.0]]
    assert points[2]["dynamics"] == {"link_mass": {"pole": pytest.approx(0.3)}}
    for point in points:
        returns = point["returns"][str(runs["dr0"].resolve())]
        assert len(returns) == 2 and point["summary"]["mean"] == pytest.approx(np.mean(returns))
    # The nominal grid point is exactly the evaluator's nominal condition (same seed).
    settings = EvaluationSettings(episodes=2, seeds=(0,), workers=1, n_boot=10)
    nominal = evaluate_runs([runs["dr0"]], targets=[], settings=settings)
    run_key = str(runs["dr0"].resolve())
    assert (
        points[1]["returns"][run_key] == nominal.results["cartpole_dr"]["nominal"].returns[run_key]
    )
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert [float(r["link_mass:pole"]) for r in rows] == [0.5, 1.0, 3.0]
    assert {"sweep.png", "report.md", "tb"} <= {p.name for p in out.iterdir()}


def test_sweep_2d_grid_order(runs, tmp_path):
    out = tmp_path / "sweep2d"
    argv = ["sweep", str(runs["nom0"]), "--param", "link_mass:pole", "--values", "0.1,0.4"]
    argv += ["--param", "motor_strength", "--values", "0.5:1:2", "--episodes", "1"]
    argv += ["--workers", "2", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert [p["values"] for p in report["points"]] == [
        [0.1, 0.5],
        [0.1, 1.0],
        [0.4, 0.5],
        [0.4, 1.0],
    ]
    assert report["points"][2]["dynamics"] == {
        "link_mass": {"pole": 0.4},
        "motor_strength": {"slider_to_cart": 0.5},
    }
    assert [a["dr_range"] for a in report["axes"]] == [None, None]  # trained without DR
    markers = {m["name"]: m["position"] for m in report["markers"]}
    weak = load_target(shipped_dir() / "targets" / "cartpole_weak_motors.yaml")
    strength = weak.spec.terms[0].distribution.low  # nominal strength is 1: scale = value
    assert markers["weak_motors"] == pytest.approx([0.1, strength])
    assert (out / "sweep.png").is_file()


# -- bad input: one line, exit code 2 ---------------------------------------------------------


def test_unknown_target_file(runs, capsys, tmp_path):
    argv = ["evaluate", str(runs["dr0"]), "--targets", "cartpole_nope.yaml", "--out", str(tmp_path)]
    one_line_error(capsys, argv, "no target file 'cartpole_nope.yaml'")


def test_parameter_not_randomizable_in_env(runs, capsys, tmp_path):
    argv = ["sweep", str(runs["dr0"]), "--param", "lateral_friction", "--values", "0.5:1:3"]
    one_line_error(
        capsys, argv + ["--out", str(tmp_path)], "not randomizable in sim2real/CartPole-v0"
    )


def test_policy_with_other_spaces(runs, capsys, tmp_path):
    from stable_baselines3 import PPO

    bad = tmp_path / "pendulum_policy"
    shutil.copytree(runs["nom0"], bad)
    PPO("MlpPolicy", "Pendulum-v1", device="cpu").save(bad / "model.zip")  # obs (3,), not (4,)
    argv = ["evaluate", str(bad), "--episodes", "1", "--workers", "1", "--out", str(tmp_path)]
    one_line_error(capsys, argv, "policy observation shape (3,) does not match")


def test_bad_oracle_and_values(runs, capsys, tmp_path):
    one_line_error(capsys, ["evaluate", str(runs["dr0"]), "--oracle", "heavy"], "TARGET=RUN")
    argv = ["evaluate", str(runs["dr0"]), "--oracle", f"windy={runs['dr1']}"]
    one_line_error(capsys, argv, "unknown target; valid: heavy, weak_motors")
    argv = ["sweep", str(runs["dr0"]), "--param", "link_mass:pole", "--values", "0:1:3"]
    one_line_error(capsys, argv, "it must stay > 0")


def test_oracle_named_as_targets_spells_it(runs, tmp_path):
    from sim2real.errors import UserError
    from sim2real.evaluation.conditions import oracle_runs

    shipped = shipped_dir() / "targets"
    targets = [load_target(shipped / f"cartpole_{n}.yaml") for n in ("heavy", "weak_motors")]
    by_file = {"cartpole_heavy.yaml": runs["dr1"], str(targets[1].path): runs["dr0"]}
    found = oracle_runs(by_file, targets, "sim2real/CartPole-v0")
    assert {name: info.path for name, info in found.items()} == {
        "heavy": runs["dr1"].resolve(),
        "weak_motors": runs["dr0"].resolve(),
    }
    no_suffix = oracle_runs({"cartpole_heavy": runs["dr1"]}, targets, "sim2real/CartPole-v0")
    assert set(no_suffix) == {"heavy"}
    twice = {"heavy": runs["dr1"], "cartpole_heavy.yaml": runs["dr0"]}
    with pytest.raises(UserError, match="target 'heavy' already has an oracle"):
        oracle_runs(twice, targets, "sim2real/CartPole-v0")


def test_oracle_by_a_file_name_two_targets_share_is_refused(runs, tmp_path):
    """Copies of one file in two folders (e.g. two exports' targets): name the target."""
    from sim2real.errors import UserError
    from sim2real.evaluation.conditions import oracle_runs

    shipped = (shipped_dir() / "targets" / "cartpole_heavy.yaml").read_text()
    targets = []
    for name in ("mine", "yours"):
        (tmp_path / name).mkdir()
        copy = tmp_path / name / "cartpole_heavy.yaml"
        copy.write_text(shipped.replace("name: heavy", f"name: {name}"))
        targets.append(load_target(copy))
    env_id = "sim2real/CartPole-v0"
    mine = oracle_runs(
        {str(tmp_path / "mine" / "cartpole_heavy.yaml"): runs["dr1"]}, targets, env_id
    )
    assert set(mine) == {"mine"}
    with pytest.raises(UserError, match="the file name of targets mine, yours; name the target"):
        oracle_runs({"cartpole_heavy.yaml": runs["dr1"]}, targets, env_id)


def test_sweep_refuses_runs_of_two_methods(runs, capsys, tmp_path):
    argv = ["sweep", str(runs["dr0"]), str(runs["nom0"]), "--param", "link_mass:pole"]
    argv += ["--values", "0.1,0.4", "--out", str(tmp_path)]
    one_line_error(capsys, argv, "sweep the seeds of one method at a time")


def shipped_link_masses(name: str) -> dict[str, float]:
    """The link masses a shipped CartPole target sets, computed from its file."""
    env = make_env("sim2real/CartPole-v0", Condition("nominal"))
    try:
        return target_dynamics(env, load_target(shipped_dir() / "targets" / name))["link_mass"]
    finally:
        env.close()
