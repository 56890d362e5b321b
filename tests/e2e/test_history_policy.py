"""``env.history_steps``: a policy that reads the last k observations and actions (a
history-DR baseline) trains, evaluates, exports, fine-tunes and logs videos like any run,
acting on plain observations wherever a run is accepted; bad values are one line."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tiny import tiny_ppo  # tests/e2e/tiny.py: the shared tiny PPO config

import sim2real.callbacks.video as video
from sim2real.config import parse_config
from sim2real.envs.wrappers import History
from sim2real.errors import UserError
from sim2real.evaluation.evaluate import EvaluationSettings, evaluate_runs
from sim2real.limits import LargeValueWarning
from sim2real.policies import zoo
from sim2real.policies.contract import read_contract
from sim2real.policies.export import export_run
from sim2real.policies.history import HistoryInput
from sim2real.policies.predictor import RunPolicy, load_predictor
from sim2real.runs import Run
from sim2real.transfer.finetune import transfer

pytestmark = pytest.mark.slow
ENV_ID = "sim2real/CartPole-v0"
STEPS = 3
OBSERVATION_SIZE, ACTION_SIZE = 4, 1  # CartPole: x, x_dot, theta, theta_dot; the cart force


def history_config(**changes) -> dict:
    return tiny_ppo(
        env={"id": ENV_ID, "history_steps": STEPS},
        total_timesteps=512,
        evaluation={"freq_steps": 512, "episodes": 1, "video": True},
        checkpoint={"freq_steps": 0},
        **changes,
    )


@pytest.fixture(scope="module")
def history_run(tmp_path_factory):
    from sim2real.training import train

    patch = pytest.MonkeyPatch()
    patch.setattr(video, "MAX_FRAMES", 20)  # CartPole episodes run to 500 steps
    try:
        path = tmp_path_factory.mktemp("history") / "run"
        return train(parse_config(history_config()), path, progress_bar=False, verbose=False)
    finally:
        patch.undo()


def test_the_model_reads_the_history_and_training_evaluates_and_films_it(history_run):
    model = history_run.load_model()
    assert model.observation_space.shape == (STEPS * (OBSERVATION_SIZE + ACTION_SIZE),)
    assert history_run.meta["status"] == "finished"
    events = EventAccumulator(str(history_run.tb_dir), size_guidance={"images": 0})
    events.Reload()
    assert [point.step for point in events.Scalars("eval/heavy/mean_return")] == [512]
    assert {"video/nominal", "video/hardest_target"} <= set(events.Tags()["images"])


def test_the_run_acts_on_plain_observations_as_its_model_on_the_history(history_run):
    """The predictor every command uses keeps the history the training wrapper built."""
    predictor = load_predictor(history_run.path)
    assert isinstance(predictor, HistoryInput)
    model = RunPolicy.from_run(history_run.path)  # the model, on flat histories
    plain, wrapped = gym.make(ENV_ID), History(gym.make(ENV_ID), STEPS)
    try:
        for seed in (0, 1):  # two episodes: the history starts again at each
            predictor.reset()
            observation, _ = plain.reset(seed=seed)
            history, _ = wrapped.reset(seed=seed)
            for _ in range(30):
                action = predictor.predict(observation)
                np.testing.assert_array_equal(action, model.predict(history))
                observation, _, terminated, _, _ = plain.step(action)
                history, _, _, _, _ = wrapped.step(action)
                np.testing.assert_array_equal(history[-ACTION_SIZE:], action)
                if terminated:
                    break
    finally:
        plain.close()
        wrapped.close()


@pytest.mark.parametrize("format", ["bundle", "onnx", "torchscript"])
def test_every_export_declares_its_history_and_evaluates_like_the_run(
    history_run, format, tmp_path
):
    exported = export_run(history_run.path, tmp_path / format, format)
    assert exported.parity.max_abs_diff <= 1e-5
    contract = read_contract(exported.path).data
    size = STEPS * (OBSERVATION_SIZE + ACTION_SIZE)
    assert contract["inputs"][0]["shape"] == ["batch", size]
    assert {k: contract["history"][k] for k in ("steps", "observation_dim", "action_dim")} == {
        "steps": STEPS,
        "observation_dim": OBSERVATION_SIZE,
        "action_dim": ACTION_SIZE,
    }
    assert len(contract["observation"]["names"]) == OBSERVATION_SIZE  # what each step holds
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    evaluation = evaluate_runs([history_run.path, exported.path], settings=settings)
    for condition in ("nominal", "dr", "heavy"):
        returns = evaluation.results["tiny"][condition].returns
        assert returns[str(exported.path)] == returns[str(history_run.path.resolve())]


def test_a_history_run_becomes_a_zoo_entry_that_acts_like_it(history_run, tmp_path):
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    entry = zoo.add_entry(history_run.path, "tiny_history", settings=settings, zoo_dir=tmp_path)
    assert isinstance(load_predictor(entry.path), HistoryInput)
    evaluation = evaluate_runs([history_run.path, entry.path], settings=settings)
    returns = evaluation.results["tiny"]["heavy"].returns
    assert returns[str(entry.path)] == returns[str(history_run.path.resolve())]


def test_a_history_run_fine_tunes_on_a_target(history_run, tmp_path):
    tuned = transfer(
        history_run,
        "targets/cartpole_heavy.yaml",
        256,
        run_dir=tmp_path / "tuned",
        eval_freq=256,
        eval_episodes=1,
        progress_bar=False,
        verbose=False,
    )
    assert Run.open(tuned.path).config.env.history_steps == STEPS
    assert tuned.load_model().observation_space == history_run.load_model().observation_space
    assert isinstance(load_predictor(tuned.path), HistoryInput)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"history_steps": -1}, "'env.history_steps' = -1; Input should be greater than or"),
        ({"history_steps": 1001}, "'env.history_steps' = 1,001; must be <= 1,000 (the policy's"),
        ({"history_steps": True}, "'env.history_steps' = True; Input should be a valid integer"),
        ({"history_steps": 2.5}, "'env.history_steps' = 2.5"),
    ],
)
def test_bad_history_steps_are_one_line(changes, expected):
    with pytest.raises(UserError) as caught:
        parse_config(tiny_ppo(env={"id": ENV_ID, **changes}))
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_long_history_is_accepted_with_a_warning():
    with pytest.warns(LargeValueWarning, match=r"env.history_steps' = 101 is above 100"):
        parse_config(tiny_ppo(env={"id": ENV_ID, "history_steps": 101}))


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("recurrent", "RecurrentPPO's LSTM keeps its own memory"),
        (
            "adaptation",
            r"the student's body reads it out of the adaptation module's history; at most "
            rf"adaptation.history_steps \({STEPS - 1}\)",
        ),
    ],
)
def test_history_with_another_memory_is_refused(section, expected):
    """A recurrent policy has a memory of its own; an RMA student's module history must hold
    its body's window."""
    data = history_config()
    if section == "recurrent":
        data["algorithm"] = {"name": "RecurrentPPO", "hyperparams": {"n_steps": 64}}
    else:
        data["randomization"] = {"terms": [{"parameter": "gravity", "range": [0.9, 1.1]}]}
        data["adaptation"] = {"timesteps": 256, "history_steps": STEPS - 1}
    with pytest.raises(UserError, match=f"field 'env.history_steps' = {STEPS}; {expected}"):
        parse_config(data)


