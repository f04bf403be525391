"""Reading a pack's YAML as its authors mean it: keys as written, only true/false as
booleans, dates as ISO text, and the line of every value."""

from __future__ import annotations

from trellis.packs.problems import json_path
from trellis.packs.reading import parse_file

TEXT = b"""\
key: answer
label: Answer
options:
  - {key: yes, label: Yes}
  - key: no
    label: No
trigger: {on: stage}
flags: {a: true, b: False}
when: 2027-07-05
"""


def test_yaml_is_read_as_written_with_lines() -> None:
    source = parse_file("lists/answer.yaml", TEXT)
    assert source.data == {
        "key": "answer",
        "label": "Answer",
        "options": [{"key": "yes", "label": "Yes"}, {"key": "no", "label": "No"}],
        "trigger": {"on": "stage"},
        "flags": {"a": True, "b": False},
        "when": "2027-07-05",
    }
    assert source.line_of(("options", 1, "label")) == 6
    assert source.line_of(("options", 1, "color")) == 5  # absent: its object's line
    assert source.line_of(("trigger", "on")) == 7


def test_json_paths() -> None:
    assert json_path(()) == "$"
    assert json_path(("fields", 2, "settings", "list")) == "$.fields[2].settings.list"
    assert json_path(("targets", "deal", "values", "a-b")) == '$.targets.deal.values["a-b"]'


def test_stage_rules_are_canonical_in_the_order_the_database_keeps() -> None:
    from trellis.packs.content import canonical

    doc = canonical(
        "pipeline",
        {
            "entity": "deal",
            "key": "sales",
            "label": "Sales",
            "stages": [
                {"key": "new", "label": "New", "next_stages": ["lost", "won"]},
                {"key": "won", "label": "Won", "enter_roles": ["z_role", "a_role"]},
                {"key": "lost", "label": "Lost"},
            ],
        },
    )
    assert doc["stages"][0]["next_stages"] == ["won", "lost"]
    assert doc["stages"][1]["enter_roles"] == ["a_role", "z_role"]
    assert doc["stages"][2]["next_stages"] is None


def test_an_automation_s_empty_condition_is_none_as_stored() -> None:
    from trellis.packs.content import canonical

    doc = canonical(
        "automation",
        {"key": "a", "entity": "deal", "trigger": {"on": "create", "when": "  "}, "actions": []},
    )
    assert doc["trigger"] == {"on": "create", "stage": None, "field": None, "when": None}
    assert doc["label"] == "A" and doc["active"] is True
