"""``sim2real envs`` and ``sim2real rollout``: what a user sees of the worlds and their specs."""

from __future__ import annotations

from sim2real.cli import main


def test_rollout_reads_scientific_notation_and_counts_events(tmp_path, capsys):
    """Regression: spec files were read with another YAML loader than configs (1e-2 failed)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "terms:\n"
        "  - {parameter: action_noise_std, range: [1e-2, 1e-2], operation: abs}\n"
        "  - {event: push_impulse, selector: cart, axes: x, value: 1e-3, interval_s: 0.02}\n"
    )
    code = main(
        ["rollout", "sim2real/CartPole-v0", "--randomization", str(spec), "--episodes", "1"]
    )
    header, _, row = capsys.readouterr().out.splitlines()[1:4]
    assert code == 0
    assert header.split()[:5] == ["episode", "return", "steps", "events", "action_noise_std"]
    _, _, steps, events, noise = row.split()
    # One push every 0.02 s step from t = 0.02 s: every step but the first.
    assert int(events) == int(steps) - 1 and float(noise) == 0.01


def test_envs_lists_parameters_and_events(capsys):
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    assert "joint_friction         [N*m] joint: thigh_joint, leg_joint, foot_joint" in out
    assert "events: push_velocity, push_impulse on torso, thigh, leg, foot" in out


def test_warnings_are_one_line_without_a_source_line(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("terms:\n  - {parameter: action_latency_s, range: [0, 0.03], operation: abs}\n")
    argv = ["rollout", "sim2real/CartPole-v0", "--randomization", str(spec), "--episodes", "1"]
    assert main(argv) == 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sim2real rollout: warning: ") and "rounded to 2 step(s)" in line


def test_errors_are_one_line_even_when_a_value_holds_a_line_break(tmp_path, capsys):
    spec = tmp_path / "two\nlines.yaml"
    spec.write_text("terms:\n  - {parameter: wing_span, value: 1}\n")
    code = main(["rollout", "sim2real/CartPole-v0", "--randomization", str(spec)])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and line.startswith("sim2real rollout: error: ") and "wing_span" in line
