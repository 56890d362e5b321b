"""What an RMA teacher's latent is made of, and how well its student's adaptation module
estimates it, per condition.

    python bench/rma_latent.py RUN [--episodes 3] [--draws 400] [--json FILE]

For an adaptation run (``adaptation:``) or its zoo entry, whose student carries the teacher's
body and encoder:

- **What drives z**: ``--draws`` episode draws of the training DR; for each randomized
  parameter the privileged entries of that parameter are shuffled across the draws (the
  others kept) and the mean squared change of ``z`` is recorded, then shown as a share of the
  sum over parameters. A parameter the history cannot reveal (a per-entry sensor-noise level)
  that drives much of ``z`` is a part of ``z`` the module cannot estimate.
- **How well the module tracks z**: ``--episodes`` deterministic episodes per condition
  (nominal, the training DR, each of the run's targets), once with the student acting and
  once with the teacher (the same body, the true ``z``) from the same seeds. Per condition:
  both returns, the module's mean squared error against the teacher's ``z`` along the
  student's own episodes, and R^2 = 1 - error / (variance of ``z`` over the DR draws): 1 is a
  perfect estimate, 0 no better than the DR's mean ``z``, below 0 worse (a condition whose
  true ``z`` lies outside what the DR draws give). Beside it, the mean squared difference
  between the student's action and the body's action on the true ``z`` at the same steps:
  the actions as the env applies them (clipped), where ``adaptation.loss: action`` compares
  them before clipping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from bench_parser import BenchParser, count, output_path, run_bench

import sim2real  # noqa: F401  (registers the worlds)
from sim2real import limits
from sim2real.envs.wrappers import with_history_input
from sim2real.errors import UserError
from sim2real.evaluation.conditions import DR, Condition, evaluation_conditions, make_env
from sim2real.io import check_output_file, write_json
from sim2real.runs import Run
from sim2real.table import render_table
from sim2real.transfer.rma.networks import body_actions, teacher_encoder
from sim2real.transfer.rma.student import StudentPolicy
from sim2real.transfer.rma.training import teacher_config

SEED = 3_000_000  # the episodes' seeds, as bench/adaptation.py's evaluations
Normalize = Callable[[np.ndarray], torch.Tensor]


@dataclass
class Tracking:
    """One condition's episodes: returns of both actors, and z along the student's steps."""

    student_return: float
    teacher_return: float
    true: np.ndarray  # (steps, latent) the teacher's z
    estimate: np.ndarray  # (steps, latent) the module's
    action_error: float  # mean squared (student's action - the body's action on the true z)


def main() -> int:
    parser = BenchParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="an adaptation run directory or its zoo entry")
    parser.add_argument("--episodes", type=count(limits.EPISODES), default=3)
    parser.add_argument("--draws", type=count(limits.EPISODES, minimum=2), default=400)
    parser.add_argument("--json", type=output_path, help="also write the numbers here")
    args = parser.parse_args()
    if args.json is not None:
        check_output_file(args.json, "option '--json'", "latent.json", overwrite=True)
    run = Run.open(args.run)
    config = run.config
    if config.adaptation is None:
        raise UserError(f"{run.path}: not an adaptation run (its config has no 'adaptation:')")
    student = StudentPolicy.from_run(run.path)
    kwargs = dict(teacher_config(config, str(run.path)).env.kwargs)
    body_steps = config.env.history_steps
    normalize = _normalizer(student)

    def make(condition: Condition) -> gym.Env:  # the teacher's observation: privileged entries
        return with_history_input(make_env(config.env.id, condition, kwargs), body_steps)

    conditions = evaluation_conditions(config)
    dr = next(c for c in conditions if c.name == DR)
    drivers, variance = _drivers(student, make(dr), normalize, args.draws)
    total = sum(drivers.values())
    print(f"{run.path}: what drives the teacher's z ({args.draws} draws of the training DR)\n")
    print(
        render_table(
            ["parameter", "share of z's change"],
            [(name, f"{change / total:.1%}") for name, change in drivers.items()],
        )
    )
    tracking = {c.name: _track(student, make(c), normalize, args.episodes) for c in conditions}
    numbers = {}
    for name, result in tracking.items():
        error = float(((result.true - result.estimate) ** 2).mean())
        numbers[name] = {
            "student_return": result.student_return,
            "teacher_return": result.teacher_return,
            "latent_mse": error,
            "r2": 1.0 - error / variance,
            "action_mse": result.action_error,
        }
    rows = [(name, *row.values()) for name, row in numbers.items()]
    print(
        f"\nthe module against the teacher's z ({args.episodes} episodes per condition, mean "
        f"return; z's variance over the DR draws: {variance:.3g} per entry)\n"
    )
    headers = ["condition", "student", "teacher", "z error (MSE)", "R^2", "action error (MSE)"]
    print(render_table(headers, rows))
    if args.json is not None:
        write_json(args.json, {"run": str(run.path), "drivers": drivers, "tracking": numbers})
    return 0


def _normalizer(student: StudentPolicy) -> Normalize:
    """The teacher's observation normalization, as its encoder read observations."""
    statistics = student.normalization
    if statistics is None:
        return lambda obs: torch.as_tensor(np.asarray(obs, np.float32))
    return lambda obs: torch.as_tensor(np.asarray(statistics.normalize_obs(obs), np.float32))


