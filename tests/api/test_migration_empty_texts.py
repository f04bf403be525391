"""Migration 0016: the empty texts records held before 673e752 (``''``, or only whitespace)
become no value (NULL), as new ones are stored, so ``__isnull=true`` finds old and new
records alike; on SQLite and PostgreSQL, through the start-up's upgrade (``trellis init``,
which ``trellis serve`` runs on a database not at the newest revision)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from alembic import command
from api_helpers import assert_problem
from sqlalchemy import text

from trellis.installation import alembic_config
from trellis.metamodel.fieldtypes import registry

MIGRATION = (
    Path(__file__).parents[2] / "platform/migrations/versions/0016_empty_texts_as_no_value.py"
)
#: the text-like fields of ``thing`` (``name`` is required, ``code`` unique and listed)
TEXTS = ("name", "code", "notes", "mail", "site", "phone")
#: what records "b" and "c" held before the upgrade, as an older version stored them
EMPTY = {
    "b": {"name": "", "code": "", "notes": "", "mail": "", "site": "", "phone": "", "old": ""},
    "c": {
        "name": "\xa0",
        "code": "   ",
        "notes": " \n\t\u3000\r\n",
        "mail": " ",
        "site": "\t",
        "phone": "  ",
        "old": "  ",
    },
}


def downgrade_to_0015(runtime) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0016", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build(factory, admin) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "thing",
        {
            "label": "text",
            "name": ("text", {"required": True}),
            "code": ("text", {"unique": True}),
            "notes": "long_text",
            "mail": "email",
            "site": "url",
            "phone": "phone",
            "old": "text",
            "kind": ("list", {"settings": {"list": "kind"}}),
        },
        title="{label}",
        lists={"kind": ["bug", "idea"]},
    )
    admin.ok(
        "PATCH", "/api/meta/entities/thing", {"list_indexes": [{"key": "by_code", "sort": "code"}]}
    )
    factory.entity("gone", {"label": "text", "note": "text"}, title="{label}")
    values = {
        "name": "apple",
        "code": "A1",
        "notes": "  indented quote",
        "mail": "a@x.example",
        "site": "https://a.example",
        "phone": "+372 1111",
        "old": "kept",
    }
    factory.record("thing", label="a", kind="bug", **values)
    for label in ("b", "c"):
        factory.record("thing", label=label, name=f"name {label}", code=f"C-{label}", old="x")
    factory.record("thing", label="d", name="never given")
    for label in ("a", "b"):
        factory.record("gone", label=label, note="x")
    factory.meta("archive_field", "thing", "old")
    factory.meta("archive_entity", "gone")


def _write_as_before(runtime) -> None:  # type: ignore[no-untyped-def]
    """What 0015's platform kept: empty texts as given (written straight into the tables,
    since today's record service stores them as NULL)."""
    with runtime.engine.begin() as connection:
        for label, values in EMPTY.items():
            sets = ", ".join(f"{key} = :{key}" for key in values)
            connection.execute(
                text(f"UPDATE rec_thing SET {sets} WHERE label = :label"),
                {**values, "label": label},
            )
        # a list field is not text: its value is not the migration's to change
        connection.execute(text("UPDATE rec_thing SET kind = '' WHERE label = 'c'"))
        connection.execute(text("UPDATE rec_gone SET note = '' WHERE label = 'b'"))


def _stored(runtime, table: str) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as connection:
        rows = connection.execute(text(f"SELECT * FROM {table}")).mappings().all()
    return {row["label"]: dict(row) for row in rows}


def _history(runtime) -> list[Any]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as connection:
        return connection.execute(text("SELECT * FROM audit_event ORDER BY id")).all()


def _labels(admin, **filters: str) -> set[str]:  # type: ignore[no-untyped-def]
    query = urlencode({**filters, "per_page": 200})
    return {r["label"] for r in admin.ok("GET", f"/api/records/thing?{query}")["items"]}


def test_start_up_stores_old_empty_texts_as_no_value(factory, admin, runtime, runner) -> None:  # type: ignore[no-untyped-def]
    _build(factory, admin)
    downgrade_to_0015(runtime)
    _write_as_before(runtime)
    before = _stored(runtime, "rec_thing")
    history = _history(runtime)
    assert before["b"]["name"] == "" and before["c"]["notes"] == EMPTY["c"]["notes"]

    result = runner.invoke(args=["init"])  # what trellis serve runs on an older database
    assert result.exit_code == 0, result.output

    after = _stored(runtime, "rec_thing")
    for label in ("b", "c"):
        for key in (*TEXTS, "old"):  # an archived field's column too (a restore shows it)
            assert after[label][key] is None, (label, key)
        # the value read the same (empty) before: no new version, no new moment
        assert after[label]["version"] == before[label]["version"]
        assert after[label]["updated_at"] == before[label]["updated_at"]
    assert after["a"] == before["a"]  # values, leading spaces of a long text included
    assert after["c"]["kind"] == ""
    gone = _stored(runtime, "rec_gone")  # an archived entity type's table too
    assert gone["b"]["note"] is None and gone["a"]["note"] == "x"
    assert _history(runtime) == history  # the audit log keeps what was written then

    with runtime.engine.begin() as connection:  # the unknown option key is another story
        connection.execute(text("UPDATE rec_thing SET kind = NULL WHERE label = 'c'"))
    for key in TEXTS:
        empty = {"b", "c"} | ({"d"} if key != "name" else set())
        assert _labels(admin, **{f"{key}__isnull": "true"}) == empty, key
        assert _labels(admin, **{f"{key}__isnull": "false"}) == {"a", "b", "c", "d"} - empty, key
    assert _labels(admin, name__lt="b") == {"a"}  # '' was less than every name
    assert _labels(admin, code__ne="A1", sort="code") == {"b", "c", "d"}
    # the required name is missing now, as it was: an edit asks for it
    record = admin.ok("GET", "/api/records/thing?label=b")["items"][0]
    assert record["name"] is None
    url = f"/api/records/thing/{record['id']}"
    assert_problem(admin.patch(url, {"label": "b2", "version": record["version"]}), 422, "name")


def test_the_migration_covers_every_type_that_stores_an_empty_text_as_no_value() -> None:
    """0016's types are those whose ``normalise`` makes ``''`` and only whitespace NULL
    (a type added after 0016 never stored ``''`` before it: add it to ``later`` here)."""
    later: set[str] = set()
    migration = _migration()
    emptied = set()
    for name in registry.names():
        field_type = registry.get(name)
        try:
            blank = [field_type.normalise(None, v) for v in ("", migration.WHITESPACE)]
        except (TypeError, AttributeError, ValueError, ArithmeticError):
            continue
        if blank == [None, None]:
            emptied.add(name)
    assert emptied - later == set(migration.TEXT_TYPES)
    whitespace = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert whitespace == migration.WHITESPACE
