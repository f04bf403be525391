"""A title made of one field's text alone (``{key}``) is given by a page's shortcut (no
template per record): the same text as the general title path, for every field type, filled,
empty (the fallback ``<Label> #<id>``) and with runs of white space."""

from __future__ import annotations

from every_field_type import FIELDS, every_type_entity, filled_values


def test_a_one_field_title_is_the_general_path_s_title(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    every_type_entity(factory)
    filled = filled_values(factory, runtime)
    full = factory.record("thing", **filled).id
    empty = factory.record("thing").id
    spaced = factory.record("thing", t="  Ann    Lee ", lt="  a\n\n b  ").id
    checked = 0
    for key, (type_name, _options, _value) in FIELDS.items():
        with runtime.transaction() as session:
            runtime.metamodel(session).update_entity("thing", title_template="{" + key + "}")
        with runtime.transaction(read_only=True) as session:
            service = runtime.records(session)
            ent = runtime.model(session).entities["thing"]
            listed = service.list("thing", sort=["id"]).items
            assert [r.id for r in listed] == [full, empty, spaced]
            users = {filled["who"]: "ann"}
            # the general path: the template filled in by _title, field by field
            expected = [service._title(ent, r, users, frozenset()) for r in listed]
            assert [r.title for r in listed] == expected, key
            assert [service.get("thing", i).title for i in (full, empty, spaced)] == expected
            if type_name != "boolean":  # (an empty boolean is "No")
                assert expected[1] == f"{ent.label} #{empty}", key
            checked += 1
    assert checked == len(FIELDS)
    with runtime.transaction() as session:
        runtime.metamodel(session).update_entity("thing", title_template="{t}")
    with runtime.transaction(read_only=True) as session:
        titles = [r.title for r in runtime.records(session).list("thing", sort=["id"]).items]
    assert titles == ["Ann", f"Thing #{empty}", "Ann Lee"]
