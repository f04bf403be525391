"""Stage pipelines (moves, history, removing a stage) and shared option lists."""

from __future__ import annotations

import pytest
from configured_fixtures import configured

from trellis.accounts import Actor, create_user
from trellis.errors import Conflict, ValidationFailed


@configured
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": "integer", "source": ("list", {"settings": {"list": "source"}})},
        pipelines={
            "sales": ["new", "proposal", "won:success", "lost:failure"],
            "wholesale": ["intake", "quote", "won:success"],
        },
        lists={"source": ["web", "call", "fair"]},
    )
    factory.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    factory.meta("add_rule", "deal", "required", field="source", from_stage="sales.proposal")
    return factory


def test_records_start_at_the_first_open_stage_of_the_chosen_pipeline(deals) -> None:  # type: ignore[no-untyped-def]
    first = deals.record("deal", name="a")
    assert (first.pipeline, first.stage) == ("sales", "new")
    other = deals.records("create", "deal", {"name": "b"}, pipeline="wholesale")
    assert (other.pipeline, other.stage) == ("wholesale", "intake")
    with pytest.raises(ValidationFailed) as failure:
        deals.records("create", "deal", {"name": "c"}, pipeline="retail")
    assert "pipeline" in failure.value.errors


def test_records_start_where_the_changed_pipeline_starts(deals) -> None:  # type: ignore[no-untyped-def]
    # (the first open stage is found once per compiled pipeline: a change makes a new one)
    assert deals.record("deal", name="a").stage == "new"
    stages = ["lead", "new", "proposal", "won:success", "lost:failure"]
    deals.meta(
        "update_pipeline",
        "deal",
        "sales",
        stages=[
            {
                "key": s.split(":")[0],
                "label": s.split(":")[0].title(),
                "kind": [*s.split(":"), "open"][1],
            }
            for s in stages
        ],
    )
    assert deals.record("deal", name="b").stage == "lead"
    created = deals.records("create_many", "deal", [{"name": "c"}, {"name": "d"}])
    assert [(r.pipeline, r.stage) for r in created] == [("sales", "lead"), ("sales", "lead")]


