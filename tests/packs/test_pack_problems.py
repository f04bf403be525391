"""A broken pack (issue 14): every problem is listed with its file, its line and its JSON
path, from YAML syntax through the schema to the cross-references; the published JSON
Schema is a valid schema and the one ``trellis pack schema`` prints."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from trellis.packs.loading import load_pack
from trellis.packs.problems import PackInvalid, Problem
from trellis.packs.schema import SCHEMA_FILE, build_schema, schema_text

FILES = {
    "pack.yaml": """\
name: broken
version: not a version
trellis: ">=0.1"
requires: {other: "~~1"}
""",
    "lists/stage.yaml": """\
key: stage
label: Stage
options:
  - {key: a, label: A}
  - {key: a, label: Again}
""",
    "entities/task.yaml": """\
key: task
label: Task
title: "{nme}"
card_fields: [name, nothing]
fields:
  - {key: name, label: Name, type: text, required: true}
  - key: kind
    label: Kind
    type: list
    settings: {list: kinds}
  - {key: owner_ref, label: Owner, type: reference, settings: {target: person}}
  - {key: count, label: Count, type: integer, colour: red}
  - {key: score, type: number}
  - {key: id, label: Id, type: text}
""",
    "entities/wrongname.yaml": "key: other\nlabel: Other\n",
    "pipelines/task.flow.yaml": """\
entity: task
key: flow
label: Flow
stages:
  - {key: todo, label: To do}
  - {key: done, label: Done, kind: success, enter_roles: [chief], next_stages: [nowhere]}
""",
    "rules/task.needs_name.yaml": """\
entity: task
key: needs_name
kind: required
field: name
when: "cont > 2"
from_stage: flow.later
""",
    "rules/task.check.yaml": """\
entity: task
key: check
kind: validation
expression: "count >"
""",
    "conversions/task_to_note.yaml": """\
key: task_to_note
source: task
targets:
  task:
    fields: {name: name}
  note:
    fields: {title: nme}
""",
    "flows/task_flow.yaml": """\
key: task_flow
label: Task flow
entity: task
trigger: {on: stage, stage: doing, when: "cont > 1"}
versions:
  - route:
      steps:
        - {id: boss, label: Boss, approvers: {users: [nobody]}, mode: any}
      on_approved: {stage: done}
""",
    "roles/worker.yaml": """\
key: worker
label: Worker
grants:
  task: {read: all, update: sometimes, fields: {secret: hidden}}
""",
    "duplicates/task.nothing.yaml": "entity: task\nfields: [nothing]\n",
    "samples/task.yaml": """\
