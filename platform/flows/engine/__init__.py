"""The adapter to SpiffWorkflow: the only place that imports it (no Spiff type leaves it)."""

from trellis.flows.engine.process import NotWaiting, Process, Timer, UserStep
from trellis.flows.engine.sandbox import ISO_DURATION, error_text, parse_script, timer_literal
from trellis.flows.engine.specs import SPECS, ParsedSpec, SpecError, expression_problems, parse_bpmn

__all__ = [
    "ISO_DURATION",
    "SPECS",
    "NotWaiting",
    "ParsedSpec",
    "Process",
    "SpecError",
    "Timer",
    "UserStep",
    "error_text",
    "expression_problems",
    "parse_bpmn",
    "parse_script",
    "timer_literal",
]