def _drivers(
    student: StudentPolicy, env: gym.Env, normalize: Normalize, draws: int
) -> tuple[dict[str, float], float]:
    """Per randomized parameter, the mean squared change of z when its entries are shuffled
    across the draws; and z's variance over the draws (mean over its entries)."""
    encoder = teacher_encoder(student.policy)
    names: Sequence[str] = env.unwrapped.privileged_names
    try:
        observations = np.array([env.reset(seed=SEED + i)[0] for i in range(draws)], np.float32)
    finally:
        env.close()
    with torch.no_grad():
        latent = encoder.latent(normalize(observations)).numpy()
    rng = np.random.default_rng(0)
    changes: dict[str, float] = {}
    for parameter in dict.fromkeys(name.split(":")[1] for name in names):
        shuffled = observations.copy()
        for index, name in enumerate(names):
            if name.split(":")[1] == parameter:
                column = encoder.observation_size + index
                shuffled[:, column] = rng.permutation(shuffled[:, column])
        with torch.no_grad():
            moved = encoder.latent(normalize(shuffled)).numpy()
        changes[parameter] = float(((moved - latent) ** 2).sum(axis=1).mean())
    return changes, float(latent.var(axis=0).mean())


def _track(student: StudentPolicy, env: gym.Env, normalize: Normalize, episodes: int) -> Tracking:
    encoder = teacher_encoder(student.policy)
    size = encoder.observation_size
    true: list[np.ndarray] = []
    estimate: list[np.ndarray] = []
    action_errors: list[float] = []
    returns = {"student": [], "teacher": []}
    try:
        for actor in returns:
            for episode in range(episodes):
                observation, _ = env.reset(seed=SEED + episode)
                student.reset()
                total, done = 0.0, False
                while not done:
                    full = observation[None, :]
                    with torch.no_grad():
                        z = encoder.latent(normalize(full))
                    observed = torch.as_tensor(student.scale_body(full[:, :size]))
                    on_true_z = body_actions(student.policy, observed, z, True)
                    if actor == "student":
                        actions, z_hat = student.act(full[:, student.window.latest])
                        true.append(z.numpy()[0])
                        estimate.append(z_hat.numpy()[0])
                        action_errors.append(float(((actions - on_true_z) ** 2).mean()))
                    else:
                        actions = on_true_z
                    observation, reward, terminated, truncated, _ = env.step(actions[0])
                    total, done = total + float(reward), terminated or truncated
                returns[actor].append(total)
    finally:
        env.close()
    return Tracking(
        float(np.mean(returns["student"])),
        float(np.mean(returns["teacher"])),
        np.array(true),
        np.array(estimate),
        float(np.mean(action_errors)),
    )


if __name__ == "__main__":
    run_bench(main)
