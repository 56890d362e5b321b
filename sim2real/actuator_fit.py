"""Fitting an actuator network to recorded data (Hwangbo et al. 2019): ``sim2real fit-actuator``.

The network sees, for each of the last ``history`` control steps (newest first), the command
sent to every actuated joint and that joint's measured velocity at the start of the step,
and predicts the torque each joint received during the step (the data's ``joint_torques``).
Hwangbo et al. feed a PD-controlled robot's position errors; for a torque-controlled robot
such as the Hopper the command is the torque request, so the commands themselves are the
input. Before an episode's first step the history is zeros, as it is after an env reset.

Whole episodes are held out for validation (the last ``validation`` fraction; with a single
episode, its last steps), so the reported error is on motion the network never saw. Errors
are root-mean-square, per joint and as a percentage of that joint's recorded torque range;
next to them, the error of the best *ideal* actuator (torque = gain x command, gains fitted
by least squares) shows what the network adds.

Written to ``ACT_DIR`` (staged, renamed when complete; no pickle anywhere):
``actuator.json`` (inputs, layers, joints, where the data came from), ``weights.npz``
(:class:`sim2real.envs.motors.ActuatorNetwork` reads it with numpy), ``report.json`` and
``report.md``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real import limits
from sim2real.data import RecordedData, load_data
from sim2real.envs.motors import NETWORK_FILE, NETWORK_FORMAT, WEIGHTS_FILE, network_features
from sim2real.errors import UserError
from sim2real.io import atomic_write_text, staged_directory, write_json, write_npz
from sim2real.lifecycle import torch_threads
from sim2real.table import render_markdown

__all__ = ["FitSettings", "actuator_dataset", "fit_actuator", "write_fit"]

HISTORY = limits.Limit(100, "steps of history per input", 20, "a long input window")
EPOCHS = limits.Limit(100_000, "passes over the data", 5_000, "a long fit")
MIN_TRAIN_STEPS = 10


@dataclass(frozen=True)
class FitSettings:
    history: int = 3
    epochs: int = 300
    hidden: tuple[int, ...] = (64, 64)
    validation: float = 0.2  # fraction of the episodes held out
    learning_rate: float = 3e-3
    batch_size: int = 256
    seed: int = 0

    def check(self) -> None:
        limits.check_count(self.history, HISTORY, "--history")
        limits.check_count(self.epochs, EPOCHS, "--epochs")
        limits.check_count(self.seed, limits.SEED, "--seed", minimum=0)
        if not self.hidden or any(h < 1 or h > 4096 for h in self.hidden):
            raise UserError(f"--hidden = {list(self.hidden)}; give 1..4096 units per layer")
        if not 0 < self.validation < 1:
            raise UserError(f"--validation = {self.validation}; must be in (0, 1), e.g. 0.2")


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # (S, 2 * A * history)
    torques: np.ndarray  # (S, A)
    episode: np.ndarray  # (S,) episode index of each row


@dataclass(frozen=True)
class Fit:
    settings: FitSettings
    data_path: Path
    data: RecordedData
    layers: list[tuple[np.ndarray, np.ndarray]]  # (weight (out, in), bias (out,))
    input_mean: np.ndarray
    input_std: np.ndarray
    torque_scale: np.ndarray  # (A,) the output unit
    report: dict[str, Any]


def actuator_dataset(data: RecordedData, history: int) -> Dataset:
    """Network inputs and target torques of every recorded step (see the module docstring)."""
    if data.joint_torques is None:
        raise UserError(
            "the data file has no joint_torques; record it with `sim2real record` (which "
            "stores the torque each joint received) or log the joint torques of the robot"
        )
    columns = [data.joint_names.index(name) for name in data.actuated_joint_names]
    velocities = data.state["joint_velocities"][:, columns]
    actions = np.asarray(data.actions, dtype=np.float64)
    joints = len(columns)
    features, episodes = [], []
    for episode, length in enumerate(data.episode_lengths.tolist()):
        start, row = data.step_start(episode), data.state_start(episode)
        padded_commands = np.vstack(
            [np.zeros((history - 1, joints)), actions[start : start + length]]
        )
        padded_velocities = np.vstack(
            [np.zeros((history - 1, joints)), velocities[row : row + length]]
        )
        # Window ending at step t, newest first: rows t, t-1, ..., t-history+1 of the padding.
        index = np.arange(length)[:, None] + (history - 1) - np.arange(history)[None, :]
        features.append(network_features(padded_commands[index], padded_velocities[index]))
        episodes.append(np.full(length, episode))
    return Dataset(np.vstack(features), np.asarray(data.joint_torques), np.concatenate(episodes))


def split(dataset: Dataset, fraction: float, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (train, validation): the last episodes held out, or the last steps of one."""
    if episodes > 1:
        held_out = max(1, round(episodes * fraction))
        validation = dataset.episode >= episodes - held_out
    else:
        steps = len(dataset.episode)
        validation = np.arange(steps) >= steps - max(1, round(steps * fraction))
    return ~validation, validation


