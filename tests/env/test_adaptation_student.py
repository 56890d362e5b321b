"""The RMA teacher and student on the CartPole: the privileged encoder's split, the student that
equals its teacher when handed the true latent, the layout a spec fixes, and the adaptation:
section's validation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from sb3_contrib import TQC
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.vec_env import DummyVecEnv

from sim2real.config import config_to_dict, load_config, parse_config
from sim2real.envs.cartpole import CartPoleEnv
from sim2real.envs.wrappers import History
from sim2real.errors import UserError
from sim2real.policies.normalization import Normalization
from sim2real.training import build_model, make_training_env
from sim2real.transfer.rma.networks import (
    PrivilegedEncoder,
    action_statistic,
    body_actions,
    teacher_encoder,
    teacher_policy_kwargs,
)
from sim2real.transfer.rma.phase2 import Regression, Samples, action_objective
from sim2real.transfer.rma.student import StudentPolicy, build_module
from sim2real.transfer.rma.training import teacher_config

TARGET_NAMES = ["heavy", "slippery", "weak_motors", "laggy", "noisy_sensors", "hard"]
SPEC = [
    {"parameter": "link_mass", "selector": "pole", "range": [0.5, 2.0]},
    {"parameter": "gravity", "range": [0.9, 1.1]},
]


def adaptation_config(**changes) -> dict:
    config = {
        "name": "rma",
        "env": {"id": "sim2real/CartPole-v0"},
        "randomization": {"terms": SPEC},
        "algorithm": {"name": "PPO", "hyperparams": {"n_steps": 64, "batch_size": 64}},
        "total_timesteps": 128,
        "adaptation": {"latent_size": 3, "encoder_layers": [8], "history_steps": 5},
    }
    config.update(changes)
    return config


TEACHERS = {
    "PPO": (PPO, {"n_steps": 64}),
    "PPO-gSDE": (PPO, {"n_steps": 64, "use_sde": True}),
    "SAC": (SAC, {"buffer_size": 100}),
    "SAC-gSDE": (SAC, {"buffer_size": 100, "use_sde": True}),
    "TQC": (TQC, {"buffer_size": 100}),
}


@pytest.fixture(scope="module", params=list(TEACHERS))
def teacher(request):
    """An untrained teacher (random weights are enough to compare actions exactly)."""
    algorithm, hyperparams = TEACHERS[request.param]
    env = DummyVecEnv([lambda: CartPoleEnv(randomization=SPEC, privileged=True)])
    model = algorithm(
        "MlpPolicy",
        env,
        seed=0,
        device="cpu",
        policy_kwargs=teacher_policy_kwargs(4, 3, [8]),
        **hyperparams,
    )
    yield model
    env.close()


def test_encoder_passes_the_observation_and_encodes_the_dynamics(teacher):
    encoder = teacher_encoder(teacher.policy)
    assert isinstance(encoder, PrivilegedEncoder)
    observations = torch.randn(5, 6)
    features = encoder(observations)
    assert features.shape == (5, 4 + 3)
    assert torch.equal(features[:, :4], observations[:, :4])
    changed = observations.clone()
    changed[:, :4] += 1.0  # the latent depends on the privileged part only
    assert torch.equal(encoder.latent(changed), encoder.latent(observations))


def random_statistics(size: int, seed: int) -> Normalization:
    """A teacher's observation statistics over ``size`` entries, far from the identity."""
    rng = np.random.default_rng(seed)
    statistics = {"obs_mean": rng.normal(size=size), "obs_var": rng.uniform(0.5, 2, size)}
    return Normalization(
        norm_obs=True, norm_reward=False, obs_count=10.0, ret_mean=0.0, ret_var=1.0,
        ret_count=1.0, clip_obs=10.0, clip_reward=10.0, gamma=0.99, epsilon=1e-8, **statistics,
    )  # fmt: skip