@pytest.fixture(scope="module")
def asymmetric_history_run(tmp_path_factory):
    """A history actor with an asymmetric critic: the critic also reads the privileged
    entries, which follow the history (the latest only)."""
    from sim2real.training import train

    data = history_config()
    data["evaluation"] = {"freq_steps": 0, "episodes": 1}
    data["env"]["kwargs"] = {"privileged": True}
    data["algorithm"]["asymmetric"] = True
    path = tmp_path_factory.mktemp("asymmetric_history") / "run"
    return train(parse_config(data), path, progress_bar=False, verbose=False)


def test_an_asymmetric_history_actor_reads_the_history_and_its_critic_the_dynamics_too(
    asymmetric_history_run,
):
    from sim2real.policies.asymmetric import deployable_size

    config = asymmetric_history_run.config
    model = asymmetric_history_run.load_model()
    kwargs = {"randomization": config.randomization, **config.env.kwargs}
    plain, wrapped = gym.make(ENV_ID, **kwargs), History(gym.make(ENV_ID, **kwargs), STEPS)
    try:
        history = STEPS * (OBSERVATION_SIZE + ACTION_SIZE)
        privileged = len(plain.unwrapped.privileged_names)
        assert privileged > 0
        assert model.observation_space.shape == (history + privileged,)
        assert wrapped.observation_space.shape == model.observation_space.shape
        assert deployable_size(model) == history
        plain.reset(seed=3)
        wrapped.reset(seed=3)
        action = np.array([0.5], dtype=np.float32)
        observation, *_ = plain.step(action)
        flat, *_ = wrapped.step(action)
        latest = slice((STEPS - 1) * OBSERVATION_SIZE, STEPS * OBSERVATION_SIZE)
        np.testing.assert_array_equal(flat[latest], observation[:OBSERVATION_SIZE])
        np.testing.assert_array_equal(flat[history - ACTION_SIZE : history], action)
        np.testing.assert_array_equal(flat[history:], observation[OBSERVATION_SIZE:])
    finally:
        plain.close()
        wrapped.close()


@pytest.mark.parametrize("format", ["bundle", "onnx", "torchscript"])
def test_an_asymmetric_history_actor_exports_without_the_privileged_entries(
    asymmetric_history_run, format, tmp_path
):
    exported = export_run(asymmetric_history_run.path, tmp_path / format, format)
    assert exported.parity.max_abs_diff <= 1e-5
    contract = read_contract(exported.path).data
    assert contract["inputs"][0]["shape"] == ["batch", STEPS * (OBSERVATION_SIZE + ACTION_SIZE)]
    assert "privileged" not in contract["env_kwargs"]
    assert contract["history"]["observation_dim"] == OBSERVATION_SIZE
    settings = EvaluationSettings(episodes=2, workers=1, n_boot=50)
    run = asymmetric_history_run.path.resolve()
    evaluation = evaluate_runs([run, exported.path], settings=settings)
    # Two groups (the export's config has neither the privileged entries nor the split),
    # the same episodes: the export on the plain env, the run on the privileged one.
    returns = {
        (path, condition): values
        for group in evaluation.results.values()
        for condition, result in group.items()
        for path, values in result.returns.items()
    }
    for condition in ("nominal", "heavy"):
        assert returns[str(exported.path), condition] == returns[str(run), condition]
