"""Drives automatic domain randomization (:mod:`sim2real.transfer.adr`) during training.

Each training env runs one episode ahead of the callback: SB3's vec envs reset an env the
moment its episode ends, before callbacks see the end, so the spec pushed when an episode ends
is the one the env's *next* episode starts with. The callback therefore keeps, per env, the
assignment of the episode now running and of the one after it (pushed already): before
learning, :meth:`AdrCallback.prime` pushes the first episodes' specs (SB3 resets the envs when
``learn`` starts), and at the start of training the second ones. When an env's episode ends,
its return (Monitor's ``info["episode"]["r"]``) goes to the ADR buffers if it ran at a bound,
and a new assignment is drawn and pushed with ``env_method("set_randomization", spec,
indices=[i])``, which reaches ``env.unwrapped`` through any wrapper and works for dummy and
subprocess vec envs alike.

TensorBoard, at the end of a rollout when a bound moved or ``log_interval_steps`` passed, and at
the end: ``adr/<parameter>/low``, ``adr/<parameter>/high``,
``adr/entropy`` (see :meth:`AutomaticDR.entropy`) and ``adr/width_fraction``. ``adr.json`` is
rewritten when a bound moved and at the end of training (see :mod:`sim2real.transfer.adr_run`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from sim2real.tensorboard_log import OnError, tensorboard_writer
from sim2real.transfer.adr import DISTRIBUTION, Assignment, AutomaticDR
from sim2real.transfer.adr_run import adr_record

SET_RANDOMIZATION = "set_randomization"


class AdrCallback(BaseCallback):
    """Boundary sampling, bound updates and logging of one ADR state over a run.

    ``write(record)`` saves the ADR record (adr.json); ``history``: bound moves so far (a
    resumed run continues its list); ``seed``: the boundary draws' generator; ``on_error``:
    where a failed write of adr.json goes (a warning; the run goes on, checkpoints keep the state);
    ``warmup_steps``: no episode is pinned at a bound before this timestep (``adr.warmup_steps``).
    """

    def __init__(
        self,
        adr: AutomaticDR,
        seed: int,
        write: Callable[[dict[str, Any]], Any],
        history: list[dict[str, Any]] | None = None,
        report: Callable[[str], None] | None = None,
        on_error: OnError | None = None,
        log_interval_steps: int = 1000,
        warmup_steps: int = 0,
    ):
        super().__init__()
        self.adr = adr
        self.rng = np.random.default_rng(seed)
        self.write = write
        self.history = history if history is not None else []
        self.report = report
        self.on_error = on_error
        self.log_interval_steps = log_interval_steps
        self.warmup_steps = warmup_steps
        self.running: list[Assignment] = []  # the episode each env runs now
        self.upcoming: list[Assignment] = []  # pushed, for the episode after it
        self._unsaved = False  # a bound moved since adr.json was written
        self._unlogged = False  # ... since TensorBoard was
        self._logged_at: int | None = None

    def prime(self, venv: VecEnv) -> None:
        """Push the first episodes' specs (before ``learn``, which resets the envs)."""
        self.running = [self._push(venv, index) for index in range(venv.num_envs)]
        self.upcoming = [DISTRIBUTION] * venv.num_envs

    def _on_training_start(self) -> None:
        self.num_timesteps = self.model.num_timesteps  # SB3 sets it on the first step only
        if not self.running:  # not primed: the first episodes ran on the envs' own spec
            self.running = [DISTRIBUTION] * self.training_env.num_envs
        self.upcoming = [self._push(self.training_env, i) for i in range(len(self.running))]
        self.save()

    def _on_step(self) -> bool:
        dones, infos = self.locals["dones"], self.locals["infos"]
        for index in np.flatnonzero(dones):
            episode = infos[index].get("episode")
            if episode is not None:
                self._record(self.running[index], float(episode["r"]))
            self.running[index] = self.upcoming[index]
            self.upcoming[index] = self._push(self.training_env, int(index))
        return True

    def _on_rollout_end(self) -> None:
        due = self._logged_at is None or (
            self.num_timesteps - self._logged_at >= self.log_interval_steps
        )
        if due or self._unlogged:
            self.log()
        if self._unsaved:
            self.save()

    def _on_training_end(self) -> None:
        self.log()
        self.save()

    def record(self) -> dict[str, Any]:
        """The ADR state with its history, as adr.json and checkpoints hold it."""
        return adr_record(self.adr, self.num_timesteps, self.history)

    def save(self) -> None:
        """Write the ADR record (adr.json)."""
        try:
            self.write(self.record())
        except Exception as error:
            if self.on_error is None:
                raise
            self.on_error("writing adr.json", error)
        self._unsaved = False

    def log(self) -> None:
        """Bounds, entropy and width fraction to TensorBoard (once per timestep)."""
        writer = tensorboard_writer(self.logger)
        step = self.num_timesteps
        if writer is None or step == self._logged_at:
            return
        self._logged_at, self._unlogged = step, False
        for name, (low, high) in self.adr.bounds.items():
            writer.add_scalar(f"adr/{name}/low", low, step)
            writer.add_scalar(f"adr/{name}/high", high, step)
        writer.add_scalar("adr/entropy", self.adr.entropy(), step)
        writer.add_scalar("adr/width_fraction", self.adr.width_fraction(), step)
        writer.flush()

    def _push(self, venv: VecEnv, index: int) -> Assignment:
        warming_up = self.num_timesteps < self.warmup_steps
        assignment = DISTRIBUTION if warming_up else self.adr.sample_assignment(self.rng)
        venv.env_method(SET_RANDOMIZATION, self.adr.episode_spec(assignment), indices=[index])
        return assignment

    def _record(self, assignment: Assignment, episode_return: float) -> None:
        decision = self.adr.record(assignment, episode_return)
        if decision is None or decision.move == "stay":
            return
        self._unsaved = self._unlogged = True
        self.history.append(
            {
                "timesteps": int(self.num_timesteps),
                "parameter": decision.parameter,
                "side": decision.side,
                "move": decision.move,
                "mean_return": decision.mean_return,
                "before": decision.before,
                "after": decision.after,
            }
        )
        if self.report is not None:
            self.report(
                f"adr @ {self.num_timesteps:,} steps: {decision.parameter} {decision.side} "
                f"{decision.before:g} -> {decision.after:g} (mean return "
                f"{decision.mean_return:.1f})"
            )
