"""The compiled metamodel scales: a change recompiles only the entity types it touched (in
every worker), unchanged ones keep their compiled form and tables, and memory stays flat
over many changes of a large configuration."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Table, event, select

from trellis.errors import ValidationFailed
from trellis.metamodel import compiled as compiled_module
from trellis.metamodel.fieldtypes import registry
from trellis.metamodel.models import ConfigChange, EntityType, Field
from trellis.runtime import STATEMENTS_PER_TYPE, Runtime

TYPES = [("text", {}), ("integer", {}), ("decimal", {}), ("boolean", {}), ("date", {})]


def build(runtime: Runtime, types: int, fields: int) -> None:
    """``types`` entity types of ``fields`` fields each, in one transaction: the rows at once
    and each table, whole, by the metamodel service's schema sync (as a configuration pack
    would; adding 6,000 columns one by one is what takes long, not the metamodel)."""
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        for e in range(types):
            row = EntityType(key=f"kind{e}", label=f"Kind {e}", label_plural=f"Kinds {e}")
            for k in range(fields):
                name, settings = TYPES[k % len(TYPES)]
                row.fields.append(
                    Field(
                        key=f"f{k}",
                        label=f"Field {k}",
                        type=name,
                        settings=registry.get(name).normalise_settings(settings),
                        position=k,
                    )
                )
            session.add(row)
            meta.sync_schema(row)
        meta.bump("entity.create", "kind*", {"count": types})


def change(runtime: Runtime, entity: str, key: str) -> None:
    with runtime.transaction() as session:
        runtime.metamodel(session).add_field(entity, key, key.title(), "text")


def compiled(runtime: Runtime) -> Any:
    with runtime.transaction() as session:
        return runtime.model(session)


def use(entity: Any) -> None:
    """What a request using the entity type builds: its tables and input schema."""
    assert entity.table is not None and entity.input_schema is not None


def live_tables() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, Table))


def test_memory_stays_flat_over_20_changes_of_200_entity_types(runtime) -> None:  # type: ignore[no-untyped-def]
    build(runtime, 200, 30)
    model = compiled(runtime)
    assert len(model.entities) == 200 and len(model.entities["kind7"].fields) == 30
    # the statement cache has room for every entity type's statements
    assert runtime.engine._compiled_cache.capacity >= 200 * STATEMENTS_PER_TYPE
    statements: list[str] = []

    def note(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    change(runtime, "kind3", "first")
    event.remove(runtime.engine, "before_cursor_execute", note)
    # reading only the changed entity type's table, not all 200 (400+ statements on SQLite)
    assert len(statements) < 40, statements
    changed = [f"kind{(turn * 7) % 200}" for turn in range(20)]
    tracemalloc.start()
    try:
        # 20 changes to fill the caches (compiled models, statements); tracemalloc counts
        # only what is allocated while it runs, so the entity types replaced later must be
        # ones compiled while it ran: the same 20 change again
        for number, entity in enumerate(changed):
            change(runtime, entity, f"warm{number}")
            use(compiled(runtime).entities[entity])
        tables = live_tables()  # the 20 changed ones' tables built (a request used them)
        before = tracemalloc.get_traced_memory()[0]
        for number, entity in enumerate(changed):
            change(runtime, entity, f"extra{number}")
            model = compiled(runtime)
            assert model.recompiled == (entity,)
            use(model.entities[entity])
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # a whole recompile per change kept about 5 MB per change alive (20 changes: 100 MB);
    # here a change replaces one entity type's compiled form (a few tens of kB)
    assert grown < 2 * 1024 * 1024, f"{grown / 1024 / 1024:.1f} MB more after 20 changes"
    # 200 record tables; old versions of changed ones only while a cached model holds them
    assert live_tables() <= tables + 10
    assert {"warm1", "extra1"} <= set(model.entities["kind7"].fields)


CHANGES: dict[str, Callable[[Any], Any]] = {
    "add a field": lambda f: f.meta("add_field", "deal", "size", "Size", "integer"),
    "rename the entity type": lambda f: f.meta("update_entity", "deal", label="Sale"),
    "change a field": lambda f: f.meta("update_field", "deal", "name", label="Title"),
    "archive a field": lambda f: f.meta("archive_field", "deal", "note"),
    "add a pipeline": lambda f: f.meta(
        "create_pipeline", "deal", "sales", "Sales", [{"key": "new", "label": "New"}]
    ),
    "add a rule": lambda f: f.meta("add_rule", "deal", "required", field="note"),
    "archive the entity type": lambda f: f.meta("archive_entity", "deal"),
}


@pytest.mark.parametrize("what", list(CHANGES))
def test_a_change_recompiles_only_the_entity_type_it_touched(runtime, factory, what) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text", "city": "text"})
    factory.entity("deal", {"name": "text", "note": "text"})
    first = compiled(runtime)
    CHANGES[what](factory)
    second = compiled(runtime)
    assert second.stamp != first.stamp
    assert second.recompiled == ("deal",)
    assert second.entities["company"] is first.entities["company"]
    assert second.entities["company"].table is first.entities["company"].table
    deal = second.entities.get("deal") or second.archived_entities["deal"]
    assert deal is not first.entities["deal"]
    factory.record("company", name="still works")


def test_a_change_to_an_option_list_recompiles_no_entity_type(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "deal", {"kind": ("list", {"settings": {"list": "kinds"}})}, lists={"kinds": ["a"]}
    )
    first = compiled(runtime)
    factory.meta("add_option", "kinds", "b", "B")
    second = compiled(runtime)
    assert second.recompiled == ()
    assert second.entities["deal"] is first.entities["deal"]
    assert set(second.option_lists["kinds"].options) == {"a", "b"}
    factory.record("deal", kind="b")


def test_another_worker_recompiles_only_what_changed(runtime, settings, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"})
    factory.entity("deal", {"name": "text"})
    other = Runtime.from_settings(settings)
    try:
        before = compiled(other)
        assert set(before.recompiled) == {"company", "deal"}
        factory.meta("add_field", "deal", "size", "Size", "integer")
        after = compiled(other)
        assert after.recompiled == ("deal",)
        assert after.entities["company"] is before.entities["company"]
        assert "size" in after.entities["deal"].fields
        with other.transaction() as session:
            record = other.records(session).create("deal", {"name": "x", "size": 3})
        assert record.values["size"] == 3
    finally:
        other.dispose()


def test_a_worker_catching_up_builds_the_changed_tables_when_a_request_uses_them(
    runtime, settings, factory, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Building the tables and the input schema is most of a compile: a worker catching up
    with a change builds them only once a request uses the changed entity type, once for
    every thread."""
    factory.entity(
        "company",
        {"name": "text", "tags": ("multi_list", {"settings": {"list": "tags"}})},
        lists={"tags": ["a", "b"]},
    )
    factory.entity("deal", {"name": "text"})
    built: list[str] = []
    real_build_table = compiled_module.build_table

    def counted(spec, metadata, *args):  # type: ignore[no-untyped-def]
        built.append(spec.name)
        return real_build_table(spec, metadata, *args)

    monkeypatch.setattr(compiled_module, "build_table", counted)
    other = Runtime.from_settings(settings)
    try:
        with other.transaction() as session:
            other.records(session).list("deal")
        factory.meta("add_field", "company", "size", "Size", "integer")
        statements: list[str] = []

        def note(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(other.engine, "before_cursor_execute", note)
        with other.transaction() as session:
            assert other.records(session).list("deal").items == []
        event.remove(other.engine, "before_cursor_execute", note)
        # option lists come with their options, the changed entity type with its fields
        assert not [s for s in statements if "FROM meta_option " in s], statements
        assert not [s for s in statements if "FROM meta_field" in s], statements
        assert built == ["rec_deal"]  # the request read deals only: company not built yet
        company = compiled(other).entities["company"]
        with ThreadPoolExecutor(4) as pool:
            tables = list(pool.map(lambda _i: (company.table, company.side_tables), range(8)))
        assert all(t[0] is tables[0][0] and t[1] is tables[0][1] for t in tables)
        assert sorted(built) == ["rec_company", "rec_company__tags", "rec_deal"]
        assert "size" in company.table.c and set(company.side_tables) == {"tags"}
        assert "size" in company.input_schema.fields
        with other.transaction() as session:
            record = other.records(session).create(
                "company", {"name": "x", "size": 3, "tags": ["a"]}
            )
        assert record.values["size"] == 3 and record.values["tags"] == ("a",)
        assert len(built) == 3  # built once
    finally:
        other.dispose()


def test_a_rolled_back_change_is_not_kept_for_later_models(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("deal", {"name": "text"})
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.add_field("deal", "size", "Size", "integer")
        assert "size" in meta.model.entities["deal"].fields
        raise RuntimeError("roll back")
    factory.meta("update_entity", "deal", label="Sale")  # a new stamp: compiled again
    model = compiled(runtime)
    assert "size" not in model.entities["deal"].fields
    assert model.entities["deal"].label == "Sale"


def test_a_role_renamed_recompiles_the_entity_types_whose_stages_name_it(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.grants import create_role, role_row
    from trellis.accounts import SYSTEM

    with runtime.transaction() as session:
        create_role(session, SYSTEM, "closer", "Closer")
    factory.entity("company", {"name": "text"})
    factory.entity("deal", {"name": "text"})
    stages = [{"key": "new", "label": "New"}, {"key": "won", "label": "Won", "kind": "success"}]
    stages[1]["enter_roles"] = ["closer"]
    factory.meta("create_pipeline", "deal", "sales", "Sales", stages)
    first = compiled(runtime)
    assert first.entities["deal"].pipelines["sales"].stages["won"].enter_roles == {
        "closer": "Closer"
    }
    with runtime.transaction() as session:
        role_row(session, "closer").label = "Deal closer"
    factory.meta("update_entity", "company", label="Firm")  # the next change of anything
    second = compiled(runtime)
    assert set(second.recompiled) == {"company", "deal"}
    assert second.entities["deal"].pipelines["sales"].stages["won"].enter_roles == {
        "closer": "Deal closer"
    }


def test_adding_a_text_field_after_another_change_compiles_nothing(runtime) -> None:  # type: ignore[no-untyped-def]
    build(runtime, 3, 12)
    before = compiled(runtime).version
    change(runtime, "kind0", "first")  # moves the stamp: this worker's model is now stale
    statements: list[str] = []

    def note(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    change(runtime, "kind1", "second")
    event.remove(runtime.engine, "before_cursor_execute", note)
    # a text field's settings check reads no compiled model, so the change compiles none
    assert not [s for s in statements if "meta_option_list" in s], statements
    # the stamp moves by one UPDATE, read neither by a compile nor before the update
    reads = [s for s in statements if s.startswith("SELECT") and "FROM meta_state" in s]
    assert reads == [], statements
    # SQLite: one statement reads the table's indexes and their columns, not one per index
    assert not [s for s in statements if s.startswith("PRAGMA index_info")], statements
    # SQLite: the table's name is looked up, not every table of the schema listed
    listed = [s for s in statements if "sqlite_master" in s]
    assert all("name = ?" in s for s in listed), statements
    # the entity type comes with its fields: one statement
    assert not [s for s in statements if "FROM meta_field" in s], statements
    if runtime.engine.dialect.name == "postgresql":  # round trips a change saves
        # the table's columns and indexes read from the catalog together
        assert len([s for s in statements if "pg_attribute" in s]) == 1, statements
        # the stamp moves and the history row is written by one statement
        assert not [s for s in statements if s.startswith("INSERT INTO meta_change")]
    model = compiled(runtime)
    assert "second" in model.entities["kind1"].fields
    assert model.version == before + 2
    with runtime.transaction() as session:
        history = session.scalars(select(ConfigChange).order_by(ConfigChange.id)).all()
    assert [(h.action, h.target, h.detail) for h in history[-2:]] == [
        ("field.add", "kind0.first", {"type": "text", "settings": {"max_length": 255}}),
        ("field.add", "kind1.second", {"type": "text", "settings": {"max_length": 255}}),
    ]
    assert history[-1].at >= history[-2].at and history[-1].by is None


def test_a_list_field_s_settings_are_still_checked_against_the_model(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    change(runtime, "thing", "first")
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        with pytest.raises(ValidationFailed) as raised:
            meta.add_field("thing", "level", "Level", "list", settings={"list": "nowhere"})
    assert any("nowhere" in m for m in raised.value.errors["settings"])
