"""Every condition and script of a running process in the platform's expression language.

SpiffWorkflow's default script engine runs Python ``eval``/``exec``, and several of its call
sites use ``script_engine.environment.evaluate`` directly, so the sandbox is the environment
itself (flows.md, trap 1). Scripts are ``name = expression`` lines only. ISO 8601 timer values
(``PT1H``, ``R3/PT10M``, ``2026-12-01T10:00:00``, also inside ``${...}``) pass through as
literals (trap 3). A multi-instance completion condition sees the aggregated data of the
activity and Camunda-style counts (trap 2).
"""

from __future__ import annotations

import ast
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.util.task import TaskState

from trellis.expressions import (
    CONSTANTS,
    FUNCTIONS,
    MAX_EXPRESSION_LENGTH,
    CompiledExpression,
    ExpressionError,
    compile_expression,
)

#: a script line: ``name = expression`` (a name not starting with an underscore)
SCRIPT_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]{0,62})\s*=(?!=)\s*(.+?)\s*$")
MAX_SCRIPT_LINES = 50
_NUMBER = r"\d+(\.\d+)?"
_ISO_DURATION = (
    rf"P(?!$)({_NUMBER}Y)?({_NUMBER}M)?({_NUMBER}W)?({_NUMBER}D)?"
    rf"(T(?!$)({_NUMBER}H)?({_NUMBER}M)?({_NUMBER}S)?)?"
)
_ISO_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?"
ISO_DURATION = re.compile(rf"^{_ISO_DURATION}$")
ISO_TIMER = re.compile(
    rf"^(R\d*/)?({_ISO_DURATION}|{_ISO_DATETIME})(/({_ISO_DURATION}|{_ISO_DATETIME}))?$"
)
COUNTS = ("nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances")


def timer_literal(expression: str) -> str | None:
    """The ISO 8601 value of a timer expression (``PT1H``, ``${R2/PT1M}``), or None."""
    text = expression.strip()
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text if ISO_TIMER.match(text) else None


def error_text(error: BaseException) -> str:
    """An error of a step in words, with its causes (Spiff wraps ours)."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip().rstrip(".")
        # Spiff repeats a cause as "ClassName:<its text>": keep the cause's own words
        parts = [p for p in parts if p.split(":", 1)[-1].strip() != text or p == text]
        if text and text not in parts:
            parts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(parts) + "."


class _Compiled:
    """Compiled expressions by source, shared by every process (bounded)."""

    LIMIT = 2000

    def __init__(self) -> None:
        self._items: OrderedDict[str, CompiledExpression] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, source: str) -> CompiledExpression:
        with self._lock:
            found = self._items.get(source)
            if found is not None:
                return found
        compiled = compile_expression(source, names_in(source))
        with self._lock:
            self._items[source] = compiled
            while len(self._items) > self.LIMIT:
                self._items.popitem(last=False)
        return compiled


def names_in(source: str) -> set[str]:
    """The variable names ``source`` uses (any name may be used while running; a missing one
    is empty); whether they exist is checked when a flow version is added."""
    if not isinstance(source, str) or len(source) > MAX_EXPRESSION_LENGTH:
        return set()  # compile_expression refuses it with the right message
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return set()
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and node.id not in FUNCTIONS
        and node.id not in CONSTANTS
        and not node.id.startswith("_")  # never a variable: compiling refuses it by name
    }


COMPILED = _Compiled()


def parse_script(script: str) -> list[tuple[str, CompiledExpression]]:
    """``name = expression`` lines, compiled; anything else is an :class:`ExpressionError`."""
    lines = [line for line in (script or "").splitlines() if line.strip()]
    if len(lines) > MAX_SCRIPT_LINES:
        raise ExpressionError(f"A script has at most {MAX_SCRIPT_LINES} lines.")
    parsed = []
    for number, line in enumerate(lines, 1):
        match = SCRIPT_LINE.match(line)
        if match is None:
            raise ExpressionError(
                f"Line {number}: a script line must be 'name = expression' (got {line[:60]!r})."
            )
        parsed.append((match.group(1), COMPILED.get(match.group(2))))
    return parsed


#: runs a service task's action: ``services(name, settings)`` (settings evaluated, flat)
Services = Callable[[str, dict[str, Any]], Any]


class ExpressionEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff's script environment, evaluating with :mod:`trellis.expressions` only."""

    def __init__(self, services: Services | None = None) -> None:
        super().__init__({})
        self.services = services

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None):
        literal = timer_literal(expression) if isinstance(expression, str) else None
        if literal is not None:
            return literal
        values = {**(external_context or {}), **(context or {})}
        return COMPILED.get(expression).evaluate(values)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None):
        values = {**(external_context or {}), **context}
        for name, compiled in parse_script(script):
            values[name] = context[name] = compiled.evaluate(values)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any):
        operation = kwargs.get("operation_name") or "?"
        if self.services is None:
            raise ExpressionError(f"Service {operation!r} is not available here.")
        return self.services(operation, dict(kwargs.get("operation_params") or {}))


class ExpressionScriptEngine(PythonScriptEngine):
    """The script engine of every process: attach a new one after every load (trap 6).
    ``services`` runs the actions of service tasks (none: a service task fails)."""

    def __init__(self, services: Services | None = None) -> None:
        super().__init__(environment=ExpressionEnvironment(services))

    def validate(self, expression: str) -> None:
        COMPILED.get(expression)

    def evaluate(self, task: Any, expression: str, external_context: Any = None):
        parent = task.parent
        spec = parent.task_spec if parent is not None else None
        if (
            isinstance(spec, MultiInstanceTask)
            and expression == spec.condition
            and task.task_spec.name == spec.task_spec
        ):
            return self._completion(parent, expression, external_context)
        return super().evaluate(task, expression, external_context)

    def call_service(self, task: Any, **kwargs: Any):
        try:
            return self.environment.call_service(task.data, **kwargs)
        except Exception as err:  # the default turns every error into "NameError: script"
            raise self.create_task_exec_exception(task, "", err) from err

    def _completion(self, parent: Any, expression: str, external_context: Any) -> Any:
        instances = [c for c in parent.children if c.task_spec.name == parent.task_spec.task_spec]
        merged = parent.internal_data.get("merged", [])
        context = {
            **parent.data,
            "nrOfInstances": len(instances),
            "nrOfCompletedInstances": len(merged),
            "nrOfActiveInstances": sum(
                1 for c in instances if not c.has_state(TaskState.FINISHED_MASK)
            ),
        }
        try:
            return self.environment.evaluate(expression, context, external_context)
        except Exception as exc:
            raise self.create_task_exec_exception(parent, expression, exc) from exc
