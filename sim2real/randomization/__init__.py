"""The domain-randomization engine: catalogue, spec (data), binding, sampling (pure), applying."""

from sim2real.randomization.apply import ModelHandles, apply_dynamics, read_nominal
from sim2real.randomization.binding import BoundSpec, BoundTerm, bind
from sim2real.randomization.catalogue import PARAMETERS, BodyPart, ParameterDef, get_parameter
from sim2real.randomization.dynamics import Dynamics, DynamicsLayout, from_named, to_named
from sim2real.randomization.events import EVENTS, EventDef
from sim2real.randomization.sampling import sample
from sim2real.randomization.spec import (
    Distribution,
    EventTerm,
    RandomizationSpec,
    SpecError,
    Term,
    is_list,
    load_spec,
    parse_spec,
)

__all__ = [
    "EVENTS",
    "PARAMETERS",
    "BodyPart",
    "BoundSpec",
    "BoundTerm",
    "Distribution",
    "Dynamics",
    "DynamicsLayout",
    "EventDef",
    "EventTerm",
    "ModelHandles",
    "ParameterDef",
    "RandomizationSpec",
    "SpecError",
    "Term",
    "apply_dynamics",
    "bind",
    "from_named",
    "get_parameter",
    "is_list",
    "load_spec",
    "parse_spec",
    "read_nominal",
    "sample",
    "to_named",
]
