"""Reading a pack's YAML as its authors mean it: keys as written, only true/false as
booleans, dates as ISO text, and the line of every value."""

from __future__ import annotations

import json

import pytest
import yaml

from trellis.packs import reading
from trellis.packs.problems import json_path
from trellis.packs.reading import Unreadable, parse_file

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


BROKEN = b"""\
key: broken
label: Broken
options: [
  {key: a, label: A}
"""


def test_libyaml_reads_the_same_data_lines_and_problems(monkeypatch) -> None:
    # the pack is composed by libyaml when PyYAML has it (loading a 50 x 30 field pack took
    # 6.9 s with the pure-Python parser, 3.0 s with it); whatever it reads, or refuses,
    # comes back as the pure-Python parser gives it
    if yaml.__with_libyaml__:
        assert reading._FAST_LOADER is yaml.CSafeLoader
    fast = parse_file("lists/answer.yaml", TEXT)
    with pytest.raises(Unreadable) as fast_refused:
        parse_file("lists/broken.yaml", BROKEN)
    as_json = parse_file("lists/answer.json", json.dumps(fast.data, indent=2).encode())
    monkeypatch.setattr(reading, "_FAST_LOADER", yaml.SafeLoader)
    slow = parse_file("lists/answer.yaml", TEXT)
    assert (fast.data, fast.lines) == (slow.data, slow.lines)
    with pytest.raises(Unreadable) as slow_refused:
        parse_file("lists/broken.yaml", BROKEN)
    assert fast_refused.value.problem == slow_refused.value.problem
    assert "Not valid YAML" in slow_refused.value.problem.message
    slow_json = parse_file("lists/answer.json", json.dumps(fast.data, indent=2).encode())
    assert as_json.lines == slow_json.lines
    assert as_json.line_of(("options", 1, "label")) == slow_json.line_of(("options", 1, "label"))