def assert_acts_as_teacher(
    student: StudentPolicy,
    teacher,
    env: gym.Env,
    normalization: Normalization,
    observed: slice,
    deterministic: bool,
) -> None:
    """Along 20 steps of the teacher's env, the student handed the true latent acts as the
    teacher (``observed``: where the teacher's observation holds ``o_t``); closes ``env``."""
    try:
        observation, _ = env.reset(seed=3)
        for step in range(20):
            normalized = normalization.normalize_obs(observation[None])
            true_latent = teacher_encoder(teacher.policy).latent(torch.as_tensor(normalized))
            student.latent = lambda _, z=true_latent: z  # the module's output replaced
            torch.manual_seed(step)
            expected, _ = teacher.predict(normalized, deterministic=deterministic)
            torch.manual_seed(step)
            action = student.predict(observation[observed], deterministic=deterministic)
            np.testing.assert_array_equal(action, expected[0])
            observation, *_ = env.step(action)
    finally:
        env.close()


@pytest.mark.parametrize("deterministic", [True, False])
def test_student_equals_its_teacher_when_given_the_true_latent(teacher, deterministic):
    normalization = random_statistics(6, seed=0)
    student = StudentPolicy(teacher, build_module(teacher, _Section()), normalization)
    env = CartPoleEnv(randomization=SPEC, privileged=True)
    assert_acts_as_teacher(student, teacher, env, normalization, slice(0, 4), deterministic)


@pytest.mark.parametrize("algorithm", ["PPO", "SAC"])
def test_a_student_reads_its_teachers_short_history_out_of_its_own(algorithm):
    """A teacher on env.history_steps 2 read [o_(t-1), o_t, a_(t-2), a_(t-1), e] (the History
    wrapper's): the student, keeping 5 steps, hands its body the same window."""
    model_class, hyperparams = TEACHERS[algorithm]
    window = 2 * (4 + 1)
    env = History(CartPoleEnv(randomization=SPEC, privileged=True), 2)
    teacher = model_class(
        "MlpPolicy",
        DummyVecEnv([lambda: env]),
        seed=0,
        device="cpu",
        policy_kwargs=teacher_policy_kwargs(window, 3, [8]),
        **hyperparams,
    )
    normalization = random_statistics(12, seed=1)
    module = build_module(teacher, _Section(), body_steps=2)
    assert module.observation_size == 4  # the module reads o_t's, not the window's
    student = StudentPolicy(teacher, module, normalization, body_steps=2)
    assert student.observation_size == 4 and student.window.latest == slice(4, 8)
    assert_acts_as_teacher(student, teacher, env, normalization, slice(4, 8), True)
    # What the module reads: its newest observation normalized as the teacher normalized o_t
    # (entries 4-8 of its observation, not 0-4: o_(t-1)).
    student.reset()
    histories: list[np.ndarray] = []

    def recorded(flat: np.ndarray) -> torch.Tensor:
        histories.append(flat.copy())
        return torch.zeros(1, 3)

    student.latent = recorded
    env = History(CartPoleEnv(randomization=SPEC, privileged=True), 2)
    try:
        observation, _ = env.reset(seed=4)
        for _ in range(10):
            action = student.predict(observation[4:8])
            newest = student.scale_history(histories[-1])[:, 4 * 4 : 5 * 4]  # step 5 of 5
            expected = normalization.normalize_obs(observation[None])[:, 4:8]
            np.testing.assert_allclose(newest, expected, rtol=1e-6, atol=1e-6)
            observation, *_ = env.step(action)
    finally:
        env.close()


def test_a_window_the_teachers_body_cannot_have_read_is_one_line(teacher):
    with pytest.raises(UserError, match=r"the teacher's body reads 4 entries: not a window of"):
        StudentPolicy(teacher, build_module(teacher, _Section()), body_steps=3)


def test_the_action_statistic_is_the_deterministic_action_and_reaches_the_latent(teacher):
    policy = teacher.policy
    observations = torch.randn(6, 4)
    latent = torch.randn(6, 3, requires_grad=True)
    statistic = action_statistic(policy, observations, latent)
    acted = body_actions(policy, observations, latent.detach(), deterministic=True)
    unclipped = statistic.detach().numpy()
    if policy.squash_output:  # SAC, TQC: the tanh'd mean, scaled to the bounds
        expected = policy.unscale_action(unclipped)
    else:
        expected = np.clip(unclipped, policy.action_space.low, policy.action_space.high)
    np.testing.assert_allclose(acted, expected, rtol=1e-6, atol=1e-6)
    statistic.sum().backward()
    assert latent.grad is not None and bool(latent.grad.abs().sum() > 0)


