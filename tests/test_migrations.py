"""Migrations of the platform's own tables that carry data forward."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from trellis.installation import alembic_config


def migrate(runtime, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        if revision == "head":
            command.upgrade(config, revision)
        else:
            command.downgrade(config, revision)


def test_users_that_existed_before_session_stamps_get_their_own(runtime) -> None:  # type: ignore[no-untyped-def]
    migrate(runtime, "0003")
    with runtime.engine.begin() as connection:
        for name in ("ann", "bob"):
            connection.execute(
                text(
                    "INSERT INTO auth_user (username, display_name, email, password_hash, "
                    "is_active, created_at) VALUES (:n, :n, '', 'x', :t, CURRENT_TIMESTAMP)"
                ),
                {"n": name, "t": True},
            )
    migrate(runtime, "head")
    with runtime.engine.connect() as connection:
        stamps = connection.execute(text("SELECT session_stamp FROM auth_user")).scalars().all()
        throttle = connection.execute(text("SELECT * FROM auth_login_throttle")).keys()
    assert len(stamps) == 2 and len(set(stamps)) == 2 and all(len(s) == 32 for s in stamps)
    assert {"username", "address", "last_failure_at"} <= set(throttle)


def test_rules_that_existed_before_rule_keys_are_named_after_their_ids(runtime) -> None:  # type: ignore[no-untyped-def]
    migrate(runtime, "0010")
    with runtime.engine.begin() as connection:
        for key in ("task", "note"):
            connection.execute(
                text(
                    "INSERT INTO meta_entity (key, label, label_plural, description, "
                    "title_template, card_fields, archived, revision, created_at, updated_at) "
                    "VALUES (:k, :k, :k, '', '', '[]', :f, '', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"k": key, "f": False},
            )
        entities = connection.execute(text("SELECT id FROM meta_entity ORDER BY id")).scalars()
        for entity_id in [*entities, 1]:
            connection.execute(
                text(
                    "INSERT INTO meta_rule (entity_id, kind, field_key, condition, expression, "
                    "message, active) VALUES (:e, 'required', 'name', '', '', '', :t)"
                ),
                {"e": entity_id, "t": True},
            )
    migrate(runtime, "head")
    with runtime.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, key FROM meta_rule ORDER BY id")).all()
    assert [key for _id, key in rows] == [f"rule_{rule_id}" for rule_id, _key in rows]
    assert len(rows) == 3
    migrate(runtime, "0010")  # and back down
    migrate(runtime, "head")
