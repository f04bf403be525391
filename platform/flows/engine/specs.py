"""BPMN XML to process specs: parsed once per version (by hash) and shared by its instances.

Only an executable process runs (flows.md, trap 7); a document with a problem is reported as
a list of sentences, element by element, never evaluated.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.bpmn.specs.mixins.user_task import UserTask
from SpiffWorkflow.specs.MultiChoice import MultiChoice

from trellis.expressions import ExpressionError
from trellis.flows.engine.sandbox import COMPILED, COUNTS, names_in, parse_script, timer_literal
from trellis.flows.engine.services import PARSERS, ActionTask

MAX_BPMN_BYTES = 1_000_000


class SpecError(ValueError):
    """A BPMN document cannot run; ``problems`` are sentences for an administrator."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class ParsedSpec:
    """The process spec of one version (opaque outside the engine)."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]
    #: whether a service task runs actions (a step then runs in a savepoint)
    runs_actions: bool = False


class _Parser(BpmnParser):
    """Spiff's parser, with service tasks that run actions (:mod:`.services`)."""

    OVERRIDE_PARSER_CLASSES = PARSERS


def parse_bpmn(xml: str) -> ParsedSpec:
    """Parse and check a BPMN document; :class:`SpecError` lists what is wrong."""
    if not isinstance(xml, str) or not xml.strip():
        raise SpecError(["The BPMN document is empty."])
    if len(xml.encode()) > MAX_BPMN_BYTES:
        raise SpecError([f"The BPMN document is larger than {MAX_BPMN_BYTES} bytes."])
    parser = _Parser(validator=BpmnValidator())
    try:
        root = etree.fromstring(
            xml.encode(), etree.XMLParser(resolve_entities=False, no_network=True)
        )
        parser.add_bpmn_xml(root, filename="flow.bpmn")
        ids = parser.get_process_ids()
        if len(ids) != 1:
            raise SpecError(
                [f"The document must hold exactly one executable process (found {len(ids)})."]
            )
        spec = parser.get_spec(ids[0])
        subprocesses = parser.get_subprocess_specs(ids[0])
        for process_spec in (spec, *subprocesses.values()):
            _connect_multi_instance(process_spec)
    except SpecError:
        raise
    except ValidationException as exc:
        raise SpecError([str(exc).splitlines()[0]]) from None
    except etree.XMLSyntaxError as exc:
        raise SpecError([f"Not well-formed XML: {exc}"]) from None
    except Exception as exc:  # Spiff's parser raises many kinds for bad models
        raise SpecError([f"The process cannot be read: {exc}"]) from None
    runs_actions = any(
        isinstance(task, ActionTask)
        for process_spec in (spec, *subprocesses.values())
        for task in process_spec.task_specs.values()
    )
    return ParsedSpec(ids[0], spec, subprocesses, runs_actions)


def _connect_multi_instance(process_spec: Any) -> None:
    """Connect each multi-instance activity to its instances' completion up front: Spiff
    connects it only when it creates an instance, so a spec parsed in another process (a
    reload after a restart) would never merge a decision (the serializer does it on restore)."""
    for task_spec in process_spec.task_specs.values():
        if isinstance(task_spec, MultiInstanceTask):
            child = process_spec.task_specs[task_spec.task_spec]
            if not child.completed_event.is_connected(task_spec.merge_child):
                child.completed_event.connect(task_spec.merge_child)


def expression_problems(parsed: ParsedSpec, known: set[str]) -> list[str]:
    """Every condition, script and timer of ``parsed`` checked against the ``known`` names
    (record fields and process variables); the names scripts and multi-instance items set
    count as known too."""
    specs = [parsed.spec, *parsed.subprocess_specs.values()]
    task_specs = [t for s in specs for t in s.task_specs.values()]
    known = set(known) | set(COUNTS)
    for task in task_specs:
        if isinstance(task, ScriptEngineTask) and not isinstance(task, ActionTask):
            with contextlib.suppress(ExpressionError):  # reported below
                known.update(name for name, _ in parse_script(getattr(task, "script", "")))
        if isinstance(task, MultiInstanceTask):
            for item in (task.input_item, task.output_item, task.data_output):
                if item is not None:
                    known.add(item.bpmn_id)
        if isinstance(task, UserTask):
            known.add(f"{task.bpmn_id}_decision")
    problems: list[str] = []

    def check(where: str, source: str | None) -> None:
        if not source:
            return
        try:
            COMPILED.get(source)
        except ExpressionError as exc:
            problems.append(f"{where}: {exc.message}")
            return
        unknown = sorted(names_in(source) - known)
        if unknown:
            problems.append(f"{where}: unknown name {', '.join(map(repr, unknown))}.")

    for task in task_specs:
        where = f"{task.bpmn_name or task.bpmn_id or task.name}"
        if isinstance(task, ScriptEngineTask) and not isinstance(task, ActionTask):
            try:
                parse_script(getattr(task, "script", ""))
            except ExpressionError as exc:
                problems.append(f"Script of {where}: {exc.message}")
            else:
                for line in (task.script or "").splitlines():
                    if line.strip():
                        check(f"Script of {where}", line.split("=", 1)[1])
        if isinstance(task, MultiChoice):
            for condition, _target in task.cond_task_specs:
                source = condition.args[0] if condition is not None else None
                check(f"Condition after {where}", source)
        if isinstance(task, ActionTask):
            for name, source in task.operation_params.items():
                check(f"Parameter {name!r} of {where}", source)
        if isinstance(task, MultiInstanceTask):
            check(f"Completion condition of {where}", task.condition)
            check(f"Cardinality of {where}", task.cardinality)
        definition = getattr(task, "event_definition", None)
        if (
            isinstance(definition, TimerEventDefinition)
            and timer_literal(definition.expression) is None
        ):
            check(f"Timer of {where}", definition.expression)
    return problems


class SpecCache:
    """Parsed specs by version hash, shared by every instance of the version (bounded)."""

    LIMIT = 128

    def __init__(self) -> None:
        self._items: OrderedDict[str, ParsedSpec] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, xml: str | Callable[[], str]) -> ParsedSpec:
        """The spec of the BPMN ``xml`` whose hash is ``key`` (``xml`` may be a function
        reading it: called only when the spec is not cached)."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        parsed = parse_bpmn(xml if isinstance(xml, str) else xml())
        with self._lock:
            self._items[key] = parsed
            while len(self._items) > self.LIMIT:
                self._items.popitem(last=False)
        return parsed


SPECS = SpecCache()


def service_calls(parsed: ParsedSpec) -> list[tuple[str, str, list[str]]]:
    """Each service task's (name in words, action name, parameter ids)."""
    specs = [parsed.spec, *parsed.subprocess_specs.values()]
    return [
        (task.bpmn_name or task.bpmn_id, task.operation_name, list(task.operation_params))
        for s in specs
        for task in s.task_specs.values()
        if isinstance(task, ActionTask)
    ]