def fit_actuator(data_path: str | Path, settings: FitSettings) -> Fit:
    """Load, check, train; the fitted network and its report (nothing written)."""
    import torch

    settings.check()
    data = load_data(data_path)
    dataset = actuator_dataset(data, settings.history)
    train, validation = split(dataset, settings.validation, data.episodes)
    if train.sum() < MIN_TRAIN_STEPS:
        raise UserError(
            f"{data_path}: {int(train.sum())} training steps after holding out "
            f"--validation {settings.validation:g} of the data; {MIN_TRAIN_STEPS} are needed: "
            "hold out less or record more"
        )
    x, y = dataset.features, dataset.torques
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    scale = np.abs(y[train]).max(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    torch.manual_seed(settings.seed)
    network = _mlp(x.shape[1], settings.hidden, y.shape[1])
    started = time.perf_counter()
    with torch_threads("cpu"):  # a small MLP: one thread is fastest
        curve = _train(network, (x - mean) / std, y / scale, train, validation, settings)
    layers = [
        (module.weight.detach().numpy().astype(np.float64), module.bias.detach().numpy())
        for module in network
        if isinstance(module, torch.nn.Linear)
    ]
    predicted = _forward(layers, (x - mean) / std) * scale
    report = _report(data_path, data, settings, y, predicted, train, validation, curve)
    report["wall_s"] = time.perf_counter() - started
    return Fit(settings, Path(data_path), data, layers, mean, std, scale, report)


def write_fit(fit: Fit, out: str | Path) -> Path:
    """ACT_DIR: actuator.json, weights.npz, report.json, report.md (renamed in when complete)."""
    data, settings = fit.data, fit.settings
    meta = {
        "format_version": NETWORK_FORMAT,
        "kind": "mlp",
        "env_id": data.env_id,
        "control_dt": data.control_dt,
        "joint_names": list(data.actuated_joint_names),
        "history": settings.history,
        "inputs": "for k = 0..history-1 (k = 0 the present step): the command of each "
        "joint, then its velocity (rad/s or m/s) at the start of step t-k; zeros before "
        "the episode; standardized with input_mean and input_std",
        "output": "torque of each joint (N*m, N on sliders) = network output x torque_scale",
        "layers": len(fit.layers),
        "hidden": list(settings.hidden),
        "activation": "tanh",
        "data": str(fit.data_path.resolve()),
    }
    arrays = {"input_mean": fit.input_mean, "input_std": fit.input_std}
    arrays["torque_scale"] = fit.torque_scale
    for index, (weight, bias) in enumerate(fit.layers):
        arrays[f"w{index}"], arrays[f"b{index}"] = weight, bias
    with staged_directory(out) as staging:
        write_json(staging / NETWORK_FILE, meta)
        write_npz(staging / WEIGHTS_FILE, arrays)
        write_json(staging / "report.json", fit.report)
        atomic_write_text(staging / "report.md", _markdown(fit.report))
    return Path(out)


# -- training ------------------------------------------------------------------------


def _mlp(inputs: int, hidden: tuple[int, ...], outputs: int) -> Any:
    import torch

    layers: list[torch.nn.Module] = []
    width = inputs
    for units in hidden:
        layers += [torch.nn.Linear(width, units), torch.nn.Tanh()]
        width = units
    layers.append(torch.nn.Linear(width, outputs))
    return torch.nn.Sequential(*layers).double()


def _train(
    network: Any,
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    settings: FitSettings,
) -> list[tuple[int, float, float]]:
    """Adam on the mean squared error; ``(epoch, train mse, validation mse)`` every tenth."""
    import torch

    x_train, y_train = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    x_val, y_val = torch.from_numpy(x[validation]), torch.from_numpy(y[validation])
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs)
    generator = torch.Generator().manual_seed(settings.seed)
    curve = []
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(x_train), generator=generator)
        for batch in order.split(settings.batch_size):
            optimizer.zero_grad()
            loss = torch.mean((network(x_train[batch]) - y_train[batch]) ** 2)
            loss.backward()
            optimizer.step()
        schedule.step()
        if epoch % max(1, settings.epochs // 10) == 0 or epoch == settings.epochs:
            with torch.no_grad():
                train_mse = float(torch.mean((network(x_train) - y_train) ** 2))
                val_mse = float(torch.mean((network(x_val) - y_val) ** 2))
            curve.append((epoch, train_mse, val_mse))
    return curve


def _forward(layers: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    for index, (weight, bias) in enumerate(layers):
        x = x @ weight.T + bias
        if index < len(layers) - 1:
            x = np.tanh(x)
    return x


# -- report --------------------------------------------------------------------------


def _rmse_percent(error: np.ndarray, torque_range: np.ndarray) -> list[float]:
    return (100 * np.sqrt(np.mean(error**2, axis=0)) / torque_range).tolist()


def _report(
    data_path: str | Path,
    data: RecordedData,
    settings: FitSettings,
    torques: np.ndarray,
    predicted: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    curve: list[tuple[int, float, float]],
) -> dict[str, Any]:
    torque_range = torques.max(axis=0) - torques.min(axis=0)
    torque_range = np.where(torque_range > 1e-8, torque_range, 1.0)
    ideal = _ideal_prediction(data.actions, torques, train)
    errors = {
        name: {
            "train": _rmse_percent(predicted[train] - torques[train], torque_range),
            "validation": _rmse_percent(predicted[validation] - torques[validation], torque_range),
        }
        for name, predicted in (("network", predicted), ("ideal", ideal))
    }
    return {
        "data": str(data_path),
        "env_id": data.env_id,
        "episodes": data.episodes,
        "steps": {"train": int(train.sum()), "validation": int(validation.sum())},
        "joints": list(data.actuated_joint_names),
        "torque_range": torque_range.tolist(),
        "settings": {
            "history": settings.history,
            "epochs": settings.epochs,
            "hidden": list(settings.hidden),
            "validation": settings.validation,
            "learning_rate": settings.learning_rate,
            "seed": settings.seed,
        },
        "rmse_percent_of_range": errors,
        "validation_rmse_percent": float(np.mean(errors["network"]["validation"])),
        "train_rmse_percent": float(np.mean(errors["network"]["train"])),
        "ideal_validation_rmse_percent": float(np.mean(errors["ideal"]["validation"])),
        "loss_curve": [list(point) for point in curve],
    }


def _ideal_prediction(actions: np.ndarray, torques: np.ndarray, train: np.ndarray) -> np.ndarray:
    """torque = gain x command per joint, gains by least squares on the training steps."""
    a, t = np.asarray(actions)[train], torques[train]
    gains = (a * t).sum(axis=0) / np.maximum((a * a).sum(axis=0), 1e-12)
    return np.asarray(actions) * gains


def _markdown(report: dict[str, Any]) -> str:
    errors = report["rmse_percent_of_range"]
    rows = [
        [
            joint,
            report["torque_range"][i],
            errors["network"]["train"][i],
            errors["network"]["validation"][i],
            errors["ideal"]["validation"][i],
        ]
        for i, joint in enumerate(report["joints"])
    ]
    settings = report["settings"]
    return "\n".join(
        [
            f"# Actuator network: {report['env_id']}",
            "",
            f"Data: `{report['data']}` ({report['episodes']} episodes; "
            f"{report['steps']['train']} training and {report['steps']['validation']} "
            "held-out validation steps).",
            f"MLP {settings['hidden']} (tanh), history {settings['history']} steps, "
            f"{settings['epochs']} epochs, {report['wall_s']:.1f} s.",
            "",
            "Root-mean-square torque error as % of each joint's recorded torque range; "
            "'ideal' is torque = gain x command with least-squares gains:",
            "",
            render_markdown(
                ["joint", "torque range", "train %", "validation %", "ideal validation %"], rows
            ),
            "",
            f"Mean validation error: {report['validation_rmse_percent']:.2f}% "
            f"(ideal actuator: {report['ideal_validation_rmse_percent']:.2f}%).",
            "",
        ]
    )