def test_regressing_on_the_action_loss_lowers_it(teacher):
    torch.manual_seed(0)
    for parameter in teacher.policy.parameters():
        parameter.requires_grad_(False)
    try:
        module = build_module(teacher, _Section())
        histories = torch.randn(256, module.history_size)
        latents = torch.tanh(histories[:, :3])  # a z the history reveals
        observations = torch.randn(256, 4)
        with torch.no_grad():  # the labels, as phase 2's collector makes them
            labels = action_statistic(teacher.policy, observations, latents)
        samples = Samples(histories, observations, latents, labels)
        regression = Regression(module, 3e-3, 64, action_objective(teacher.policy))
        before = regression.error(samples)
        regression.fit(samples, epochs=20, rng=np.random.default_rng(0))
        assert regression.error(samples) < 0.5 * before
    finally:
        for parameter in teacher.policy.parameters():
            parameter.requires_grad_(True)


class _Section:
    latent_size, history_steps, module = 3, 5, "cnn"


def test_student_keeps_its_own_history_and_forgets_it_on_reset(teacher):
    student = StudentPolicy(teacher, build_module(teacher, _Section()))
    assert student.observation_space.shape == (4,)
    first = np.array([0.1, 0.0, 0.05, 0.0], np.float32)
    action = student.predict(first)
    second = np.array([0.2, 0.1, 0.04, -0.1], np.float32)
    student.predict(second)
    history = student.history.flat()[0]
    observations, actions = history[: 5 * 4].reshape(5, 4), history[5 * 4 :]
    np.testing.assert_array_equal(observations[-2:], [first, second])
    assert actions[-1] == pytest.approx(float(action[0]))
    student.reset()
    assert student.history is None


def test_a_spec_fixes_the_privileged_layout_of_an_env_without_dr():
    env = CartPoleEnv(randomization=None, privileged={"terms": SPEC})
    try:
        assert env.privileged_names == ("dr:link_mass:pole", "dr:gravity:z")
        observation, _ = env.reset(seed=0)
        # Nominal: pole 0.1 kg in [0.05, 0.2]; gravity -9.8 in [-10.78, -8.82].
        np.testing.assert_allclose(observation[4:], [0.05 / 0.15, 0.98 / 1.96], atol=1e-6)
    finally:
        env.close()


def test_teacher_config_adds_the_privileged_layout_and_its_name():
    config = parse_config(adaptation_config())
    teacher = teacher_config(config, "<test>")
    assert teacher.name == "rma_teacher"
    assert teacher.env.kwargs["privileged"]["terms"][0]["parameter"] == "link_mass"
    assert teacher.adaptation == config.adaptation


def test_privileged_parameters_pick_what_the_teacher_reads():
    config = parse_config(
        adaptation_config(
            adaptation={"latent_size": 3, "history_steps": 5, "privileged_parameters": ["gravity"]}
        )
    )
    teacher = teacher_config(config, "<test>")
    terms = teacher.env.kwargs["privileged"]["terms"]
    assert [term["parameter"] for term in terms] == ["gravity"]
    venv = make_training_env(teacher)
    try:
        # The observation ends with the one entry the teacher reads; the pole's mass is still
        # randomized, unseen.
        assert venv.observation_space.shape == (5,)
        names = venv.get_attr("privileged_names")[0]
        assert names == ("dr:gravity:z",)
    finally:
        venv.close()


