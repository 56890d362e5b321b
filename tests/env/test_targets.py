"""Targets: files load, bind to their env, land exactly, and sit inside the DR training ranges."""

from __future__ import annotations

import numpy as np
import pytest

from sim2real.config import load_config, resolve_config_path
from sim2real.envs import env_ids
from sim2real.errors import UserError
from sim2real.randomization import SpecError, bind, from_named
from sim2real.randomization.binding import value_bounds
from sim2real.targets import (
    apply_target,
    bind_target,
    env_prefix,
    load_target,
    shipped_targets,
    shipped_targets_named,
    target_dynamics,
)

TARGET_NAMES = ("hard", "heavy", "laggy", "noisy_sensors", "slippery", "weak_motors")
HELD_OUT = "held_out"  # a target outside the training ranges, on purpose
DR_CONFIG = {
    "sim2real/CartPole-v0": "cartpole_dr.yaml",
    "sim2real/Hopper-v0": "hopper_dr_ppo.yaml",
    "sim2real/Walker2D-v0": "walker2d_dr_ppo.yaml",
    "sim2real/HalfCheetah-v0": "halfcheetah_dr_ppo.yaml",
    "sim2real/Ant-v0": "ant_dr_ppo.yaml",
    "sim2real/A1-v0": "a1_dr_ppo.yaml",
    "sim2real/Reacher-v0": "reacher_dr_ppo.yaml",
}


