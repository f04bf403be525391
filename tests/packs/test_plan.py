"""The pure three-way merge of pack documents (trellis.packs.plan): tables of the cases the
issue names, and properties that must hold for any documents (hypothesis)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trellis.packs.plan import MISSING, diff, edited_locally, make_plan


def entity(label: str = "Deal", fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "key": "deal",
        "label": label,
        "label_plural": label + "s",
        "fields": fields
        if fields is not None
        else [
            {"key": "title", "label": "Title", "type": "text", "required": True},
            {"key": "amount", "label": "Amount", "type": "money", "required": False},
        ],
    }


def rule(expression: str) -> dict[str, Any]:
    return {"key": "positive", "kind": "validation", "expression": expression, "message": "No"}


def docs(**kinds: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {kind: dict(objects) for kind, objects in kinds.items()}


# -- first install ----------------------------------------------------------------------


def test_first_install_on_an_empty_installation_creates_everything():
    pack = docs(entity={"deal": entity()}, list={"sizes": {"key": "sizes", "options": []}})
    plan = make_plan(None, pack, {})
    assert [(o.kind, o.key, o.action) for o in plan.objects] == [
        ("entity", "deal", "create"),
        ("list", "sizes", "create"),
    ]
    assert plan.get("entity", "deal").document == entity()
    assert plan.applicable


def test_first_install_over_an_equal_object_is_unchanged():
    plan = make_plan(None, docs(entity={"deal": entity()}), docs(entity={"deal": entity()}))
    assert plan.get("entity", "deal").action == "unchanged"
    assert plan.applicable


def test_first_install_over_a_different_object_conflicts_without_overwriting():
    plan = make_plan(None, docs(entity={"deal": entity()}), docs(entity={"deal": entity("Sale")}))
    obj = plan.get("entity", "deal")
    assert [c.path for c in obj.conflicts] == ["label", "label_plural"]
    assert not plan.applicable
    # a local-only field is kept, a pack-only field is added, without a conflict
    local = entity(fields=[{"key": "notes", "label": "Notes", "type": "text", "required": False}])
    plan = make_plan(None, docs(entity={"deal": entity()}), docs(entity={"deal": local}))
    obj = plan.get("entity", "deal")
    assert not obj.conflicts
    assert [f["key"] for f in obj.document["fields"]] == ["title", "amount", "notes"]


# -- upgrade ------------------------------------------------------------------------------


def test_upgrade_keeps_a_local_label_and_adds_the_packs_new_field():
    base = docs(entity={"deal": entity()})
    live = docs(entity={"deal": entity("Opportunity")})
    new_fields = [*entity()["fields"], {"key": "close", "label": "Close", "type": "date"}]
    pack = docs(entity={"deal": entity(fields=new_fields)})
    plan = make_plan(base, pack, live)
    obj = plan.get("entity", "deal")
    assert obj.action == "change"
    assert obj.document["label"] == "Opportunity"
    assert [f["key"] for f in obj.document["fields"]] == ["title", "amount", "close"]
    assert [c.path for c in obj.changes] == ["fields.close"]
    assert obj.changes[0].before is MISSING
    assert "label" in obj.kept
    assert plan.applicable


def test_a_rule_both_sides_changed_differently_is_a_conflict_until_taken():
    base = docs(rule={"deal.positive": rule("amount > 0")})
    pack = docs(rule={"deal.positive": rule("amount >= 0")})
    live = docs(rule={"deal.positive": rule("amount > 10")})
    plan = make_plan(base, pack, live)
    [(obj, conflict)] = plan.conflicts
    assert (obj.name, conflict.path) == ("rule:deal.positive", "expression")
    assert (conflict.base, conflict.pack, conflict.local) == (
        "amount > 0",
        "amount >= 0",
        "amount > 10",
    )
    assert not plan.applicable

    taken = make_plan(base, pack, live, take={"rule:deal.positive": "pack"})
    assert taken.applicable
    assert taken.get("rule", "deal.positive").document["expression"] == "amount >= 0"
    assert taken.get("rule", "deal.positive").conflicts[0].taken == "pack"

    kept = make_plan(base, pack, live, take={"deal.positive": "local"})
    assert kept.applicable
    assert kept.get("rule", "deal.positive").action == "unchanged"

    typo = make_plan(base, pack, live, take={"rule:nope": "pack"})
    assert typo.unknown_takes == ("rule:nope",)
    assert not typo.applicable


def test_both_sides_making_the_same_change_is_not_a_conflict():
    base = docs(rule={"deal.positive": rule("amount > 0")})
    same = docs(rule={"deal.positive": rule("amount >= 0")})
    plan = make_plan(base, same, copy.deepcopy(same))
    assert plan.get("rule", "deal.positive").action == "unchanged"
    assert plan.applicable


def test_what_the_pack_drops_is_archived_unless_edited_locally():
    base = docs(entity={"deal": entity()}, rule={"deal.positive": rule("amount > 0")})
    pack = docs(entity={"deal": entity()})
    plan = make_plan(base, pack, copy.deepcopy(base))
    assert plan.get("rule", "deal.positive").action == "archive"
    assert plan.applicable

    edited = docs(entity={"deal": entity()}, rule={"deal.positive": rule("amount > 5")})
    plan = make_plan(base, pack, edited)
    assert plan.get("rule", "deal.positive").action == "unchanged"
    assert not plan.applicable
    plan = make_plan(base, pack, edited, take={"rule:deal.positive": "pack"})
    assert plan.get("rule", "deal.positive").action == "archive"


def test_a_field_dropped_by_the_pack_goes_and_a_local_option_stays():
    base_list = {
        "key": "sizes",
        "options": [{"key": "s", "label": "S"}, {"key": "m", "label": "M"}],
    }
    local_list = copy.deepcopy(base_list)
    local_list["options"].insert(1, {"key": "xs", "label": "XS"})  # added locally after s
    pack_list = {
        "key": "sizes",
        "options": [{"key": "s", "label": "Small"}, {"key": "l", "label": "L"}],
    }
    plan = make_plan(
        docs(list={"sizes": base_list}),
        docs(list={"sizes": pack_list}),
        docs(list={"sizes": local_list}),
    )
    obj = plan.get("list", "sizes")
    assert [o["key"] for o in obj.document["options"]] == ["s", "l", "xs"]
    assert obj.document["options"][0]["label"] == "Small"
    paths = {c.path: c for c in obj.changes}
    assert set(paths) >= {"options.s.label", "options.m", "options.l"}
    assert paths["options.m"].after is MISSING


def test_a_nested_item_the_pack_dropped_but_local_edited_conflicts():
    base = docs(entity={"deal": entity()})
    pack = docs(entity={"deal": entity(fields=entity()["fields"][:1])})
    local_fields = copy.deepcopy(entity()["fields"])
    local_fields[1]["label"] = "Value"
    plan = make_plan(base, pack, docs(entity={"deal": entity(fields=local_fields)}))
    [(_, conflict)] = plan.conflicts
    assert conflict.path == "fields.amount"
    assert conflict.pack is MISSING


def test_an_object_removed_locally_stays_removed_unless_the_pack_changed_it():
    base = docs(rule={"deal.positive": rule("amount > 0")})
    assert make_plan(base, base, {}).get("rule", "deal.positive").action == "unchanged"
    changed = docs(rule={"deal.positive": rule("amount >= 0")})
    plan = make_plan(base, changed, {})
    assert not plan.applicable
    plan = make_plan(base, changed, {}, take={"rule:deal.positive": "pack"})
    assert plan.get("rule", "deal.positive").action == "create"


def test_edited_locally_names_the_changed_properties():
    base = docs(entity={"deal": entity()}, rule={"deal.positive": rule("amount > 0")})
    live = docs(entity={"deal": entity("Sale")})
    assert edited_locally(base, live) == {
        "entity:deal": ["label", "label_plural"],
        "rule:deal.positive": [""],
    }


def test_reordering_a_keyed_list_is_a_change():
    a = entity()
    b = entity(fields=list(reversed(entity()["fields"])))
    assert [c.path for c in diff(a, b)] == ["fields.order"]


# -- properties ---------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b", "c"]))
names = st.sampled_from(["label", "type", "required", "help"])


def _item(key: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(names, scalars, max_size=3).map(lambda d: {"key": key, **d})


keyed_lists = st.lists(st.sampled_from(["x", "y", "z", "w"]), unique=True, max_size=4).flatmap(
    lambda keys: st.tuples(*[_item(k) for k in keys]).map(list)
)
documents = st.fixed_dictionaries(
    {"key": st.just("deal")},
    optional={
        "label": scalars,
        "title": scalars,
        "fields": keyed_lists,
        "tags": st.lists(scalars, max_size=2),
    },
)


def _plan(base: Any, pack: Any, live: Any, take: Any = None):
    return make_plan(
        None if base is None else {"entity": {"deal": base}},
        {"entity": {"deal": pack}},
        {"entity": {"deal": live}},
        take={"entity:deal": take} if take else None,
    ).get("entity", "deal")


common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(documents, documents)
def test_nothing_changed_in_the_pack_keeps_the_installation(base, live):
    obj = _plan(base, base, live)
    assert obj.document == live
    assert obj.action == "unchanged"
    assert not obj.conflicts


@common
@given(documents, documents)
def test_nothing_changed_locally_takes_the_pack(base, pack):
    obj = _plan(base, pack, copy.deepcopy(base))
    assert not obj.conflicts
    assert _canonical(obj.document) == _canonical(pack)
    assert [c.path for c in obj.changes] == [c.path for c in diff(base, obj.document)]


@common
@given(st.one_of(st.none(), documents), documents)
def test_pack_equal_to_the_installation_changes_nothing(base, pack):
    obj = _plan(base, pack, copy.deepcopy(pack))
    assert obj.action == "unchanged"
    assert not obj.conflicts


@common
@given(documents, documents, documents)
def test_conflicts_are_symmetric_and_taking_a_side_settles_them(base, pack, live):
    one = _plan(base, pack, live)
    other = _plan(base, live, pack)
    assert sorted(c.path for c in one.conflicts) == sorted(c.path for c in other.conflicts)
    for side in ("pack", "local"):
        taken = _plan(base, pack, live, side)
        assert not taken.open_conflicts
        chosen = pack if side == "pack" else live
        for conflict in taken.conflicts:
            assert _at(taken.document, conflict.path) == _at(chosen, conflict.path)
    # a change is exactly the difference between the live and the merged document
    assert [c.path for c in one.changes] == [c.path for c in diff(live, one.document)]


@common
@given(documents, documents, documents)
def test_only_pack_or_only_local_changes_are_never_lost(base, pack, live):
    obj = _plan(base, pack, live, "pack")
    merged = obj.document
    for change in diff(base, pack):
        if not _touched(change.path, diff(base, live)):
            assert _at(merged, change.path) == _at(pack, change.path)
    for change in diff(base, live):
        if not _touched(change.path, diff(base, pack)):
            assert _at(merged, change.path) == _at(live, change.path)


def _touched(path: str, changes: list[Any]) -> bool:
    def related(a: str, b: str) -> bool:
        a, b = a.removesuffix(".order"), b.removesuffix(".order")
        return a == b or a.startswith(b + ".") or b.startswith(a + ".") or not a or not b

    return any(related(path, c.path) for c in changes)


def _at(document: Any, path: str) -> Any:
    value = document
    for part in path.split(".") if path else []:
        if part == "order" and isinstance(value, list):
            return [i["key"] for i in value]
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            value = next((i for i in value if i.get("key") == part), MISSING)
        else:
            return MISSING
    return value


def _canonical(document: Any) -> Any:
    """Same content regardless of dictionary key order."""
    if isinstance(document, dict):
        return {k: _canonical(document[k]) for k in sorted(document)}
    if isinstance(document, list):
        return [_canonical(v) for v in document]
    return document