def test_a_move_lists_every_missing_field_then_succeeds_with_them(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        mover = Actor.of(create_user(session, "mover", "mover-password", ["admin"]))
    record = deals.record("deal", name="a")
    with pytest.raises(ValidationFailed) as failure:
        deals.records("move_stage", "deal", record.id, "proposal", actor=mover)
    assert set(failure.value.errors) == {"amount", "source"}
    moved = deals.records(
        "move_stage",
        "deal",
        record.id,
        "proposal",
        values={"amount": 5, "source": "web"},
        actor=mover,
    )
    assert (moved.stage, moved.values["amount"], moved.version) == ("proposal", 5, 2)
    visits = deals.records("stage_history", "deal", record.id)
    assert [(v.stage, v.entered_by, v.left_by) for v in visits] == [
        ("new", None, mover.user_id),
        ("proposal", mover.user_id, None),
    ]
    assert visits[0].left_at is not None and visits[1].left_at is None
    history = deals.records("history", "deal", record.id)
    assert ("stage", "new", "proposal") in [(h["field"], h["old"], h["new"]) for h in history]


def test_moving_to_another_pipeline_and_unknown_stages(deals) -> None:  # type: ignore[no-untyped-def]
    record = deals.record("deal", name="a")
    moved = deals.records("move_stage", "deal", record.id, "quote", pipeline="wholesale")
    assert (moved.pipeline, moved.stage) == ("wholesale", "quote")
    with pytest.raises(ValidationFailed):
        deals.records("move_stage", "deal", record.id, "proposal")  # not a stage of wholesale
    with pytest.raises(Conflict):
        deals.records("move_stage", "deal", record.id, "intake", version=1)  # read before the move


def test_pipeline_and_stage_cannot_be_written_as_fields(deals) -> None:  # type: ignore[no-untyped-def]
    record = deals.record("deal", name="a")
    with pytest.raises(ValidationFailed) as failure:
        deals.records("update", "deal", record.id, {"stage": "won"}, version=1)
    assert "stage" in failure.value.errors


def test_a_stage_a_rule_starts_at_cannot_be_removed(deals) -> None:  # type: ignore[no-untyped-def]
    record = deals.record("deal", name="a", amount=1, source="web")
    deals.records("move_stage", "deal", record.id, "proposal")
    stages = [
        {"key": "new", "label": "New"},
        {"key": "won", "label": "Won", "kind": "success"},
        {"key": "lost", "label": "Lost", "kind": "failure"},
    ]
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("update_pipeline", "deal", "sales", stages=stages)
    assert failure.value.errors == {
        "move_to.proposal": ["A rule starts at this stage; change it first."]
    }


def test_removing_an_unused_stage_with_records(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity("task", {"name": "text"}, pipelines={"flow": ["todo", "doing", "done:success"]})
    record = factory.record("task", name="a")
    factory.records("move_stage", "task", record.id, "doing")
    stages = [
        {"key": "todo", "label": "To do"},
        {"key": "done", "label": "Done", "kind": "success"},
    ]
    with pytest.raises(ValidationFailed) as failure:
        factory.meta("update_pipeline", "task", "flow", stages=stages)
    assert "1 record is in stage" in failure.value.errors["move_to.doing"][0]
    factory.meta("update_pipeline", "task", "flow", stages=stages, move_to={"doing": "todo"})
    moved = factory.records("get", "task", record.id)
    assert moved.stage == "todo"
    assert [
        h["new"] for h in factory.records("history", "task", record.id) if h["field"] == "stage"
    ][-1] == "todo"


def test_a_shared_list_renames_and_retires_everywhere(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "lead",
        {"source": ("list", {"settings": {"list": "source"}})},
        lists={"source": ["web", "call"]},
    )
    factory.entity("deal", {"origin": ("multi_list", {"settings": {"list": "source"}})})
    lead = factory.record("lead", source="call")
    deal = factory.record("deal", origin=["call", "web"])
    factory.meta("update_option", "source", "call", label="Phone call")
    factory.meta("add_option", "source", "fair", "Trade fair")
    factory.meta("update_option", "source", "web", active=False)
    with factory.runtime.transaction() as session:
        options = factory.runtime.model(session).option_lists["source"].options
    assert options["call"].label == "Phone call"
    assert factory.records("get", "lead", lead.id).values["source"] == "call"  # the key stays
    assert factory.record("lead", source="fair").values["source"] == "fair"
    with pytest.raises(ValidationFailed) as retired:
        factory.record("lead", source="web")
    assert "retired" in retired.value.errors["source"][0]
    with pytest.raises(ValidationFailed):
        factory.record("deal", origin=["web"])
    kept = factory.records("update", "deal", deal.id, {"origin": ["web", "call"]}, version=1)
    assert kept.values["origin"] == ("web", "call")  # keeping a retired option is not a new write
    with pytest.raises(ValidationFailed):
        factory.meta("delete_list", "source")


def test_the_history_read_again_in_one_transaction_shows_the_stage_left(deals, runtime) -> None:  # type: ignore[no-untyped-def]
    """Leaving a stage is a Core UPDATE of its visit: visits loaded before it in the same
    transaction are read afresh, not kept as they were."""
    record = deals.record("deal", name="a", amount=5, source="web")
    with runtime.transaction() as session:
        records = runtime.records(session)
        before = records.stage_history("deal", record.id)
        assert [(v.stage, v.left_at) for v in before] == [("new", None)]
        records.move_stage("deal", record.id, "proposal")
        after = records.stage_history("deal", record.id)
    assert [v.stage for v in after] == ["new", "proposal"]
    assert after[0].left_at is not None and after[1].left_at is None
