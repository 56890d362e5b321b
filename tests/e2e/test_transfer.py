"""``sim2real transfer`` and ``sim2real compare`` end to end on tiny CartPole budgets.

One tiny PPO source run (normalization on, 2 envs x 256 steps per rollout) is fine-tuned on
the ``heavy`` target with every strategy for 1024 target steps (2 rollouts), evaluated at
steps 0, 512 and 1024 with 2 episodes; the runs are inspected from every side, compared with
scratch runs of the same budget, and bad input is checked to fail with one line.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stopping import start, stop, wait_for_checkpoint, wait_until  # tests/e2e/stopping.py
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

from sim2real.cli import main
from sim2real.config import parse_config
from sim2real.policies.normalization import load_normalization
from sim2real.runs import Run
from sim2real.targets import load_target, target_dynamics
from sim2real.training import train
from sim2real.transfer import transfer
from sim2real.transfer.freeze import freeze_actor, rebuild_optimizer
from sim2real.transfer.strategies import TransferOptions, resumable

pytestmark = pytest.mark.slow

SIM2REAL = str(Path(sys.executable).with_name("sim2real"))
PYBULLET_BANNER = "pybullet build time:"
BUDGET = 1024
STEPS = [0, 512, 1024]  # evaluations: step 0, then after each rollout of 2 x 256 steps
HEAVY = "cartpole_heavy.yaml"


def tiny_source() -> dict:
    return tiny_ppo(evaluation={"freq_steps": 0, "episodes": 2}, checkpoint={"freq_steps": 0})


def fine_tune(source: Run, folder: Path, strategy: str, name: str, **kwargs) -> Run:
    kwargs.setdefault("eval_freq", 512)
    return transfer(
        source,
        HEAVY,
        BUDGET,
        strategy,
        run_dir=folder / name,
        eval_episodes=2,
        progress_bar=False,
        verbose=False,
        **kwargs,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    folder = tmp_path_factory.mktemp("transfer")
    source = train(
        parse_config(tiny_source()), folder / "source", progress_bar=False, verbose=False
    )
    made = {"source": source}
    for strategy in ("full", "freeze", "lr", "narrow_dr", "scratch"):
        made[strategy] = fine_tune(source, folder, strategy, strategy)
    made["freeze1"] = fine_tune(source, folder, "freeze", "freeze1", freeze_layers=1)
    made["refit"] = fine_tune(source, folder, "full", "refit", normalization="refit")
    made["full_seed1"] = fine_tune(source, folder, "full", "full_seed1", seed=1)
    made["scratch_seed1"] = fine_tune(source, folder, "scratch", "scratch_seed1", seed=1)
    return made


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([SIM2REAL, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith(PYBULLET_BANNER)]


def refused(capsys, *args: str) -> str:
    """Run the CLI in-process (no interpreter start-up per case); its one error line."""
    capsys.readouterr()
    code = main(list(args))
    lines = error_lines(capsys.readouterr().err)
    assert code == 2 and len(lines) == 1, (args, code, lines)
    return lines[0]


def scalars(tb_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def parameters(run: Run) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in run.load_model().policy.named_parameters()}


# -- every strategy writes a complete run directory ---------------------------------------


@pytest.mark.parametrize("strategy", ["full", "freeze", "lr", "narrow_dr", "scratch"])
def test_each_strategy_writes_a_run_dir_with_its_source(runs, strategy):
    run, source = runs[strategy], runs["source"]
    meta = run.meta
    assert meta["source_run"] == str(source.path.resolve())
    assert Path(meta["source_run"]).is_absolute()
    assert meta["strategy"] == strategy and meta["status"] == "finished"
    assert meta["timesteps"] == BUDGET
    assert meta["transfer"]["target"] == "heavy" and meta["transfer"]["budget"] == BUDGET
    assert meta["transfer"]["source_timesteps"] == 4096
    for name in ("config.yaml", "model.zip", "normalization.npz", "summary.json"):
        assert (run.path / name).is_file(), name
    config = run.config
    assert config.name == f"tiny-to-heavy-{strategy}"
    assert config.total_timesteps == BUDGET and config.seed == 0
    assert [t.name for t in config.targets] == ["heavy"]
    assert config.algorithm == source.config.algorithm or strategy == "lr"
    history = run.evaluations()
    assert history["timesteps"] == STEPS
    assert list(history["curves"]) == ["nominal", "heavy"]
    for name, curve in history["curves"].items():
        np.testing.assert_allclose(curve, [np.mean(r) for r in history["returns"][name]])
    # TensorBoard shows the same target learning curve, starting at step 0.
    tb = scalars(run.tb_dir, "eval/heavy/mean_return")
    assert [step for step, _ in tb] == STEPS
    np.testing.assert_allclose([value for _, value in tb], history["curves"]["heavy"])
    assert run.load_model().num_timesteps == BUDGET


def test_fine_tuned_runs_start_from_the_source_policy(runs):
    """Step 0 is the source policy on the target: one value for every fine-tuning strategy."""
    first = {s: runs[s].evaluations()["returns"]["heavy"][0] for s in ("full", "freeze", "lr")}
    assert first["full"] == first["freeze"] == first["lr"]
    assert runs["narrow_dr"].evaluations()["returns"]["heavy"][0] == first["full"]
    source_params, full_params = parameters(runs["source"]), parameters(runs["full"])
    assert all(not torch.equal(source_params[k], full_params[k]) for k in source_params)
    # The scratch model shares no weights with the source.
    scratch_params = parameters(runs["scratch"])
    assert not torch.equal(scratch_params["action_net.weight"], source_params["action_net.weight"])


def test_training_world_is_the_target(runs):
    """Every reset of the transfer config's env lands on the target's dynamics exactly."""
    config = runs["full"].config
    target = load_target(config.targets[0].path)
    env = gym.make(config.env.id, randomization=config.randomization)
    try:
        expected = target_dynamics(env, target)
        for seed in range(3):
            _, info = env.reset(seed=seed)
            assert info["dynamics"] == expected
    finally:
        env.close()


def test_narrow_dr_draws_around_the_target(runs):
    config = runs["narrow_dr"].config
    env = gym.make(config.env.id, randomization=config.randomization)
    try:
        nominal = env.unwrapped.get_dynamics()
        target = target_dynamics(env, load_target(config.targets[0].path))
        draws = [env.reset(seed=seed)[1]["dynamics"] for seed in range(20)]
    finally:
        env.close()
    # heavy scales both masses; each draw lies within +-10% of the target's value.
    for link in ("pole", "cart"):
        center = target["link_mass"][link]
        assert center != nominal["link_mass"][link]
        values = np.array([d["link_mass"][link] for d in draws])
        assert np.all(np.abs(values / center - 1.0) <= 0.1 + 1e-9), (link, values)
        assert np.ptp(values) > 0.05 * center  # really drawn, not fixed
    for draw in draws:  # what the target does not change stays nominal
        assert draw["joint_damping"] == nominal["joint_damping"]
        assert draw["gravity"] == nominal["gravity"]


def test_lr_strategy_scales_the_schedule(runs):
    assert runs["lr"].config.algorithm.hyperparams["learning_rate"] == "lin_0.0001"
    assert runs["lr"].meta["transfer"]["lr_scale"] == 0.1
    # SB3 logs the rate at each update; the first comes after 512 of 1024 steps, so the
    # linear schedule (restarted over the budget) is at half its initial value.
    lr = scalars(runs["lr"].tb_dir, "train/learning_rate")
    full = scalars(runs["full"].tb_dir, "train/learning_rate")
    assert lr[0][1] == pytest.approx(0.5e-4, rel=1e-5)
    assert full[0][1] == pytest.approx(0.5e-3, rel=1e-5)


# -- freezing really freezes ---------------------------------------------------------------


def test_freeze_keeps_frozen_weights_bit_identical(runs):
    before, after = parameters(runs["source"]), parameters(runs["freeze"])
    frozen = runs["freeze"].meta["transfer"]["freeze"]["frozen"]
    assert sorted(frozen) == sorted(k for k in before if k.startswith("mlp_extractor.policy_net"))
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    # The head and the critic trained.
    for name in ("action_net.weight", "action_net.bias", "mlp_extractor.value_net.0.weight"):
        assert not torch.equal(before[name], after[name]), name


def test_freeze_one_layer_freezes_only_the_first(runs):
    before, after = parameters(runs["source"]), parameters(runs["freeze1"])
    for name in ("mlp_extractor.policy_net.0.weight", "mlp_extractor.policy_net.0.bias"):
        assert torch.equal(before[name], after[name]), name
    for name in ("mlp_extractor.policy_net.2.weight", "action_net.weight"):
        assert not torch.equal(before[name], after[name]), name
    assert runs["freeze1"].meta["transfer"]["freeze"]["layers_frozen"] == 1


def test_freeze_rebuilds_the_optimizer_of_an_off_policy_actor():
    from stable_baselines3 import SAC

    env = gym.make("sim2real/CartPole-v0")
    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=20,
        batch_size=16,
        buffer_size=1000,
        seed=0,
        policy_kwargs={"net_arch": [16, 16]},
    )
    try:
        optimizer = model.actor.optimizer
        first = model.actor.latent_pi[0].weight
        optimizer.state[first] = {"marker": torch.tensor(1.0)}
        head = model.actor.mu.weight
        optimizer.state[head] = {"marker": torch.tensor(2.0)}
        report = freeze_actor(model).layers
        assert model.actor.optimizer is not optimizer
        kept = {id(p) for g in model.actor.optimizer.param_groups for p in g["params"]}
        assert id(first) not in kept and id(head) in kept
        assert model.actor.optimizer.state[head]["marker"] == 2.0  # moments kept
        assert report.frozen == (
            "actor.latent_pi.0.weight",
            "actor.latent_pi.0.bias",
            "actor.latent_pi.2.weight",
            "actor.latent_pi.2.bias",
        )
        optimizer = model.actor.optimizer
        optimizer.state.clear()  # the markers above are not real Adam state
        before = {n: p.detach().clone() for n, p in model.actor.named_parameters()}
        model.learn(100)
        after = dict(model.actor.named_parameters())
        for name in ("latent_pi.0.weight", "latent_pi.2.bias"):
            assert torch.equal(before[name], after[name]), name
        assert not torch.equal(before["mu.weight"], after["mu.weight"])
    finally:
        env.close()


def test_rebuild_optimizer_keeps_group_settings():
    layer = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(
        [{"params": [layer.weight], "lr": 0.5}, {"params": [layer.bias], "lr": 0.1}],
        weight_decay=0.01,
    )
    layer.weight.requires_grad_(False)
    rebuilt = rebuild_optimizer(optimizer)
    assert len(rebuilt.param_groups) == 1
    group = rebuilt.param_groups[0]
    assert group["params"] == [layer.bias] and group["lr"] == 0.1 and group["weight_decay"] == 0.01


# -- normalization -------------------------------------------------------------------------


def test_normalization_keep_refit_and_fresh(runs):
    source = load_normalization(runs["source"].normalization_path)
    kept = load_normalization(runs["full"].normalization_path)
    refit = load_normalization(runs["refit"].normalization_path)
    fresh = load_normalization(runs["scratch"].normalization_path)
    np.testing.assert_array_equal(kept.obs_mean, source.obs_mean)
    np.testing.assert_array_equal(kept.obs_var, source.obs_var)
    assert kept.obs_count == source.obs_count
    # refit continued from the source statistics with the target's 1024 (+ reset) samples.
    assert refit.obs_count > source.obs_count and not np.array_equal(
        refit.obs_mean, source.obs_mean
    )
    assert fresh.obs_count < source.obs_count
    assert [runs[s].meta["transfer"]["normalization"] for s in ("full", "refit", "scratch")] == [
        "keep",
        "refit",
        "fresh",
    ]


# -- compare -------------------------------------------------------------------------------


def test_compare_cli_writes_a_report_with_checkable_numbers(runs, tmp_path):
    transfer_runs = [runs["full"].path, runs["full_seed1"].path]
    scratch_runs = [runs["scratch"].path, runs["scratch_seed1"].path]
    out = tmp_path / "report"
    result = run_cli(
        "compare", *map(str, transfer_runs), "--scratch", *map(str, scratch_runs), "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    for name in ("report.md", "report.json", "learning_curves.png", "learning_curves.csv"):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    report = json.loads((out / "report.json").read_text())
    assert report["timesteps"] == STEPS and report["source_samples_counted"] is False
    transfer_curves = np.array([Run(p).evaluations()["curves"]["heavy"] for p in transfer_runs])
    scratch_curves = np.array([Run(p).evaluations()["curves"]["heavy"] for p in scratch_runs])
    metrics = report["methods"]["tiny-to-heavy-full"]["metrics"]
    assert metrics["n_transfer"] == 2 and metrics["n_scratch"] == 2
    jumpstart = transfer_curves[:, 0].mean() - scratch_curves[:, 0].mean()
    assert metrics["jumpstart"]["value"] == pytest.approx(jumpstart)
    # 3 points: the asymptote is the last point; AUC is the trapezoid over 0, 512, 1024.
    assert metrics["asymptotic_scratch"]["value"] == pytest.approx(scratch_curves[:, -1].mean())
    auc_t = (512 * (transfer_curves[:, :-1] + transfer_curves[:, 1:]) / 2).sum(axis=1).mean()
    auc_s = (512 * (scratch_curves[:, :-1] + scratch_curves[:, 1:]) / 2).sum(axis=1).mean()
    assert metrics["auc_transfer"]["value"] == pytest.approx(auc_t)
    assert metrics["transfer_ratio"]["value"] == pytest.approx((auc_t - auc_s) / abs(auc_s))
    assert report["threshold"] == pytest.approx(0.9 * scratch_curves[:, -1].mean())
    ci = metrics["jumpstart"]
    assert ci["ci_low"] <= ci["value"] <= ci["ci_high"]
    markdown = (out / "report.md").read_text()
    assert "NOT counted" in markdown and "![learning_curves](learning_curves.png)" in markdown


def with_curve(run: Run, folder: Path, name: str, curve: list[float]) -> Path:
    """A copy of ``run`` whose target learning curve is ``curve`` (at steps 0, 512, 1024)."""
    copy = folder / name
    shutil.copytree(run.path, copy)
    history = json.loads((copy / "evaluations.json").read_text())
    history["curves"]["heavy"] = curve
    (copy / "evaluations.json").write_text(json.dumps(history))
    return copy


def test_compare_hand_computed_metrics(runs, tmp_path):
    from sim2real.evaluation.compare import compare_runs

    transfer_runs = [
        with_curve(runs["full"], tmp_path, "t0", [100.0, 200.0, 300.0]),
        with_curve(runs["full_seed1"], tmp_path, "t1", [200.0, 300.0, 400.0]),
    ]
    scratch_runs = [
        with_curve(runs["scratch"], tmp_path, "s0", [0.0, 100.0, 200.0]),
        with_curve(runs["scratch_seed1"], tmp_path, "s1", [0.0, 100.0, 200.0]),
    ]
    comparison = compare_runs(transfer_runs, scratch_runs, n_boot=200)
    metrics = comparison.methods[0].metrics
    assert metrics.jumpstart.value == 150.0  # (100 + 200) / 2 - 0
    assert (metrics.asymptotic_transfer.value, metrics.asymptotic_scratch.value) == (350.0, 200.0)
    # AUC: 512 * (100 + 200) / 2 + 512 * (200 + 300) / 2 = 204800; seed 1: 307200; scratch 102400.
    assert metrics.auc_transfer.value == 256000.0 and metrics.auc_scratch.value == 102400.0
    assert metrics.transfer_ratio.value == pytest.approx(1.5)
    assert comparison.threshold == pytest.approx(180.0)  # 90% of 200
    # Transfer seeds reach 180 at step 512 and 0; scratch at 1024.
    assert metrics.time_to_threshold_transfer.value == 256.0
    assert metrics.time_to_threshold_scratch.value == 1024.0
    assert (metrics.jumpstart.ci_low, metrics.jumpstart.ci_high) == (100.0, 200.0)


def test_compare_bad_input_is_one_line(runs, tmp_path, capsys):
    full, scratch = str(runs["full"].path), str(runs["scratch"].path)
    other_target = tmp_path / "other"
    shutil.copytree(runs["scratch"].path, other_target)
    meta = json.loads((other_target / "run.json").read_text())
    meta["transfer"]["target"] = "slippery"
    (other_target / "run.json").write_text(json.dumps(meta))
    no_evaluations = tmp_path / "no_evaluations"
    shutil.copytree(runs["full_seed1"].path, no_evaluations)
    (no_evaluations / "evaluations.json").unlink()
    cases = {
        "a fine-tuned run cannot be the scratch baseline": [full, "--scratch", full],
        "give scratch runs after --scratch": [scratch, "--scratch", scratch],
        "target 'slippery'": [full, "--scratch", str(other_target)],
        "0 evaluation(s) on target 'heavy'": [full, str(no_evaluations), "--scratch", scratch],
        "not a transfer run": [full, "--scratch", str(runs["source"].path)],
        "not a run directory": [full, "--scratch", str(tmp_path)],
    }
    for message, args in cases.items():
        assert message in refused(capsys, "compare", *args, "--out", str(tmp_path / "never"))
    assert not (tmp_path / "never").exists()


def test_compare_says_when_a_longer_run_is_cut_and_refuses_a_file_as_its_report(
    runs, tmp_path, capsys, monkeypatch
):
    longer = tmp_path / "longer"  # a scratch run with one more evaluation, at 1536 steps
    shutil.copytree(runs["scratch_seed1"].path, longer)
    history = json.loads((longer / "evaluations.json").read_text())
    history["timesteps"].append(1536)
    for field in ("curves", "returns"):
        for values in history[field].values():
            values.append(values[-1])
    (longer / "evaluations.json").write_text(json.dumps(history))
    full, scratch = str(runs["full"].path), str(runs["scratch"].path)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["compare", full, "--scratch", scratch, str(longer)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: {longer} was evaluated up to 1,536 target steps; every curve is compared up to "
        "1,024, where all runs have one"
    ]
    shutil.rmtree(tmp_path / "reports")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "compare-heavy").write_text("not a directory")
    assert "compare-heavy" in refused(capsys, "compare", full, "--scratch", scratch)


# -- the transfer command ------------------------------------------------------------------


def test_a_reader_of_stderr_that_leaves_silences_it_not_the_run(runs, tmp_path):
    """``sim2real transfer ... |& head``: the rounding note meets a closed pipe before any
    learning; the run still goes to its end (it used to stop there with exit code 1)."""
    process = subprocess.Popen(
        [SIM2REAL, "transfer", str(runs["source"].path), "--target", HEAVY, "--budget", "300",
         "--eval-episodes", "1", "--no-progress", "--run-dir", "run"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    process.stderr.close()  # the reader leaves before the first line
    assert process.wait(timeout=240) == 0
    assert Run.open(tmp_path / "run").meta["status"] == "finished"


def test_transfer_cli_runs_and_refuses_bad_input(runs, tmp_path, capsys, monkeypatch):
    source = str(runs["source"].path)
    result = run_cli(
        "transfer", source, "--target", HEAVY, "--budget", "300", "--strategy", "freeze",
        "--freeze", "2", "--eval-episodes", "1", "--no-progress", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "300 is not a multiple of one rollout (n_steps x n_envs = 512)" in result.stderr
    made = Run.open(tmp_path / "runs" / "tiny-to-heavy-freeze-seed0")
    assert made.meta["strategy"] == "freeze" and made.meta["status"] == "finished"
    # The budget is rounded up to one whole rollout: the samples recorded are those collected.
    assert made.meta["timesteps"] == made.meta["transfer"]["target_samples"] == 512
    assert made.evaluations()["timesteps"][0] == 0
    elsewhere = ["--run-dir", str(tmp_path / "x")]
    cases = {
        "no target file 'nope.yaml'": [source, "--target", "nope.yaml", *elsewhere],
        "field 'env_id' = 'sim2real/Hopper-v0'": [source, "--target", "hopper_heavy.yaml"],
        "not a run directory": [str(tmp_path), "--target", HEAVY, *elsewhere],
        "applies to --strategy lr only": [source, "--target", HEAVY, "--lr-scale", "0.5"],
        "valid: 1..2": [
            source,
            "--target",
            HEAVY,
            "--strategy",
            "freeze",
            "--freeze",
            "3",
            *elsewhere,
        ],
        "is the source run itself": [source, "--target", HEAVY, "--run-dir", source],
    }
    monkeypatch.chdir(tmp_path)
    for message, args in cases.items():
        assert message in refused(capsys, "transfer", *args, "--budget", "256")
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["tiny-to-heavy-freeze-seed0"]


@pytest.mark.parametrize(
    ("strategy", "normalization", "normalizes", "expected"),
    [
        ("scratch", "keep", True, True),  # fresh statistics: an ordinary training run
        ("full", "refit", True, True),
        ("lr", "keep", False, True),  # nothing to freeze when the source does not normalize
        ("narrow_dr", "keep", True, False),  # the source's statistics stay fixed
        ("full", "keep", True, False),
        ("freeze", "refit", True, False),  # a frozen actor is not in config.yaml
    ],
)
def test_resumable_when_config_says_all_it_trains(strategy, normalization, normalizes, expected):
    normalize = {"observations": normalizes, "rewards": normalizes}
    source = parse_config(tiny_ppo(normalize=normalize))
    options = TransferOptions(strategy, normalization=normalization)
    assert resumable(source, options) is expected


def test_a_stopped_scratch_transfer_resumes_with_train(tmp_path):
    """An oracle cut off (Ctrl-C) keeps a checkpoint and `train --resume` finishes it, with its
    transfer metadata and the learning curve from step 0; a frozen-statistics one says why not."""
    config = tiny_ppo(
        total_timesteps=512,
        evaluation={"freq_steps": 0, "episodes": 1},
        checkpoint={"freq_steps": 512},
    )
    source = train(parse_config(config), tmp_path / "source", progress_bar=False, verbose=False)
    run_dir, budget = tmp_path / "oracle", 4096
    process = start(
        "transfer",
        [str(source.path), "--target", HEAVY, "--budget", str(budget), "--strategy", "scratch",
         "--run-dir", str(run_dir), "--eval-freq", "2048", "--eval-episodes", "1"],
        cwd=tmp_path,
    )  # fmt: skip
    wait_for_checkpoint(process, run_dir)
    code, out, err = stop(process, signal.SIGINT, group=True)
    assert code == 130, err
    run = Run.open(run_dir)
    stopped_at = run.meta["timesteps"]
    assert run.meta["status"] == "interrupted" and 0 < stopped_at < budget
    assert run.latest_checkpoint().name == f"step_{stopped_at:09d}"
    assert f"continue with: sim2real train --resume {run_dir}" in out

    result = run_cli("train", "--resume", str(run_dir), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    meta = run.meta
    assert meta["status"] == "finished" and budget <= meta["timesteps"] < budget + 512
    assert (meta["strategy"], meta["transfer"]["strategy"]) == ("scratch", "scratch")
    assert meta["transfer"]["target_samples"] == budget
    steps = run.evaluations()["timesteps"]
    assert steps[0] == 0 and steps[-1] == meta["timesteps"]

    kept = tmp_path / "keep"  # fine-tuning with the source's statistics frozen
    process = start(
        "transfer",
        [str(source.path), "--target", HEAVY, "--budget", str(budget), "--run-dir", str(kept),
         "--eval-freq", "2048", "--eval-episodes", "1"],
        cwd=tmp_path,
    )  # fmt: skip
    wait_until(process, (kept / "evaluations.json").is_file, "the evaluation at step 0")
    code, out, err = stop(process, signal.SIGINT, group=True)
    assert code == 130, err
    assert "a transfer with frozen normalization statistics is not resumable" in out
    assert not (kept / "checkpoints").exists() or not any((kept / "checkpoints").iterdir())
    result = run_cli("train", "--resume", str(kept), "--no-progress", cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "no checkpoint to resume from" in lines[0] and "run the transfer again" in lines[0]
