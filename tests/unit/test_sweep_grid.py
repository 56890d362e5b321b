"""Sweep grids: parsing --param/--values, binding to a layout, dynamics per point, DR range."""

import math

import numpy as np
import pytest

from sim2real.errors import UserError
from sim2real.evaluation.grid import (
    axis_value,
    bind_axes,
    dr_range,
    grid_points,
    parse_axes,
    parse_param,
    parse_values,
    point_dynamics,
)
from sim2real.randomization import parse_spec
from sim2real.randomization.dynamics import DynamicsLayout

LAYOUT = DynamicsLayout(
    {
        "link_mass": ("cart", "pole"),
        "joint_damping": ("slider", "hinge"),
        "gravity": ("z",),
        "observation_noise_std": ("x", "v"),
    }
)
NOMINAL = {
    "link_mass": np.array([1.0, 0.1]),
    "joint_damping": np.array([0.5, 0.005]),
    "gravity": np.array([-9.8]),
    "observation_noise_std": np.zeros(2),
}


def bind(params, values, scale=False):
    return bind_axes(parse_axes(params, values, scale), LAYOUT, NOMINAL, "test/Env-v0")


# --- parsing ---------------------------------------------------------------------------------


def test_values_range_is_linspace_inclusive():
    assert parse_values("0.5:2:4") == (0.5, 1.0, 1.5, 2.0)
    assert parse_values("-9.8:-4.8:3") == pytest.approx((-9.8, -7.3, -4.8))


def test_values_list_and_single():
    assert parse_values("0.1,0.2,0.4") == (0.1, 0.2, 0.4)
    assert parse_values("3") == (3.0,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1:2", "expected LO:HI:N"),
        ("a:2:3", "expected LO:HI:N"),
        ("1:2:2.5", "expected LO:HI:N"),
        ("2:1:5", "LO < HI"),
        ("1:2:1", "N >= 2"),
        ("1,3,2", "strictly increasing"),
        ("1,nan", "finite"),
    ],
)
def test_bad_values(text, message):
    with pytest.raises(UserError, match=message):
        parse_values(text)


def test_param_with_selector_globs():
    assert parse_param("link_mass") == ("link_mass", ())
    assert parse_param("link_mass:pole") == ("link_mass", ("pole",))
    assert parse_param("link_mass:thigh*, foot") == ("link_mass", ("thigh*", "foot"))
    for empty in ("link_mass:", "link_mass:pole,,"):
        with pytest.raises(UserError, match="empty element name in the selector"):
            parse_param(empty)


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(UserError, match="unknown parameter 'mass'; valid: .*link_mass"):
        parse_param("mass:pole")


def test_axes_pairing_and_limits():
    with pytest.raises(UserError, match="2 --param but 1 --values"):
        parse_axes(["link_mass", "gravity"], ["1:2:3"])
    with pytest.raises(UserError, match="at most 2"):
        parse_axes(["link_mass:cart", "gravity", "joint_damping"], ["1,2"] * 3)
    with pytest.raises(UserError, match="same elements"):
        parse_axes(["link_mass:pole", "link_mass"], ["1,2", "1,2"])
    axes = parse_axes(["link_mass:pole", "link_mass:cart"], ["1,2", "3,4"])
    assert [a.selector for a in axes] == [("pole",), ("cart",)]


def test_grid_points_first_axis_outermost():
    axes = parse_axes(["link_mass:pole", "gravity"], ["1,2", "-9,-8,-7"])
    assert grid_points(axes) == [
        (1.0, -9.0), (1.0, -8.0), (1.0, -7.0), (2.0, -9.0), (2.0, -8.0), (2.0, -7.0)
    ]  # fmt: skip


# --- binding and dynamics --------------------------------------------------------------------


def test_absolute_values_go_to_selected_elements_only():
    (axis,) = bind(["link_mass:pole"], ["0.2,0.3"])
    assert point_dynamics([axis], (0.3,)) == {"link_mass": {"pole": 0.3}}


def test_scale_multiplies_each_nominal():
    (axis,) = bind(["link_mass"], ["0.5,2"], scale=True)
    assert point_dynamics([axis], (2.0,)) == {"link_mass": {"cart": 2.0, "pole": 0.2}}


def test_two_axes_on_one_parameter_merge():
    axes = bind(["link_mass:pole", "link_mass:cart"], ["0.2,0.3", "2,3"])
    assert point_dynamics(axes, (0.2, 3.0)) == {"link_mass": {"pole": 0.2, "cart": 3.0}}


def test_parameter_not_in_env_is_a_user_error():
    with pytest.raises(UserError, match="lateral_friction: parameter not randomizable in test/Env"):
        bind(["lateral_friction"], ["0.5,1"])


def test_unknown_element_lists_valid_names():
    with pytest.raises(UserError, match="'torso' matches nothing; valid: cart, pole"):
        bind(["link_mass:torso"], ["0.5,1"])


@pytest.mark.parametrize(
    ("param", "values", "scale"),
    [
        ("link_mass:pole", "0:1:3", False),
        ("link_mass", "-1,2", True),
        ("joint_damping", "-0.1,1", False),
    ],
)
def test_non_physical_values_are_rejected(param, values, scale):
    with pytest.raises(UserError, match="it must stay"):
        bind([param], [values], scale)


def test_gravity_may_take_any_sign():
    (axis,) = bind(["gravity"], ["-12,0,3"])
    assert point_dynamics([axis], (0.0,)) == {"gravity": {"z": 0.0}}


def test_axis_value_absolute_and_scaled():
    (absolute,) = bind(["link_mass"], ["1,2"])
    (scaled,) = bind(["link_mass"], ["1,2"], scale=True)
    values = np.array([2.0, 0.3])
    assert axis_value(absolute, values) == pytest.approx(1.15)
    assert axis_value(scaled, values) == pytest.approx(2.5)  # mean(2/1, 0.3/0.1)


# --- training DR range ----------------------------------------------------------------------


SPEC = parse_spec(
    [
        {"parameter": "link_mass", "selector": "pole", "range": [0.5, 3.0]},
        {"parameter": "link_mass", "selector": "cart", "range": [0.2, 0.4], "operation": "add"},
        {"parameter": "gravity", "range": [0.9, 1.1]},
    ]
)


def test_dr_range_absolute_per_selected_elements():
    (pole,) = bind(["link_mass:pole"], ["0.1,0.2"])
    assert dr_range(pole, SPEC) == pytest.approx((0.05, 0.3))
    (both,) = bind(["link_mass"], ["0.1,0.2"])
    assert dr_range(both, SPEC) == pytest.approx((0.05, 1.4))  # envelope over both terms


def test_dr_range_scaled_and_negative_nominal():
    (pole,) = bind(["link_mass:pole"], ["1,2"], scale=True)
    assert dr_range(pole, SPEC) == pytest.approx((0.5, 3.0))
    (gravity,) = bind(["gravity"], ["1,2"], scale=True)
    assert dr_range(gravity, SPEC) == pytest.approx((0.9, 1.1))
    (gravity_abs,) = bind(["gravity"], ["-10,-9"])
    assert dr_range(gravity_abs, SPEC) == pytest.approx((-10.78, -8.82))


def test_dr_range_none_when_not_randomized():
    (damping,) = bind(["joint_damping"], ["0,1"])
    assert dr_range(damping, SPEC) is None
    assert not math.isnan(axis_value(damping, NOMINAL["joint_damping"]))
