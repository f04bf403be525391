"""Every record write reads the flow triggers' stamp in the statement that reads the metamodel
stamp (issue 12): a create, an update and a stage move each run one statement fewer than when
the triggers' cache read the stamp on its own; a flow changed in the transaction still counts
at once, even after the stamps were read, and a rolled-back one never."""

from __future__ import annotations

import pytest
from trigger_world import ONE, new_deals, publish_on_create, started, statements

from trellis.runtime import Runtime


def _stamp_reads(seen: list[str]) -> tuple[list[str], list[str]]:
    """The statements reading the metamodel stamp, and those reading the flow stamp alone."""
    meta = [s for s in seen if "from meta_state" in s]
    alone = [s for s in seen if "from flow_state" in s and "from meta_state" not in s]
    return meta, alone


@pytest.mark.parametrize("write", ["create", "update", "move_stage"])
def test_a_record_write_reads_both_stamps_in_one_statement(flows, runtime, write) -> None:  # type: ignore[no-untyped-def]
    # live triggered flows that these writes consult but do not start
    flows.flow("moved", ONE, {"on": "stage", "stage": "review"})
    flows.flow("changed", ONE, {"on": "field", "field": "manager"})
    deal = new_deals(runtime, "warm up")[0]
    with runtime.transaction() as session:
        version = runtime.records(session).get("deal", deal).version
    with statements(runtime) as seen, runtime.transaction() as session:
        records = runtime.records(session)
        if write == "create":
            records.create("deal", {"name": "a", "amount": 5})
        elif write == "update":
            records.update("deal", deal, {"amount": 7}, version=version)
        else:
            records.move_stage("deal", deal, "lost")
    meta, alone = _stamp_reads(seen)
    assert alone == [], seen  # no statement of the triggers' own
    assert meta and all("from flow_state" in s for s in meta), seen
    queries = [s for s in seen if s.startswith(("select", "insert", "update", "delete"))]
    # the stamps (one statement), then the write's own statements (one more each before)
    expected = {"create": 5, "update": 4, "move_stage": 7}[write]
    assert len(queries) <= expected, seen


def test_a_flow_published_after_the_stamps_were_read_counts_at_once(flows, runtime) -> None:  # type: ignore[no-untyped-def]
    new_deals(runtime, "warm up")  # the triggers (none) are cached by the stamp
    with runtime.transaction() as session:
        runtime.model(session)  # both stamps read
        records = runtime.records(session)
        records.create("deal", {"name": "before", "amount": 1})  # the triggers read
        publish_on_create(runtime, session, "late")
        deal = runtime.records(session).create("deal", {"name": "after", "amount": 1}).id
    assert started(runtime, deal) == ["late"]


def test_read_along_stamps_of_a_rolled_back_change_are_not_kept(flows, runtime, settings) -> None:  # type: ignore[no-untyped-def]
    other = Runtime.from_settings(settings)
    try:
        new_deals(other, "warm up")
        with pytest.raises(RuntimeError), runtime.transaction() as session:
            publish_on_create(runtime, session, "gone")
            runtime.model(session)  # reads the moved stamp along with the metamodel's
            runtime.records(session).create("deal", {"name": "in", "amount": 1})
            raise RuntimeError("roll back")
        assert started(runtime, new_deals(runtime, "after")[0]) == []
        loads = other.triggers.loads
        assert started(other, new_deals(other, "there")[0]) == []
        assert other.triggers.loads == loads  # the committed stamp did not move
        flows.flow("kept", ONE, {"on": "create"})
        assert started(other, new_deals(other, "next")[0]) == ["kept"]
    finally:
        other.dispose()
