"""The schema planner is a pure function: table-driven tests, no database."""

from __future__ import annotations

from sqlalchemy import Numeric, String, Text

from trellis.metamodel.fieldtypes import ColumnSpec, registry
from trellis.metamodel.physical import (
    SYSTEM_COLUMNS,
    FieldLayout,
    IndexSpec,
    TableSpec,
    entity_tables,
    physical_name,
)
from trellis.metamodel.planner import (
    ActualTable,
    AddColumn,
    AlterColumnType,
    CreateIndex,
    CreateTable,
    DropColumn,
    DropIndex,
    DropTable,
    plan_schema_changes,
)


def layout(key: str, type_name: str, **kw) -> FieldLayout:  # type: ignore[no-untyped-def]
    field_type = registry.get(type_name)
    settings = field_type.normalise_settings(kw.pop("settings", {}))
    return FieldLayout(key, field_type, settings, **kw)


def actual_of(spec: TableSpec, drop: tuple[str, ...] = ()) -> ActualTable:
    return ActualTable(
        spec.name,
        {
            c.name: (c.signature if c.signature.startswith(("numeric", "bigint")) else None)
            for c in spec.columns
            if c.name not in drop
        },
        {ix.name: ix for ix in spec.indexes},
    )


def test_new_entity_creates_table_and_indexes() -> None:
    wanted = entity_tables("deal", [layout("name", "text")])
    actions = plan_schema_changes(wanted, {})
    assert isinstance(actions[0], CreateTable)
    assert actions[0].table == "rec_deal"
    assert {a.index.name for a in actions if isinstance(a, CreateIndex)} == {
        ix.name for ix in wanted[0].indexes
    }


def test_database_that_matches_needs_nothing() -> None:
    wanted = entity_tables("deal", [layout("name", "text"), layout("amount", "money")])
    assert plan_schema_changes(wanted, {t.name: actual_of(t) for t in wanted}) == []


def test_added_field_is_an_add_column_never_a_rebuild() -> None:
    before = entity_tables("deal", [layout("name", "text")])
    after = entity_tables("deal", [layout("name", "text"), layout("amount", "money")])
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    assert [type(a) for a in actions] == [AddColumn, AddColumn]
    assert [a.column.name for a in actions] == ["amount_amount", "amount_currency"]


def test_unique_and_indexed_flags_become_indexes() -> None:
    before = entity_tables("company", [layout("tin", "text")])
    after = entity_tables("company", [layout("tin", "text", unique=True)])
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    assert actions == [
        CreateIndex("rec_company", index=IndexSpec("uq_rec_company_tin", ("tin",), unique=True))
    ]
    back = plan_schema_changes(before, {t.name: actual_of(t) for t in after})
    assert back == [DropIndex("rec_company", name="uq_rec_company_tin")]


def test_decimal_precision_change_alters_the_type() -> None:
    before = entity_tables(
        "deal", [layout("rate", "decimal", settings={"precision": 10, "scale": 2})]
    )
    after = entity_tables(
        "deal", [layout("rate", "decimal", settings={"precision": 12, "scale": 4})]
    )
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    assert len(actions) == 1 and isinstance(actions[0], AlterColumnType)
    assert actions[0].old_signature == "numeric(10,2)"
    assert actions[0].column.signature == "numeric(12,4)"


def test_an_integer_widened_to_a_decimal_alters_the_type_in_place() -> None:
    before = entity_tables("item", [layout("qty", "integer")])
    after = entity_tables("item", [layout("qty", "decimal", settings={"scale": 3})])
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    assert actions == [
        AlterColumnType("rec_item", column=after[0].columns[-1], old_signature="bigint")
    ]
    assert actions[0].column.signature == "numeric(18,3)"


def test_missing_column_and_table_are_destructive_drops() -> None:
    before = entity_tables(
        "deal", [layout("name", "text"), layout("tags", "multi_list", settings={"list": "t"})]
    )
    after = entity_tables("deal", [layout("name", "text")])
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    assert [type(a) for a in actions] == [DropTable]
    assert actions[0].table == "rec_deal__tags" and actions[0].destructive
    extra = ActualTable("rec_deal", {**actual_of(after[0]).columns, "old": None})
    drops = [
        a for a in plan_schema_changes(after, {"rec_deal": extra}) if isinstance(a, DropColumn)
    ]
    assert drops == [DropColumn("rec_deal", column="old")] and drops[0].destructive


def test_index_drops_come_before_column_drops() -> None:
    # SQLite cannot drop an indexed column: the index must go first
    before = entity_tables("deal", [layout("code", "text", indexed=True)])
    after = entity_tables("deal", [])
    actions = plan_schema_changes(after, {t.name: actual_of(t) for t in before})
    kinds = [type(a) for a in actions]
    assert kinds.index(DropIndex) < kinds.index(DropColumn)


def test_tables_that_are_not_record_tables_are_never_touched() -> None:
    actual = {"auth_user": ActualTable("auth_user", {"id": None})}
    assert plan_schema_changes([], actual) == []


def test_long_names_are_shortened_with_a_hash() -> None:
    name = physical_name("ix", "rec_" + "a" * 30, "b" * 30)
    assert len(name) == 63
    assert name != physical_name("ix", "rec_" + "a" * 30, "b" * 29 + "c")


def test_field_columns_per_type() -> None:
    cases = {
        "text": [("x", Text)],
        "money": [("x_amount", Numeric), ("x_currency", String)],
        "reference": [("x_id", None)],
        "multi_list": [],
    }
    for type_name, expected in cases.items():
        settings = (
            {"list": "l"}
            if "list" in type_name
            else {"target": "t"}
            if type_name == "reference"
            else {}
        )
        columns = registry.get(type_name).columns(layout("x", type_name, settings=settings))
        assert [c.name for c in columns] == [name for name, _ in expected]
        for column, (_, kind) in zip(columns, expected, strict=True):
            if kind is not None:
                assert isinstance(column.type, kind)


def test_system_columns_come_first() -> None:
    spec = entity_tables("deal", [layout("name", "text")])[0]
    assert spec.columns[: len(SYSTEM_COLUMNS)] == SYSTEM_COLUMNS
    assert isinstance(spec.column("name"), ColumnSpec)
