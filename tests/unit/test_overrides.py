"""``--set`` overrides recovered from a config: applied to the shipped config, they rebuild it."""

from __future__ import annotations

import shlex
import shutil

import pytest
import yaml

from sim2real.config import load_config
from sim2real.overrides import Overrides, overrides_between, shipped_overrides
from sim2real.resources import shipped_dir


@pytest.mark.parametrize(
    ("name", "sets"),
    [
        ("a1_dr_ppo.yaml", ["randomization=null", "targets=[]"]),
        (
            "a1_dr_ppo.yaml",
            [
                "env.kwargs.reward_scales.tracking_lin_vel=2.0",
                "env.kwargs.command_ranges.lin_vel_x=[0.1, 0.6]",
                "init_from=/runs/a1 stage one",
            ],
        ),
        ("hopper_dr_ppo.yaml", ["randomization=randomization/hopper_adr_limits.yaml"]),
        ("a1_dr_ppo.yaml", ["env.kwargs.privileged=true", "algorithm.asymmetric=true"]),
        ("hopper_dr_ppo.yaml", ["targets=[targets/hopper_heavy.yaml]", "n_envs=2"]),
        ("hopper_dr_ppo.yaml", ["algorithm.hyperparams.policy_kwargs.net_arch.pi=[64, 64]"]),
        (
            "cartpole_dr.yaml",
            ["randomization={terms: [{parameter: gravity, range: [0.9, 1.1], operation: scale}]}"],
        ),
    ],
)
def test_the_recovered_sets_rebuild_the_config(name, sets):
    config = load_config(name, sets)
    overrides = shipped_overrides(config)
    assert overrides is not None and overrides.unexpressed == ()
    assert len(overrides.sets) == len(sets)
    assert "env.kwargs.privileged=true" in overrides.sets or "privileged" not in str(sets)
    rebuilt = load_config(name, overrides.sets)
    assert overrides_between(config, rebuilt) == Overrides(())


def test_a_shipped_file_is_named_as_a_config_names_it():
    config = load_config(
        "hopper_dr_ppo.yaml", ["randomization=hopper_adr_limits.yaml", "targets=[]"]
    )
    assert shipped_overrides(config).sets == (
        "randomization=randomization/hopper_adr_limits.yaml",
        "targets=[]",
    )


def test_fields_that_change_nothing_learned_are_no_change():
    config = load_config(
        "hopper_dr_ppo.yaml",
        ["seed=7", "device=cuda", "vec_env=subproc", "evaluation.episodes=9", "name=hopper_dr_ppo"],
    )
    assert shipped_overrides(config) == Overrides(())


def test_a_copy_of_the_shipped_files_is_no_change(tmp_path):
    """A run trained from another checkout names other paths for the same specs and targets."""
    copy = tmp_path / "configs"
    shutil.copytree(shipped_dir(), copy)
    assert shipped_overrides(load_config(copy / "hopper_dr_ppo.yaml")) == Overrides(())


def test_a_field_the_shipped_config_has_and_the_run_lacks_is_unexpressed(tmp_path):
    data = yaml.safe_load((shipped_dir() / "hopper_dr_ppo.yaml").read_text())
    del (
        data["algorithm"]["hyperparams"]["use_sde"],
        data["algorithm"]["hyperparams"]["sde_sample_freq"],
    )
    (tmp_path / "hopper_dr_ppo.yaml").write_text(yaml.safe_dump(data))
    shutil.copytree(shipped_dir() / "randomization", tmp_path / "randomization")
    shutil.copytree(shipped_dir() / "targets", tmp_path / "targets")
    overrides = shipped_overrides(load_config(tmp_path / "hopper_dr_ppo.yaml"))
    assert overrides.sets == ()
    assert set(overrides.unexpressed) == {
        "algorithm.hyperparams.use_sde",
        "algorithm.hyperparams.sde_sample_freq",
    }


def test_no_shipped_config_of_the_name_is_none():
    assert shipped_overrides(load_config("hopper_dr_ppo.yaml", ["name=my_hopper"])) is None


def test_the_command_line_quotes_what_the_shell_would_split():
    overrides = Overrides(("targets=[]", "init_from=/runs/a b", "n_envs=2"))
    line = overrides.command_line()
    assert shlex.split(line) == [
        "--set",
        "targets=[]",
        "--set",
        "init_from=/runs/a b",
        "--set",
        "n_envs=2",
    ]


def test_a_spec_file_changed_since_the_run_read_it_is_given_inline(tmp_path):
    spec = tmp_path / "mine.yaml"
    shutil.copy(shipped_dir() / "randomization" / "hopper_adr_limits.yaml", spec)
    config = load_config("hopper_dr_ppo.yaml", [f"randomization={spec}"])
    assert shipped_overrides(config).sets == (f"randomization={spec}",)
    spec.write_text("terms: not a list\n")
    (item,) = shipped_overrides(config).sets
    assert item.startswith("randomization=[{")
    assert overrides_between(config, load_config("hopper_dr_ppo.yaml", [item])) == Overrides(())


def test_a_zoo_start_is_written_as_typed():
    reference = load_config("a1_dr_ppo.yaml")
    config = load_config("a1_dr_ppo.yaml", ["init_from=zoo:a1_nominal"])
    overrides = overrides_between(reference, config)
    assert overrides.command_line() == "--set init_from=zoo:a1_nominal"  # not 'zoo:a1_nominal'
    assert load_config("a1_dr_ppo.yaml", list(overrides.sets)) == config
