"""The adapter to SpiffWorkflow: the only place that imports it (no Spiff type leaves it)."""

from trellis.flows.engine.process import NotWaiting, Process, Timer, UserStep
from trellis.flows.engine.sandbox import (
    ISO_DURATION,
    Services,
    error_text,
    parse_script,
    timer_literal,
)
from trellis.flows.engine.services import nest
from trellis.flows.engine.specs import (
    SPECS,
    ParsedSpec,
    SpecError,
    expression_problems,
    parse_bpmn,
    service_calls,
)

__all__ = [
    "ISO_DURATION",
    "SPECS",
    "NotWaiting",
    "ParsedSpec",
    "Process",
    "Services",
    "SpecError",
    "Timer",
    "UserStep",
    "error_text",
    "expression_problems",
    "nest",
    "parse_bpmn",
    "parse_script",
    "service_calls",
    "timer_literal",
]
