"""Each worker caches the compiled metamodel; a stamp in the database tells every worker
when to rebuild, and a rolled-back change is never taken for a committed one."""

from __future__ import annotations

import pytest

from trellis.errors import ValidationFailed
from trellis.runtime import Runtime


def test_a_field_added_through_one_worker_shows_in_another(runtime, settings, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    other = Runtime.from_settings(settings)
    try:
        with other.transaction() as session:
            before = other.model(session)
            assert "size" not in before.entities["thing"].fields
        factory.meta("add_field", "thing", "size", "Size", "integer")
        with other.transaction() as session:
            after = other.model(session)
            assert "size" in after.entities["thing"].fields
            assert after.version == before.version + 1
            record = other.records(session).create("thing", {"name": "x", "size": 3})
        assert record.values["size"] == 3
    finally:
        other.dispose()


def test_an_unchanged_metamodel_is_not_rebuilt(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    with runtime.transaction() as session:
        first = runtime.model(session)
    with runtime.transaction() as session:
        assert runtime.model(session) is first


def test_a_rolled_back_change_leaves_the_committed_model(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("thing", {"name": "text"})
    with pytest.raises(ValidationFailed), runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.add_field("thing", "size", "Size", "integer")
        assert "size" in meta.model.entities["thing"].fields  # seen inside the transaction
        raise ValidationFailed({"x": ["stop"]})
    with runtime.transaction() as session:
        model = runtime.model(session)
        assert "size" not in model.entities["thing"].fields
        runtime.records(session).create("thing", {"name": "still works"})
