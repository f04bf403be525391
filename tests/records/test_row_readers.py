"""Reading a page of records through each compiled entity type's prepared row readers: the
same values as every field type's ``from_row`` gives (each type, filled and empty), and no
per-value work of deriving a field's columns once the entity type has been read once."""

from __future__ import annotations

from configured_fixtures import configured
from every_field_type import FIELDS, every_type_entity, filled_values
from sqlalchemy import select

from trellis.metamodel.fieldtypes import registry


def test_every_registered_type_is_read() -> None:
    assert {spec[0] for spec in FIELDS.values()} == set(registry.names())


@configured
def things(factory, runtime):  # type: ignore[no-untyped-def]
    every_type_entity(factory)
    filled = filled_values(factory, runtime)
    return [factory.record("thing", **filled).id, factory.record("thing").id]


def test_a_page_reads_what_each_types_from_row_reads(things, factory, runtime) -> None:  # type: ignore[no-untyped-def]
    page = factory.records("list", "thing", sort=["id"])
    assert [r.id for r in page.items] == things
    with runtime.transaction() as session:
        ent = runtime.model(session).entities["thing"]
        rows = session.execute(select(ent.table).order_by(ent.table.c.id)).mappings().all()
    for record, row in zip(page.items, rows, strict=True):
        for key, f in ent.fields.items():
            if key in ent.side_tables:
                continue
            assert record.values[key] == f.type.from_row(f, row), key
    filled, empty = page.items
    assert filled.values["mc"] == ("red", "blue")  # in the list's order, from the side table
    assert empty.values["mc"] == ()
    assert filled.title == "Ann 7"
    assert [k for k in filled.values] == list(ent.fields)  # field order, side fields included
    assert factory.records("get", "thing", things[0]).values == filled.values


def test_a_page_does_not_derive_columns_per_value(things, factory, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    factory.records("list", "thing")  # the compiled entity type prepares its readers once
    calls: list[str] = []
    for name in registry.names():
        cls = type(registry.get(name))
        original = cls.columns

        def counted(self, field, _original=original):  # type: ignore[no-untyped-def]
            calls.append(field.key)
            return _original(self, field)

        monkeypatch.setattr(cls, "columns", counted)
    page = factory.records("list", "thing")
    assert len(page.items) == 2
    assert calls == []