@pytest.mark.parametrize("episode_steps", [None, 20])
def test_phase_2_envs_cut_episodes_at_episode_steps(episode_steps):
    from sim2real.transfer.rma.phase2 import _student_envs

    config = parse_config(adaptation_config())
    teacher = teacher_config(config, "<test>")
    venv = make_training_env(_student_envs(teacher, episode_steps))
    try:
        venv.seed(0)
        venv.reset()
        lengths = []
        for _ in range(300):
            _, _, dones, infos = venv.step(np.zeros((1, 1)))
            if dones[0]:
                lengths.append(infos[0]["episode"]["l"])
        assert lengths
        if episode_steps is None:
            assert max(lengths) > 20  # CartPole's own limit is 500; a zero push lasts longer
        else:
            assert max(lengths) == 20
    finally:
        venv.close()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"algorithm": {"name": "TD3"}},
            "field 'algorithm.name' = 'TD3'; adaptation needs PPO, A2C, SAC, TQC",
        ),
        (
            {"randomization": None},
            "field 'randomization' = None; adaptation needs randomized dynamics for the teacher "
            "to encode; give a randomization spec",
        ),
        (
            {
                "env": {"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}},
                "algorithm": {"name": "PPO", "asymmetric": True},
            },
            "field 'algorithm.asymmetric' = True; adaptation trains a privileged teacher",
        ),
        ({"adaptation": {"module": "lstm"}}, "field 'adaptation.module' = 'lstm'"),
        (
            {
                "env": {"id": "sim2real/CartPole-v0", "kwargs": {"privileged": True}},
                "adaptation": {"teacher": "runs/rma"},
            },
            "field 'adaptation.teacher' = 'runs/rma'; this config is a teacher's",
        ),
        (
            {"adaptation": {"loss": "actions"}},
            "field 'adaptation.loss' = 'actions'; Input should be 'latent' or 'action'",
        ),
        ({"adaptation": {"history_steps": 0}}, "field 'adaptation.history_steps' = 0"),
        (
            {"adaptation": {"k": 30}},
            "field 'adaptation.k' = 30; not a known field; valid: latent_size",
        ),
        ({"adaptation": {"learning_rate": -1.0}}, "field 'adaptation.learning_rate' = -1.0"),
        ({"adaptation": {"learning_rate": float("inf")}}, "'adaptation.learning_rate' = inf"),
        ({"adaptation": {"learning_rate": 2.0}}, "field 'adaptation.learning_rate' = 2.0"),
        (
            {"adaptation": {"latent_size": 10**12}},
            "field 'adaptation.latent_size' = 1,000,000,000,000; must be <= 16,384",
        ),
        (
            {"adaptation": {"encoder_layers": [64, 10**5]}},
            "field 'adaptation.encoder_layers[1]' = 100,000; must be <= 16,384",
        ),
        ({"adaptation": {"epochs": 10**6}}, "field 'adaptation.epochs' = 1,000,000; must be <="),
        (
            {"adaptation": {"rollout_steps": 10**12}},
            "field 'adaptation.rollout_steps' * n_envs * history_steps * dataset_rollouts = 3",
        ),
        ({"adaptation": {"timesteps": 10**400}}, "field 'adaptation.timesteps' = 1.000e+400"),
        (
            {"adaptation": {"privileged_parameters": ["motor_strength"]}},
            "field 'adaptation.privileged_parameters[0]' = 'motor_strength'; not randomized by "
            "the spec; valid: link_mass, gravity",
        ),
        (
            {"adaptation": {"privileged_parameters": ["gravity", "gravity"]}},
            "field 'adaptation.privileged_parameters[1]' = 'gravity'; named twice",
        ),
        (
            {"adaptation": {"privileged_parameters": []}},
            "field 'adaptation.privileged_parameters' = []; name at least one of link_mass, "
            "gravity, or null for all",
        ),
    ],
)
def test_bad_adaptation_sections_are_one_line(changes, expected):
    with pytest.raises(UserError) as raised:
        parse_config(adaptation_config(**changes), source="rma.yaml")
    message = str(raised.value)
    assert message.startswith("rma.yaml: ") and expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "name", ["cartpole_rma.yaml", "hopper_rma_ppo.yaml", "hopper_rma_sac.yaml"]
)
def test_shipped_adaptation_configs_build_a_teacher_whose_student_acts(name, tmp_path):
    config = load_config(name, ["n_envs=1"])
    assert [t.name for t in config.targets] == TARGET_NAMES
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
    assert load_config(path) == config
    teacher = teacher_config(config, name)
    venv = make_training_env(teacher)
    env = gym.make(config.env.id, randomization=config.randomization)
    try:
        model = build_model(teacher, venv, "cpu", name)
        assert model.use_sde == name.startswith("hopper")  # the Zoo's gSDE bodies
        student = StudentPolicy(model, build_module(model, config.adaptation))
        assert student.observation_space.shape == env.observation_space.shape
        observation, _ = env.reset(seed=0)
        for _ in range(3):
            action = student.predict(observation)
            assert action.shape == env.action_space.shape
            assert env.action_space.contains(action.astype(np.float32))
            observation, *_ = env.step(action)
    finally:
        env.close()
        venv.close()
