"""Schema changes through the metamodel: add, archive, restore, purge; refused while in use;
a failed change leaves nothing behind."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from trellis.errors import Conflict, NotFound, ValidationFailed
from trellis.metamodel.models import Field


def columns(runtime, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {c["name"] for c in inspect(runtime.engine).get_columns(table)}


def indexes(runtime, table: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {ix["name"] for ix in inspect(runtime.engine).get_indexes(table)}


def test_archived_field_is_hidden_but_its_data_stays_and_comes_back(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text", "secret": "text"})
    record = factory.record("thing", name="a", secret="kept")
    factory.meta("archive_field", "thing", "secret")
    assert "secret" in columns(runtime, "rec_thing")
    assert "secret" not in factory.records("get", "thing", record.id).values
    with pytest.raises(ValidationFailed) as failure:
        factory.record("thing", name="b", secret="x")
    assert failure.value.errors == {"secret": ["Unknown field."]}
    factory.meta("restore_field", "thing", "secret")
    assert factory.records("get", "thing", record.id).values["secret"] == "kept"


def test_purge_drops_the_column_for_good(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "thing",
        {
            "name": "text",
            "code": ("text", {"indexed": True}),
            "tags": ("multi_list", {"settings": {"list": "t"}}),
        },
        lists={"t": ["a"]},
    )
    factory.record("thing", name="a", code="x", tags=["a"])
    with pytest.raises(ValidationFailed):
        factory.meta("purge_field", "thing", "code")  # archive first
    factory.meta("archive_field", "thing", "code")
    factory.meta("purge_field", "thing", "code")
    factory.meta("archive_field", "thing", "tags")
    factory.meta("purge_field", "thing", "tags")
    assert "code" not in columns(runtime, "rec_thing")
    assert "rec_thing__tags" not in inspect(runtime.engine).get_table_names()
    with runtime.transaction() as session:
        assert session.scalar(select(Field).where(Field.key == "code")) is None
    factory.meta("add_field", "thing", "code", "Code again", "integer")  # the key is free again
    assert factory.records("list", "thing").items[0].values["code"] is None


def test_archive_and_purge_are_refused_while_a_rule_uses_the_field(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text", "amount": "integer"})
    rule = factory.meta(
        "add_rule",
        "thing",
        "validation",
        expression="amount is None or amount > 0",
        message="Positive",
    )
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("archive_field", "thing", "amount")
    assert failure.value.errors["amount"] == ["Used by the validation rule “Positive”."]
    factory.meta("delete_rule", "thing", rule.id)
    factory.meta("archive_field", "thing", "amount")


def test_a_field_in_the_title_cannot_be_archived(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"}, title="{name}")
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("archive_field", "thing", "name")
    assert "title" in failure.value.errors["name"][0]


def test_entity_archive_restore_and_purge(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    record = factory.record("thing", name="kept")
    factory.meta("archive_entity", "thing")
    with pytest.raises(NotFound):
        factory.records("get", "thing", record.id)
    assert "rec_thing" in inspect(runtime.engine).get_table_names()
    factory.meta("restore_entity", "thing")
    assert factory.records("get", "thing", record.id).values["name"] == "kept"
    with pytest.raises(NotFound):
        factory.meta("purge_entity", "thing")  # only archived ones
    factory.meta("archive_entity", "thing")
    factory.meta("purge_entity", "thing")
    assert "rec_thing" not in inspect(runtime.engine).get_table_names()
    factory.entity("thing", {"other": "integer"})  # the key is free again


def test_an_entity_that_others_refer_to_cannot_be_archived(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"})
    factory.entity("person", {"company": ("reference", {"settings": {"target": "company"}})})
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("archive_entity", "company")
    assert failure.value.errors["_entity"] == ["The field “Company” of Persons refers to it."]


def test_keys_are_validated_and_unique(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    for bad in ("Thing", "1x", "x-y", "id", "version", "a" * 31, ""):
        with pytest.raises(ValidationFailed):
            factory.meta("create_entity", bad, "Label")
    with pytest.raises(Conflict):
        factory.meta("create_entity", "thing", "Again")
    with pytest.raises(Conflict, match="has a field 'name' already"):
        factory.meta("add_field", "thing", "name", "Again", "text")
    factory.meta("add_field", "thing", "price", "Price", "money")
    with pytest.raises(ValidationFailed) as clash:
        factory.meta("add_field", "thing", "price_amount", "Clash", "decimal")
    assert "clashes" in clash.value.errors["key"][0]


def test_a_failed_schema_change_leaves_nothing_behind(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "tin": "text"})
    factory.record("company", name="A", tin="same")
    factory.record("company", name="B", tin="same")
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("update_field", "company", "tin", unique=True)
    assert "duplicate" in failure.value.errors["unique"][0]
    assert not any("tin" in name for name in indexes(runtime, "rec_company"))
    with runtime.transaction() as session:
        assert runtime.model(session).entities["company"].fields["tin"].unique is False


def test_a_field_added_to_a_full_table_does_not_rewrite_it(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    with runtime.transaction() as session:
        table = runtime.model(session).entities["thing"].table
        session.execute(table.insert(), [{"version": 1, "name": f"n{i}"} for i in range(2000)])
    with runtime.engine.connect() as conn:
        before = conn.execute(text("SELECT min(id), max(id) FROM rec_thing")).one()
    factory.meta("add_field", "thing", "extra", "Extra", "integer")
    with runtime.engine.connect() as conn:
        after = conn.execute(text("SELECT min(id), max(id), count(extra) FROM rec_thing")).one()
    assert tuple(after[:2]) == tuple(before) and after[2] == 0
    assert "extra" in columns(runtime, "rec_thing")


def test_decimal_precision_can_change(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"rate": ("decimal", {"settings": {"precision": 8, "scale": 2}})})
    factory.record("thing", rate="1.25")
    factory.meta("update_field", "thing", "rate", settings={"precision": 10, "scale": 4})
    factory.record("thing", rate="1.2345")
    assert sorted(str(r.values["rate"]) for r in factory.records("list", "thing").items) == [
        "1.2345",
        "1.2500",
    ]


def test_list_and_target_settings_are_fixed(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "thing", {"colour": ("list", {"settings": {"list": "a"}})}, lists={"a": ["x"], "b": ["y"]}
    )
    with pytest.raises(ValidationFailed):
        factory.meta("update_field", "thing", "colour", settings={"list": "b"})
    with pytest.raises(ValidationFailed):
        factory.meta("update_field", "thing", "colour", type="text")


@pytest.mark.parametrize(
    ("label", "plural"),
    [("Company", "Companies"), ("Box", "Boxes"), ("Day", "Days"), ("Sales match", "Sales matches")],
)
def test_a_missing_plural_label_is_a_sensible_english_default(factory, label, plural) -> None:  # type: ignore[no-untyped-def]
    entity = factory.meta("create_entity", "thing", label)
    assert entity.label_plural == plural
    given = factory.meta("create_entity", "other", "Person", label_plural="People")
    assert given.label_plural == "People"
