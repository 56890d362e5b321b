"""Every-N-timesteps events on a fixed grid: SB3's ``EveryNTimesteps``, counted from step 0.

Checkpoints and evaluations (of training and of transfer) fire through this one trigger.
"""

from __future__ import annotations

from typing import Literal

from stable_baselines3.common.callbacks import BaseCallback, EveryNTimesteps

# When the trigger looks at the timestep count: after every env step (SB3's choice), or at
# the start or end of a rollout, for events that must see whole rollouts.
CheckOn = Literal["step", "rollout_start", "rollout_end"]


class EveryNTimestepsOnGrid(EveryNTimesteps):
    """SB3's :class:`EveryNTimesteps` on the multiples of ``n_steps`` counted from timestep 0.

    SB3 fires ``n_steps`` after the previous event, counted from the start of ``learn``; this
    fires at the first check at or after each multiple of ``n_steps``, so a resumed run keeps
    the grid of the run it continues. ``n_steps = 0`` never fires (call the event yourself).

    The event is SB3's: the child ``callback``'s ``on_step``, or a subclass's
    :meth:`_on_event`. ``check_on`` says when the timestep count is looked at.
    """

    def __init__(
        self, n_steps: int, callback: BaseCallback | None = None, check_on: CheckOn = "step"
    ):
        super().__init__(n_steps, callback)
        self.check_on: CheckOn = check_on

    def _on_training_start(self) -> None:
        super()._on_training_start()
        self.last_time_trigger = self._grid_point(self.num_timesteps)

    def _on_step(self) -> bool:
        return self._check() if self.check_on == "step" else True

    def _on_rollout_start(self) -> None:
        if self.check_on == "rollout_start":
            self._check()

    def _on_rollout_end(self) -> None:
        if self.check_on == "rollout_end":
            self._check()

    def _check(self) -> bool:
        timesteps = self.model.num_timesteps
        if self.n_steps <= 0 or timesteps - self.last_time_trigger < self.n_steps:
            return True
        self.last_time_trigger = self._grid_point(timesteps)
        return self._on_event()

    def _grid_point(self, timesteps: int) -> int:
        """The last multiple of ``n_steps`` at or before ``timesteps``."""
        return timesteps - timesteps % self.n_steps if self.n_steps > 0 else timesteps