- {name: First, colour: red, _stage: later, _ref: first}
- {name: Second, owner_ref: "@nobody"}
- {owner_ref: "@first"}
""",
    "automations/bad.yaml": "key: bad\nentity: task\ntrigger: {on: create}\nactions: []\n",
    "lists/broken.yaml": "key: broken\nlabel: [Broken\n",
    "notes/readme.yaml": "a: 1\n",
    "lists/data.json": '{"key": "data", "label": "Data", "options": [{"key": "x"}]}',
    "lists/twice.yaml": "key: twice\nlabel: Twice\nlabel: Again\n",
    "lists/twice_json.json": '{"key": "twice_json", "label": "A", "label": "B"}',
}

#: (file, line, path, the start of the message)
EXPECTED = [
    ("pack.yaml", 2, "$.version", "Use a version such as"),
    ("pack.yaml", 4, "$.requires.other", "Use a version range"),
    ("lists/stage.yaml", 5, "$.options[1].key", "Key 'a' is used twice."),
    ("lists/broken.yaml", 3, "$", "Not valid YAML"),
    ("lists/data.json", 1, "$.options[0].label", "Required."),
    ("lists/twice.yaml", 3, "$", "Not valid YAML: the key 'label' is given twice."),
    ("lists/twice_json.json", None, "$", "Not valid JSON: the key 'label' is given twice."),
    ("notes/readme.yaml", None, "$", "Unknown folder 'notes'"),
    ("entities/task.yaml", 3, "$.title", "Unknown field: nme"),
    ("entities/task.yaml", 4, "$.card_fields[1]", "No field 'nothing'."),
    ("entities/task.yaml", 10, "$.fields[1].settings.list", "No option list 'kinds'"),
    ("entities/task.yaml", 11, "$.fields[2].settings.target", "No entity type 'person'"),
    ("entities/task.yaml", 12, "$.fields[3].colour", "Unknown property."),
    ("entities/task.yaml", 13, "$.fields[4].label", "Required."),
    ("entities/task.yaml", 13, "$.fields[4].type", "Use one of:"),
    ("entities/task.yaml", 14, "$.fields[5].key", "'id' is reserved"),
    ("entities/wrongname.yaml", 1, "$.key", "The file of this entity is named other.yaml."),
    ("pipelines/task.flow.yaml", 6, "$.stages[1].enter_roles[0]", "No role 'chief'"),
    ("pipelines/task.flow.yaml", 6, "$.stages[1].next_stages", "No stage 'nowhere'"),
    ("rules/task.needs_name.yaml", 5, "$.when", "Unknown name"),
    ("rules/task.needs_name.yaml", 6, "$.from_stage", "Pipeline 'flow' has no stage 'later'."),
    ("rules/task.check.yaml", 4, "$.expression", "Syntax error"),
    ("rules/task.check.yaml", 1, "$.message", "Say what the user should fix."),
    ("conversions/task_to_note.yaml", 4, "$.targets.task", "A record cannot be converted"),
    ("conversions/task_to_note.yaml", 6, "$.targets.note", "No entity type 'note'"),
    ("flows/task_flow.yaml", 4, "$.trigger.stage", "No stage 'doing'"),
    ("flows/task_flow.yaml", 4, "$.trigger.when", "Unknown name"),
    ("flows/task_flow.yaml", 8, "$.versions[0].route.steps[0].approvers.users[0]", "No user"),
    ("roles/worker.yaml", 4, "$.grants.task.update", "Use one of: none, own, all."),
    ("samples/task.yaml", 1, "$[0].colour", "'task' has no field 'colour'."),
    ("samples/task.yaml", 1, "$[0]._stage", "No stage 'later'"),
    ("samples/task.yaml", 2, "$[1].owner_ref", "No sample record has the _ref 'nobody'."),
    ("samples/task.yaml", 3, "$[2]", "'name' is required."),
    ("automations/bad.yaml", 4, "$.actions", "Give at least 1."),
    ("duplicates/task.nothing.yaml", 2, "$.fields[0]", "No field 'nothing'."),
    ("roles/worker.yaml", 4, "$.grants.task.fields.secret", "No field 'secret'."),
]


def _write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def _matches(problem: Problem, expected: tuple) -> bool:  # type: ignore[type-arg]
    file, line, path, start = expected
    return (problem.file, problem.line, problem.path) == (file, line, path) and (
        problem.message.startswith(start) or start in problem.message
    )


def test_every_problem_is_listed_with_its_file_line_and_path(tmp_path: Path) -> None:
    with pytest.raises(PackInvalid) as refused:
        load_pack(_write(tmp_path, FILES))
    problems = refused.value.problems
    missing = [e for e in EXPECTED if not any(_matches(p, e) for p in problems)]
    assert missing == [], "\n".join(map(str, problems))
    # each is said once, in file and line order
    assert len(problems) == len(set(problems))
    assert problems == sorted(problems, key=lambda p: (p.file, p.line or 0, p.path, p.message))
    # the report as data (for the API's problem+json)
    assert refused.value.problems[0].as_data().keys() == {"file", "line", "path", "message"}


def test_a_pack_without_a_manifest_and_an_id_field(tmp_path: Path) -> None:
    folder = _write(
        tmp_path,
        {
            "entities/task.yaml": "key: task\nlabel: Task\n"
            "fields:\n  - {key: id, label: Id, type: text}\n"
        },
    )
    with pytest.raises(PackInvalid) as refused:
        load_pack(folder)
    said = {(p.file, p.path) for p in refused.value.problems}
    assert ("pack.yaml", "$") in said
    assert ("entities/task.yaml", "$.fields[0].key") in said  # a reserved key


def test_the_published_schema_is_a_valid_schema_and_up_to_date(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["pack", "schema"])
    assert result.exit_code == 0
    printed = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == build_schema()
    assert SCHEMA_FILE.read_text() == schema_text(), "regenerate pack.schema.json"
    # the schema describes a pack as an object of files
    validator = jsonschema.Draft202012Validator(printed)
    good = {
        "pack.yaml": {"name": "crm", "version": "1.0"},
        "lists/source.yaml": {"key": "source", "label": "Source"},
        "samples/users.yaml": [{"username": "ann", "roles": ["board"]}],
    }
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "lists/source.yaml": {"key": "source"}, "other/x.yaml": {}}
    assert len(list(validator.iter_errors(bad))) == 2
