"""ADR against real envs: config validation, the state made for an env, pinned bounds landing in
the simulator, and the callback's one-episode-ahead bookkeeping on dummy and subprocess envs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.vec_env import DummyVecEnv

from sim2real.callbacks.adr import AdrCallback
from sim2real.config import config_to_dict, load_config, parse_config
from sim2real.env_workers import WorkerVecEnv
from sim2real.errors import UserError
from sim2real.training import EnvFactory
from sim2real.transfer.adr import Assignment
from sim2real.transfer.adr_run import make_adr

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ADR = {"threshold_high": 100, "threshold_low": 20}


def cartpole(**changes) -> dict:
    config = {
        "name": "adr",
        "env": {"id": "sim2real/CartPole-v0"},
        "randomization": "randomization/cartpole_dr.yaml",
        "algorithm": {"name": "PPO"},
        "total_timesteps": 1000,
        "adr": dict(ADR),
    }
    config.update(changes)
    return config


@pytest.mark.parametrize("name", ["cartpole_adr.yaml", "hopper_adr_ppo.yaml"])
def test_shipped_adr_configs_load_and_round_trip(name, tmp_path):
    cfg = load_config(CONFIGS / name)
    assert cfg.adr is not None and cfg.adr.threshold_low < cfg.adr.threshold_high
    dumped = tmp_path / "dump.yaml"
    dumped.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    assert load_config(dumped) == cfg


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"randomization": None},
            r"config.yaml: field 'adr' widens the uniform or log-uniform ranges .* remove 'adr'$",
        ),
        (
            {"adr": {"threshold_high": 100, "threshold_low": 100}},
            r"field 'adr.threshold_low' = 100.0; must be below adr.threshold_high = 100$",
        ),
        (
            {"adr": {**ADR, "steps": {"link_mass": 0.1}}},
            r"field 'adr.steps.link_mass' = 0.1; not an ADR parameter of the spec; valid: "
            r"link_mass:pole, link_mass:cart, joint_damping",
        ),
        (
            {"adr": {**ADR, "buffer": 3}},
            r"field 'adr.buffer' = 3; not a known field; valid: threshold_high, threshold_low, "
            r"boundary_probability, buffer_size",
        ),
        ({"adr": {**ADR, "boundary_probability": 0}}, r"field 'adr.boundary_probability' = 0;"),
        (
            {"adr": {**ADR, "step_fraction": float("nan")}},
            r"field 'adr.step_fraction' = nan; Input should be a finite number",
        ),
        ({"adr": {"threshold_high": 100}}, r"field 'adr.threshold_low' is required"),
        (
            {"adr": {**ADR, "initial": {"gravity:x": [1, 1]}}},
            r"field 'adr.initial.gravity:x' = \[1.0, 1.0\]; not an ADR parameter of the spec",
        ),
        (
            {"adr": {**ADR, "initial": {"link_mass:pole": [0.4, 1.0]}}},
            r"field 'adr.initial.link_mass:pole' = \[0.4, 1.0\]; expected \[low, high\] with "
            r"low <= high inside the spec's range \[0.5, 3\] \(the hard limits\)",
        ),
        (
            {"adr": {**ADR, "initial": {"gravity": [1.05, 0.95]}}},
            r"field 'adr.initial.gravity' = \[1.05, 0.95\]; expected \[low, high\]",
        ),
        ({"adr": {**ADR, "initial": {"gravity": [1.0]}}}, r"field 'adr.initial.gravity' = \[1.0\]"),
        (
            {"adr": {**ADR, "initial": {"gravity": ["x", 1]}}},
            r"field 'adr.initial.gravity\[0\]' = 'x'",
        ),
        ({"adr": {**ADR, "warmup_steps": -1}}, r"field 'adr.warmup_steps' = -1;"),
    ],
)
def test_bad_adr_sections_are_one_line(changes, message, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cartpole(**changes)))
    with pytest.raises(UserError, match=message) as raised:
        load_config(path)
    assert "\n" not in str(raised.value)


def test_set_overrides_reach_the_adr_section(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cartpole()))
    assert load_config(path, ["adr.buffer_size=7"]).adr.buffer_size == 7
    with pytest.raises(UserError, match=r"\(--set adr.threshold_low=500\): field 'adr.thr"):
        load_config(path, ["adr.threshold_low=500"])


def test_adr_for_an_env_reads_nominal_values_and_latency_steps():
    adr = make_adr(parse_config(cartpole(adr={**ADR, "step_fraction": 0.1})))
    latency = adr.parameters["action_latency_s"]
    # cartpole_dr.yaml: latency abs [0, 0.06] s; 10% is 0.006 s, one control step is 0.02 s.
    assert (latency.center, latency.step) == (0.0, 0.02)
    assert adr.parameters["link_mass:pole"].step == pytest.approx(0.25)
    assert adr.bounds["link_mass:pole"] == [1.0, 1.0]
    halfway = make_adr(parse_config(cartpole(adr={**ADR, "initial_fraction": 0.5})))
    assert halfway.bounds["link_mass:pole"] == [0.75, 2.0]
    assert halfway.bounds["action_latency_s"] == [0.0, 0.04]  # 0.03 s rounded to 2 steps
    given = {"link_mass:pole": [1.5, 2.0], "action_latency_s": [0.0, 0.03]}
    started = make_adr(parse_config(cartpole(adr={**ADR, "initial": given})))
    assert started.bounds["link_mass:pole"] == [1.0, 2.0]  # widened to hold the nominal 1.0
    assert started.bounds["action_latency_s"] == [0.0, 0.04]  # 0.03 s rounded to 2 steps
    assert started.bounds["link_mass:cart"] == [1.0, 1.0]  # the others start at nominal


def test_a_pinned_bound_lands_in_the_simulator():
    adr = make_adr(parse_config(cartpole()))
    adr.bounds["link_mass:pole"] = [0.75, 1.5]
    env = gym.make("sim2real/CartPole-v0", randomization=adr.spec)
    try:
        nominal = env.unwrapped.nominal["link_mass"].copy()
        pole = env.unwrapped.layout.names("link_mass").index("pole")
        env.unwrapped.set_randomization(adr.episode_spec(Assignment("link_mass:pole", "high", 1.5)))
        for seed in range(3):
            _, info = env.reset(seed=seed)
            part = env.unwrapped.handles.link("pole")
            mass = env.unwrapped.client.getDynamicsInfo(part.body, part.index)[0]
            assert mass == pytest.approx(nominal[pole] * 1.5)
            assert info["dynamics"]["link_mass"]["pole"] == pytest.approx(nominal[pole] * 1.5)
        env.unwrapped.set_randomization(adr.episode_spec())
        masses = {round(env.reset(seed=s)[1]["dynamics"]["link_mass"]["pole"], 6) for s in range(8)}
        assert len(masses) > 1
        assert all(0.75 * nominal[pole] <= m <= 1.5 * nominal[pole] + 1e-9 for m in masses)
    finally:
        env.close()


def test_no_episode_is_pinned_at_a_bound_before_the_warmup_ends():
    config = parse_config(cartpole(adr={**ADR, "boundary_probability": 1.0, "warmup_steps": 500}))
    callback = AdrCallback(make_adr(config), seed=0, write=lambda record: None, warmup_steps=500)
    pushed = []
    venv = SimpleNamespace(env_method=lambda name, spec, indices: pushed.append(spec))
    callback.num_timesteps = 499
    assert [callback._push(venv, 0).is_boundary for _ in range(20)] == [False] * 20
    callback.num_timesteps = 500
    assert all(callback._push(venv, 0).is_boundary for _ in range(20))
    assert len(pushed) == 40


@pytest.mark.parametrize("vec_env", ["dummy", "subproc"])
def test_each_episode_runs_with_the_assignment_the_callback_recorded(vec_env):
    """Every finished episode's dynamics are those of the assignment ADR files its return under."""
    config = parse_config(cartpole(adr={**ADR, "boundary_probability": 0.7}))
    adr = make_adr(config)
    adr.bounds.update({"link_mass:pole": [0.5, 2.0], "motor_strength": [0.5, 1.2]})
    factory = EnvFactory(config.env.id, config.randomization, {}, vec_env == "subproc")
    venv = WorkerVecEnv([factory] * 2, config.env.id) if vec_env == "subproc" else None
    venv = venv or DummyVecEnv([factory] * 2)
    recorded: list[tuple[Assignment, dict]] = []
    callback = AdrCallback(adr, seed=0, write=lambda record: None)
    callback.adr.record = lambda assignment, _: recorded.append(assignment)  # type: ignore[method-assign]
    try:
        callback.model = SimpleNamespace(
            get_env=lambda: venv, num_timesteps=0
        )  # what the callback asks of SB3
        callback.prime(venv)  # before the reset, as training does before learn
        venv.seed(0)
        venv.reset()
        callback._on_training_start()  # SB3 calls it after learn's reset
        finished = []
        for _ in range(400):
            actions = np.array([venv.action_space.sample() for _ in range(2)])
            _, _, dones, infos = venv.step(actions)
            for index in np.flatnonzero(dones):
                finished.append((callback.running[index], infos[index]["episode_dynamics"]))
            callback.locals = {"dones": dones, "infos": infos}
            callback._on_step()
    finally:
        venv.close()
    assert len(finished) >= 10 and recorded == [assignment for assignment, _ in finished]
    pinned = [(a, dynamics) for a, dynamics in finished if a.is_boundary]
    assert pinned and len(pinned) < len(finished)
    nominal_pole_mass = 0.1  # kg, CartPole's pole
    for assignment, dynamics in pinned:
        if assignment.parameter == "link_mass:pole":
            pole = dynamics["link_mass/pole"] / nominal_pole_mass
            assert pole == pytest.approx(assignment.value)
        if assignment.parameter == "motor_strength":
            assert dynamics["motor_strength/slider_to_cart"] == pytest.approx(assignment.value)