def write(tmp_path, text: str, name: str = "t.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("env_id", env_ids())
def test_every_env_ships_the_six_targets(env_id, make_env):
    targets = shipped_targets(env_id)
    expected = set(TARGET_NAMES)
    if "lateral_friction" not in make_env(env_id).unwrapped.layout.elements:
        expected -= {"slippery"}  # nothing to slip on (the Reacher): a sixth target of its own
        assert len(targets) >= len(TARGET_NAMES)
    assert expected <= {t.name for t in targets}
    for target in targets:
        assert target.env_id == env_id
        assert target.path.name == f"{env_prefix(env_id)}_{target.name}.yaml"
        assert target.description


@pytest.mark.parametrize("env_id", env_ids())
def test_targets_bind_and_shift_something(env_id, make_env):
    env = make_env(env_id)
    nominal = env.unwrapped.get_dynamics()
    for target in shipped_targets(env_id):
        dynamics = target_dynamics(env, target)
        assert dynamics.keys() == nominal.keys()
        assert dynamics != nominal or target.actuator is not None, target.name
        latency = dynamics["action_latency_s"]
        steps = latency / env.unwrapped.physics_dt  # the latency quantum
        assert steps == pytest.approx(round(steps), abs=1e-9), target.name


@pytest.mark.parametrize("env_id", env_ids())
def test_targets_lie_inside_the_training_ranges(env_id, make_env):
    """Each shifted value is reachable by the DR config's spec (inside or at its edge)."""
    cfg = load_config(DR_CONFIG[env_id])
    env = make_env(env_id)
    unwrapped = env.unwrapped
    bound = bind(cfg.randomization, unwrapped.layout, unwrapped.nominal, unwrapped.control_dt)
    for target in cfg.targets:
        if target.name == HELD_OUT:
            continue  # outside the ranges on purpose: test_held_out_targets_lie_outside
        shifted = from_named(target_dynamics(env, target), unwrapped.layout, unwrapped.nominal)
        for parameter, values in shifted.items():
            changed = np.flatnonzero(~np.isclose(values, unwrapped.nominal[parameter]))
            for index in changed:
                covering = [b for b in bound.terms if b.term.parameter == parameter]
                lows, highs = [], []
                for b in covering:
                    if index in b.indices:
                        low, high = value_bounds(b.term, unwrapped.nominal[parameter][b.indices])
                        position = list(b.indices).index(index)
                        lows.append(low[position])
                        highs.append(high[position])
                where = f"{target.name}: {parameter}[{index}] = {values[index]}"
                assert lows, f"{where} is not randomized in training"
                assert min(lows) - 1e-9 <= values[index] <= max(highs) + 1e-9, where


@pytest.mark.parametrize(
    "env_id", [e for e in env_ids() if any(t.name == HELD_OUT for t in shipped_targets(e))]
)
def test_held_out_targets_lie_outside_the_training_ranges(env_id, make_env):
    """Every value a held-out target shifts is beyond what the DR config ever draws."""
    cfg = load_config(DR_CONFIG[env_id])
    env = make_env(env_id)
    unwrapped = env.unwrapped
    bound = bind(cfg.randomization, unwrapped.layout, unwrapped.nominal, unwrapped.control_dt)
    (target,) = [t for t in shipped_targets(env_id) if t.name == HELD_OUT]
    assert "OUTSIDE" in target.description
    shifted = from_named(target_dynamics(env, target), unwrapped.layout, unwrapped.nominal)
    for parameter, values in shifted.items():
        for index in np.flatnonzero(~np.isclose(values, unwrapped.nominal[parameter])):
            for b in bound.terms:
                if b.term.parameter == parameter and index in b.indices:
                    low, high = value_bounds(b.term, unwrapped.nominal[parameter][b.indices])
                    position = list(b.indices).index(index)
                    assert not low[position] <= values[index] <= high[position], parameter


def test_cartpole_target_values(make_env):
    env = make_env("sim2real/CartPole-v0")
    by_name = {t.name: t for t in shipped_targets("sim2real/CartPole-v0")}
    heavy = target_dynamics(env, by_name["heavy"])
    assert heavy["link_mass"]["pole"] == pytest.approx(0.3)
    assert heavy["link_mass"]["cart"] == pytest.approx(4.0)
    slippery = target_dynamics(env, by_name["slippery"])
    assert slippery["joint_damping"] == {"slider_to_cart": 0.0, "cart_to_pole": 0.0}
    assert slippery["link_mass"] == {"cart": 1.0, "pole": 0.1}


def test_apply_target_lands_and_survives_resets(make_env):
    env = make_env("sim2real/CartPole-v0")
    target = next(t for t in shipped_targets("sim2real/CartPole-v0") if t.name == "hard")
    expected = target_dynamics(env, target)
    apply_target(env, target)
    apply_target(env, target)  # from nominal again: no compounding
    for seed in (0, 1):
        _, info = env.reset(seed=seed)
        assert info["dynamics"] == expected


def test_laggy_target_really_delays_commands(make_env):
    env = make_env("sim2real/CartPole-v0")
    target = next(t for t in shipped_targets("sim2real/CartPole-v0") if t.name == "laggy")
    steps = round(target_dynamics(env, target)["action_latency_s"] / env.unwrapped.control_dt)
    apply_target(env, target)
    env.reset(seed=0)
    velocities = []
    for _ in range(steps + 1):
        observation, *_ = env.step(np.array([1.0], dtype=np.float32))
        velocities.append(observation[1])
    # The push only reaches the cart after the latency: velocity jumps on the last step.
    assert abs(velocities[-1] - velocities[-2]) > 10 * abs(velocities[1] - velocities[0])


def test_target_for_another_env_is_refused(make_env):
    env = make_env("sim2real/CartPole-v0")
    target = shipped_targets("sim2real/Hopper-v0")[0]
    with pytest.raises(UserError, match="does not match the env 'sim2real/CartPole-v0'"):
        target_dynamics(env, target)


def test_target_latency_must_be_whole_control_steps(tmp_path, make_env):
    path = write(
        tmp_path,
        "name: lag\nenv_id: sim2real/CartPole-v0\n"
        "terms: [{parameter: action_latency_s, operation: abs, value: 0.03}]\n",
    )
    env = make_env("sim2real/CartPole-v0")
    with pytest.raises(SpecError, match="not a multiple of the control step"):
        bind_target(env, load_target(path))


def test_target_with_unknown_link_fails_at_binding(tmp_path, make_env):
    path = write(
        tmp_path,
        "name: x\nenv_id: sim2real/CartPole-v0\n"
        "terms: [{parameter: link_mass, selector: wheel, value: 2.0}]\n",
    )
    target = load_target(path)
    with pytest.raises(SpecError, match="'wheel' matches nothing; valid: cart, pole"):
        target_dynamics(make_env("sim2real/CartPole-v0"), target)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nenv_id: sim2real/CartPole-v0\nterms: []\n", "non-empty list"),
        ("name: x\nenv_id: sim2real/CartPole-v0\nterms: []\ncolour: red\n", "'colour'"),
        ("env_id: sim2real/CartPole-v0\nterms: [{parameter: gravity, value: 1}]\n", "'name'"),
        ("name: x\nenv_id: CartPole-v1\nterms: [{parameter: gravity, value: 1}]\n", "valid: sim2"),
        (
            "name: dr\nenv_id: sim2real/CartPole-v0\nterms: [{parameter: gravity, value: 1}]\n",
            "reserved",
        ),
        (
            "name: a b\nenv_id: sim2real/CartPole-v0\nterms: [{parameter: gravity, value: 1}]\n",
            "field 'name' = 'a b'",
        ),
        (
            "name: x\nenv_id: sim2real/CartPole-v0\n"
            "terms: [{parameter: gravity, range: [0.9, 1.1]}]\n",
            "terms[0]' (gravity) is not fixed",
        ),
        (
            "name: x\nenv_id: sim2real/CartPole-v0\nterms: [{parameter: gravity, value: 1, "
            "when: interval, interval_s: 1.0}]\n",
            "terms[0].when' = 'interval'",
        ),
        ("- 1\n", "a target must be a mapping"),
        ("terms: [{parameter: gravity, range: [0.9, 1.1]}]\n", "is a randomization spec"),
        ("name: x\nalgorithm: {name: PPO, hyperparams: {n_steps: 8}}\n", "is an experiment config"),
    ],
)
def test_bad_target_files(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as caught:
        load_target(path)
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_missing_target_file(tmp_path):
    with pytest.raises(UserError, match="target file does not exist"):
        load_target(tmp_path / "nope.yaml")


def test_a_target_cannot_hold_events(tmp_path):
    path = tmp_path / "pushy.yaml"
    path.write_text(
        "name: pushy\nenv_id: sim2real/CartPole-v0\nterms:\n"
        "  - {event: push_impulse, value: 1.0, interval_s: 1.0}\n"
    )
    with pytest.raises(UserError, match="pushy.yaml: field 'terms' has event 'push_impulse'"):
        load_target(path)


def test_targets_of_one_name_merge_when_equal_and_are_refused_when_not(tmp_path):
    from sim2real.evaluation.conditions import unique_targets

    shipped = load_target(resolve_config_path("cartpole_hard.yaml", kind="target"))
    text = shipped.path.read_text()
    copy = tmp_path / "copy.yaml"
    copy.write_text(text)
    merged = unique_targets([shipped, load_target(copy)])
    assert [t.name for t in merged] == ["hard"]  # one row: the same dynamics
    other = tmp_path / "other.yaml"
    other.write_text(text.replace("value: 0.4", "value: 0.5"))
    with pytest.raises(UserError, match="field 'name' = 'hard' is also the name of"):
        unique_targets([shipped, load_target(other)])


def test_shipped_targets_named_keeps_file_order_and_refuses_unknown_names() -> None:
    env_id = "sim2real/CartPole-v0"
    chosen = shipped_targets_named(env_id, ["slippery", "hard"], "option '--targets'")
    assert [t.name for t in chosen] == ["hard", "slippery"]
    everything = [t.name for t in shipped_targets(env_id)]
    for none_given in (None, []):
        assert [t.name for t in shipped_targets_named(env_id, none_given, "x")] == everything
    with pytest.raises(UserError) as error:
        shipped_targets_named(env_id, ["hard", "hevy"], "option '--targets'")
    message = str(error.value)
    assert message.startswith("option '--targets': hevy: no shipped target of sim2real/CartPole-v0")
    assert "valid: " + ", ".join(everything) in message and "\n" not in message
