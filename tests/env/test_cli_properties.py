"""Property-based: sweep value strings and parameters parse or fail in one line, and the CLI
answers any bad command line with exit code 2 and one line on stderr, never a traceback.

Bad command lines combine damaged run directories (random run.json, config.yaml and model
bytes), out-of-range and malformed options, impossible output locations and random tokens;
each one has at least one bad part, so no command gets as far as training or rollouts.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_inputs import Tally, assert_one_line, tally_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim2real.cli import main
from sim2real.errors import UserError
from sim2real.evaluation.grid import parse_axes, parse_param, parse_values
from sim2real.limits import SWEEP_POINTS, LargeValueWarning
from sim2real.resources import shipped_dir

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TALLY = Tally(__name__)
_write_tally = tally_fixture(TALLY)

# -- sweep value strings and parameters ---------------------------------------------------------

number_text = st.one_of(
    st.sampled_from(["0", "1", "-1", "0.5", "1e308", "-1e308", "1e-320", "inf", "-inf", "nan"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**30), 10**30).map(str),
    st.text(alphabet="0123456789.-+eE", min_size=1, max_size=6),
)
count_text = st.one_of(
    st.sampled_from(["2", "0", "-5", "1", "10000", "10001", "1000000000000", "2.5", "", "1e3"]),
    st.integers(-10, 20_000).map(str),
)
value_strings = st.one_of(
    st.builds(lambda lo, hi, n: f"{lo}:{hi}:{n}", number_text, number_text, count_text),
    st.lists(number_text, min_size=1, max_size=6).map(",".join),
    st.text(alphabet="0123456789.:,-+eEinfa ", max_size=20),
    st.sampled_from([",".join(["1"] * 10_001), ":".join(["1"] * 4), "1:2:3:4", ",,", ":"]),
)
param_strings = st.one_of(
    st.builds(
        lambda name, sep, selector: f"{name}{sep}{selector}",
        st.sampled_from(["link_mass", "gravity", "motor_strength", "mass", "", "link_mass "]),
        st.sampled_from(["", ":"]),
        st.one_of(st.sampled_from(["pole", "pole,cart", "p*", ",", "pole,", "[", "*"]), st.text()),
    ),
    st.text(max_size=12),
)


def _parse(kind: str, text, parse):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy warning would be a second line on stderr
        warnings.simplefilter("ignore", LargeValueWarning)
        try:
            result = parse(text)
        except UserError as error:
            assert_one_line(str(error))
            TALLY.record(kind, text, "refused")
            return None
    TALLY.record(kind, text, "loaded")
    return result


@SETTINGS
@given(value_strings)
def test_any_values_string_parses_to_a_sane_grid_or_fails_in_one_line(text):
    values = _parse("sweep --values", text, parse_values)
    if values is not None:
        assert 1 <= len(values) <= SWEEP_POINTS.maximum
        assert all(math.isfinite(v) for v in values)
        assert all(a < b for a, b in zip(values, values[1:], strict=False))


@SETTINGS
@given(param_strings)
def test_any_param_string_parses_or_fails_in_one_line(text):
    _parse("sweep --param", text, parse_param)


@SETTINGS
@given(st.lists(st.tuples(param_strings, value_strings), min_size=0, max_size=3))
def test_any_sweep_axes_parse_within_the_grid_limit_or_fail_in_one_line(pairs):
    params, values = [p for p, _ in pairs], [v for _, v in pairs]
    axes = _parse("sweep axes", (params, values), lambda given: parse_axes(*given))
    if axes is not None:
        assert math.prod(len(axis.values) for axis in axes) <= SWEEP_POINTS.maximum


# -- the command line ---------------------------------------------------------------------------

GOOD_META = {
    "env_id": "sim2real/CartPole-v0",
    "algorithm": "PPO",
    "seed": 0,
    "status": "finished",
    "timesteps": 64,
}
GOOD_CONFIG = (shipped_dir() / "cartpole_nominal.yaml").read_text()


@pytest.fixture(scope="module", autouse=True)
def workdir(tmp_path_factory) -> Iterator[Path]:
    """Run the commands in an empty directory: their default outputs (reports/, runs/) land
    there if a bug let one through."""
    root = tmp_path_factory.mktemp("cli")
    (root / "a_file").write_text("not a directory")
    previous = Path.cwd()
    os.chdir(root)
    yield root
    os.chdir(previous)


meta_bytes = st.one_of(
    st.binary(max_size=30),
    st.dictionaries(
        st.sampled_from([*GOOD_META, "strategy", "transfer"]),
        st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=5), st.sampled_from(["SAC"])),
    ).map(lambda changes: json.dumps({**GOOD_META, **changes}).encode()),
    st.sampled_from([b"[]", b"{}", b"null", json.dumps(GOOD_META).encode()]),
)
config_bytes = st.one_of(
    st.just(GOOD_CONFIG.encode()),
    st.binary(max_size=30),
    st.sampled_from([b"[1]", b"name: x\n", GOOD_CONFIG.replace("PPO", "SAC").encode()]),
)
model_bytes = st.one_of(st.none(), st.binary(max_size=40), st.just(b"PK\x05\x06" + bytes(18)))


@st.composite
def damaged_run(draw: st.DrawFn) -> str:
    """A run directory with random run.json, config.yaml and model.zip bytes (or a path that
    is no run directory at all)."""
    kind = draw(st.sampled_from(["damaged", "damaged", "missing", "file", "empty"]))
    if kind == "missing":
        return "no_such_run"
    if kind == "file":
        return "a_file"
    path = Path(f"run-{draw(st.integers(0, 10**9))}")
    path.mkdir(exist_ok=True)
    if kind == "damaged":
        (path / "run.json").write_bytes(draw(meta_bytes))
        (path / "config.yaml").write_bytes(draw(config_bytes))
        model = draw(model_bytes)
        if model is not None:
            (path / "model.zip").write_bytes(model)
    return str(path)


def option(name: str, values: list[str]) -> st.SearchStrategy[list[str]]:
    """``[]`` or ``[name, value]`` with a value that is good, bad or malformed."""
    return st.one_of(st.just([]), st.sampled_from(values).map(lambda value: [name, value]))


COUNTS = ["1", "2", "0", "-1", "abc", "1e3", "100001", "99999999999999999999"]
SEEDS = ["0", "3", "-1", "2147483648", "x"]
outputs = st.sampled_from(["out", "a_file", "a_file/out", "/proc/none/out", ""])


@st.composite
def rollout_options(draw: st.DrawFn) -> list[str]:
    parts = [
        draw(option("--episodes", COUNTS)),
        draw(option("--seeds", [*SEEDS, "1 1"])),
        draw(option("--workers", ["1", "0", "5000"])),
        draw(option("--n-boot", ["100", "0", "10000000"])),
        draw(option("--seed", SEEDS)),
    ]
    return [token for part in parts for token in part]


@st.composite
def bad_command_lines(draw: st.DrawFn) -> list[str]:
    verb = draw(st.sampled_from(["evaluate", "sweep", "export", "compare", "transfer", "train"]))
    run = draw(damaged_run())
    out = draw(outputs)
    if verb == "evaluate":
        return ["evaluate", run, *draw(rollout_options()), "--out", out]
    if verb == "sweep":
        pair = ["--param", draw(param_strings), f"--values={draw(value_strings)}"]
        return ["sweep", run, *pair, *draw(rollout_options()), "--out", out]
    if verb == "export":
        return ["export", run, "--out", out]
    if verb == "compare":
        extra = draw(option("--threshold", ["1", "nan", "inf", "x"])) + draw(
            option("--n-boot", ["0", "10", "-2"])
        )
        return ["compare", run, "--scratch", draw(damaged_run()), *extra, "--out", out]
    if verb == "transfer":
        return [
            "transfer",
            run,
            "--target",
            draw(st.sampled_from(["cartpole_heavy.yaml", "hopper_heavy.yaml", "nope.yaml"])),
            "--budget",
            draw(st.sampled_from(COUNTS + ["10000000001"])),
            *draw(option("--strategy", ["full", "freeze", "scratch", "bogus"])),
            *draw(option("--lr-scale", ["0.1", "0", "nan", "-1"])),
            *draw(option("--eval-episodes", COUNTS)),
            *draw(option("--seed", SEEDS)),
            "--run-dir",
            out or "a_file",
            "--no-progress",
        ]
    overrides = draw(
        st.lists(
            st.sampled_from(
                [
                    "total_timesteps=1e30",
                    "n_envs=100000000",
                    "env.kwargs.render_mode=human",
                    "algorithm.policy=MultiInputPolicy",
                    "seed=-1",
                    "evaluation.episodes=1e9",
                    "checkpoint.keep=0",
                    "n_envs=2",
                    "total_timesteps=64",
                ]
            ),
            max_size=2,
        )
    )
    sets = [token for override in overrides for token in ("--set", override)]
    # The run directory is always impossible: nothing gets to train.
    return ["train", "cartpole_nominal.yaml", *sets, "--run-dir", "a_file/run", "--no-progress"]


def _not_help(token: str) -> bool:
    return not token.startswith(("-h", "--h"))  # argparse expands --he to --help


random_command_lines = st.builds(
    lambda verb, tokens: [verb, *tokens],
    st.sampled_from(["evaluate", "sweep", "export", "compare", "transfer", "train", "rollout"]),
    st.lists(
        st.one_of(
            st.text(max_size=8).filter(_not_help),
            st.sampled_from(["--episodes", "--out", "--set", "--param", "--values", "--seed"]),
        ),
        max_size=5,
    ),
)
rollout_lines = st.builds(
    lambda env, extra, randomization: ["rollout", env, *extra, "--randomization", randomization],
    st.sampled_from(["sim2real/CartPole-v0", "CartPole-v1", "sim2real/Nope-v0"]),
    st.one_of(option("--episodes", COUNTS), option("--seed", SEEDS)),
    st.sampled_from(["no_such_spec.yaml", "a_file", "targets/cartpole_heavy.yaml"]),
)


@SETTINGS
@given(st.one_of(bad_command_lines(), random_command_lines, rollout_lines))
def test_any_bad_command_line_exits_2_with_one_line(argv):
    out, err = io.StringIO(), io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        warnings.simplefilter("ignore", LargeValueWarning)
        code = main(argv)
    message = err.getvalue()
    assert code == 2, (argv, code, message)
    assert_one_line(message)
    assert message.startswith("sim2real"), message
    assert not Path("reports").exists() and not Path("runs").exists()
    TALLY.record("command lines", argv, "refused")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sweep", "r", "--param", "gravity", "--values", "0.1:0.5:1000000000000"], "<= 10,000"),
        (["sweep", "r", "--param", "gravity", "--values=-1e308:1e308:3"], "finite numbers"),
        (["evaluate", "r", "--episodes", "1000000"], "--episodes = 1,000,000; must be <= 100,000"),
        (["evaluate", "r", "--seed", "-1"], "--seed = -1; must be >= 0"),
        (["evaluate", "r", "--seeds", "1", "-2"], "--seeds = -2; must be >= 0"),
        (["rollout", "sim2real/CartPole-v0", "--episodes", "10000000"], "must be <= 100,000"),
        (["rollout", "sim2real/CartPole-v0", "--seed", "-3"], "--seed = -3; must be >= 0"),
        (["compare", "r", "--scratch", "s", "--seed", "-1"], "--seed = -1; must be >= 0"),
        (["evaluate"], "error: the following arguments are required: RUN; see sim2real evaluate"),
        (["train", "--bogus"], "error: unrecognized arguments: --bogus; see sim2real --help"),
        (["evaluate", "r", "--episodes", "x"], "argument --episodes: invalid int value: 'x'"),
        # Path("") is ".": an empty --out would write the report into the current directory.
        (["evaluate", "r", "--out", ""], "argument --out: '': empty; give a path"),
        (["export", "r", "--out", " "], "argument --out: ' ': empty; give a path"),
    ],
)
def test_bad_options_are_one_line_before_any_work(argv, expected):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 2
    assert_one_line(err.getvalue())
    assert expected in err.getvalue(), err.getvalue()
