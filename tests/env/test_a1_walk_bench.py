"""bench/a1_walk.py's tables on hand-computed episodes: --dynamics (correlations of the
achieved speed with each draw) and --gait (duty factors, actions at the bound)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from a1_walk import dynamics_table, fraction_at_bound, gait_table  # noqa: E402


def episode(speed: float, payload: float, kp: list[float]) -> dict:
    return {
        "achieved_speed": speed,
        "dynamics": {
            "link_mass": {"trunk": 4.71 + payload, "FR_hip": 0.696},
            "kp": {"FR_hip_joint": kp[0], "FL_hip_joint": kp[1]},
            "gravity": -9.8,
        },
    }


def rows(table: str) -> dict[str, list[str]]:
    lines = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    return {cells[0]: cells[1:] for cells in (line.strip("| ").split(" | ") for line in lines[1:])}


def test_each_varied_parameter_gets_its_correlation_strongest_first():
    speeds = [1.0, 0.8, 0.6, 0.4]
    payloads = [0.0, 0.5, 1.0, 1.5]  # slower with every kilogram: r = -1
    kps = [[20, 22], [24, 20], [21, 20], [20, 23]]
    table = dynamics_table(
        1.0, [episode(*args) for args in zip(speeds, payloads, kps, strict=True)]
    )
    by_name = rows(table)
    assert list(by_name) == ["link_mass (trunk)", "kp (mean of 2)"]  # gravity never varied
    assert by_name["link_mass (trunk)"] == ["4.71", "6.21", "-1.00"]
    kp_means = [np.mean(kp) for kp in kps]
    expected = np.corrcoef(kp_means, speeds)[0, 1]
    assert float(by_name["kp (mean of 2)"][2]) == pytest.approx(expected, abs=0.005)


def test_falls_within_the_first_second_are_left_out_and_too_few_say_so():
    fell = {**episode(0.0, 3.0, [20, 20]), "achieved_speed": math.nan}
    measured = [episode(1.0, 0.0, [20, 20]), episode(0.5, 1.0, [20, 20])]
    assert "too few measured episodes" in dynamics_table(1.0, [*measured, fell])
    same = [episode(1.0, 0.0, [20, 20])] * 3
    assert dynamics_table(1.0, same).endswith(
        "too few measured episodes, or speeds, for a correlation"
    )
    steady = [episode(s, 0.0, [20, 20]) for s in (1.0, 0.9, 0.8)]
    assert dynamics_table(1.0, steady).endswith("no randomized parameter varied")


def test_actions_at_the_bound_count_each_entry_at_either_end():
    high = np.array([1.0, 4.0], dtype=np.float32)
    actions = np.array([[1.0, 3.9], [-1.0, -4.0], [0.5, 4.0], [np.float32(0.9999999), 0.0]])
    assert fraction_at_bound(actions, high) == pytest.approx(5 / 8)  # 0.9999999: rounding


def test_the_gait_table_has_each_foots_duty_and_the_actions_at_the_bound():
    def walk(duty: float, at_bound: float) -> dict:
        return {"duty": [duty] * 4, "touchdowns_per_s": [2.0] * 4, "at_bound": at_bound}

    fell = {"duty": [math.nan] * 4, "touchdowns_per_s": [math.nan] * 4, "at_bound": math.nan}
    table = gait_table({1.0: {"per_episode": [walk(0.5, 0.9), fell, walk(0.7, 0.5)]}})
    row = rows(table)["1.00"]
    assert row == ["0.60"] * 4 + ["2.0"] * 4 + ["0.70"]
