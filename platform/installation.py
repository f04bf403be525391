"""Creating and upgrading a database: the platform's tables (Alembic), built-in roles and
the metamodel state row."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, inspect
from sqlalchemy.orm import Session

from trellis.db import Base


def platform_metadata() -> MetaData:
    """The metadata of every platform table (importing the modules that define them)."""
    import trellis.access.models
    import trellis.accounts
    import trellis.conversion.maps
    import trellis.conversion.models
    import trellis.flows.active
    import trellis.flows.automations
    import trellis.flows.models
    import trellis.flows.notifications
    import trellis.flows.outbox
    import trellis.flows.webhooks
    import trellis.metamodel.models
    import trellis.packs.models
    import trellis.records.audit  # noqa: F401

    return Base.metadata


def alembic_config() -> Config:
    config = Config()
    # a path, not "trellis:migrations": trellis is a namespace package (no __init__.py)
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def is_initialised(engine: Engine) -> bool:
    """Whether the database has the platform's tables at the newest revision."""
    with engine.connect() as connection:
        if "alembic_version" not in inspect(connection).get_table_names():
            return False
        current = MigrationContext.configure(connection).get_current_heads()
    from alembic.script import ScriptDirectory

    return set(current) == set(ScriptDirectory.from_config(alembic_config()).get_heads())


def upgrade_database(engine: Engine) -> None:
    """Bring the platform's tables to the newest revision and seed what must exist."""
    from trellis.accounts import ensure_builtin_roles
    from trellis.metamodel.models import MetaState

    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with Session(engine) as session, session.begin():
        ensure_builtin_roles(session)
        if session.get(MetaState, 1) is None:
            session.add(MetaState(id=1, version=0, stamp="initial"))
        # duplicate rules made before their fields' normalised values were indexed
        from trellis.conversion.duplicates import index_all_compared_fields

        index_all_compared_fields(session)
        # the list indexes of tables made by older versions (a no-op once they match)
        sync_all_record_tables(session)


def sync_all_record_tables(session: Session) -> None:
    """Bring every entity type's tables to what the planner wants, without dropping columns
    or tables (the indexes lists use, for tables made by older versions)."""
    from sqlalchemy import select

    from trellis.metamodel.changes import sync_schema
    from trellis.metamodel.models import EntityType

    for entity in session.scalars(select(EntityType).order_by(EntityType.id)):
        sync_schema(session, entity)
