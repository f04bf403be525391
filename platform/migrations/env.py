"""Alembic environment for the platform's own tables (not the runtime record tables, which
the metamodel planner owns). Run through :func:`trellis.installation.upgrade_database`."""

from __future__ import annotations

from alembic import context

from trellis.installation import platform_metadata

config = context.config
target_metadata = platform_metadata()


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # record tables (rec_*) belong to the metamodel planner, never to Alembic
    return not (type_ == "table" and name.startswith("rec_"))


connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=target_metadata,
    include_object=include_object,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
