"""The conversion maps and duplicate rules are kept with the compiled model (a conversion
reads neither table): a change of either shows in the next conversion, in the transaction
making it at once, and a change rolled back never shows."""

from __future__ import annotations

import pytest

from trellis.accounts import SYSTEM
from trellis.conversion import duplicates
from trellis.conversion.convert import convert
from trellis.conversion.maps import ConversionMaps
from trellis.errors import BadRequest

TARGETS = {"contact": {}, "company": {"tin": "EE102030405"}, "deal": {}}


def _deal_candidates(runtime, lead_id: int, records=None) -> list[int]:  # type: ignore[no-untyped-def]
    """The deals a dry run of converting ``lead_id`` finds as duplicates."""

    def run(service):  # type: ignore[no-untyped-def]
        result = convert(service, "lead", lead_id, dict(TARGETS), dry_run=True)
        return [c["id"] for c in result.duplicates.get("deal", [])]

    if records is not None:
        return run(records)
    with runtime.transaction() as session:
        return run(runtime.records(session))


class Undo(Exception):
    pass


def test_a_rule_counts_from_its_change_on_and_a_rolled_back_one_never(  # type: ignore[no-untyped-def]
    runtime, demo, new_lead
) -> None:
    first = new_lead(name="Same enquiry")
    with runtime.transaction() as session:
        converted = convert(runtime.records(session), "lead", first["id"], dict(TARGETS))
    assert converted.ok, converted.errors
    deal = converted.records["deal"].id
    lead = new_lead(name="Same enquiry", email="other@initech.example")
    assert _deal_candidates(runtime, lead["id"]) == []  # deals have no rule

    # added and used in one transaction (with a record service made before the change),
    # then rolled back: seen inside it, never after it
    with pytest.raises(Undo), runtime.transaction() as session:
        records = runtime.records(session)
        assert _deal_candidates(runtime, lead["id"], records) == []
        duplicates.add_rule(session, SYSTEM, runtime.model(session), "deal", ["name"])
        assert _deal_candidates(runtime, lead["id"], records) == [deal]
        raise Undo
    assert _deal_candidates(runtime, lead["id"]) == []

    with runtime.transaction() as session:
        rule = duplicates.add_rule(session, SYSTEM, runtime.model(session), "deal", ["name"])
    assert _deal_candidates(runtime, lead["id"]) == [deal]
    with runtime.transaction() as session:
        duplicates.delete_rule(session, SYSTEM, "deal", rule.id)
    assert _deal_candidates(runtime, lead["id"]) == []


def test_a_map_change_shows_in_the_next_conversion(runtime, demo, new_lead) -> None:  # type: ignore[no-untyped-def]
    lead = new_lead()
    assert _deal_candidates(runtime, lead["id"]) == []  # the map is read and kept
    with runtime.transaction() as session:
        maps = ConversionMaps(session, runtime.cache, SYSTEM)
        row = maps.get("lead_conversion")
        targets = {k: v for k, v in row.targets.items() if k != "deal"}
        maps.save("lead_conversion", "lead", targets, create=False)
    with pytest.raises(BadRequest) as refused, runtime.transaction() as session:
        convert(runtime.records(session), "lead", lead["id"], dict(TARGETS))
    assert "does not convert into 'deal'" in str(refused.value.errors)
    with runtime.transaction() as session:
        ConversionMaps(session, runtime.cache, SYSTEM).delete("lead_conversion")
    with pytest.raises(Exception, match="no conversion map"), runtime.transaction() as session:
        convert(runtime.records(session), "lead", lead["id"], {"contact": {}})
