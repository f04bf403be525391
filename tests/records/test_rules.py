"""Required-field and validation rules, stored as data, enforced by the one service."""

from __future__ import annotations

import pytest
from configured_fixtures import configured

from trellis.errors import NotFound, ValidationFailed


@configured
def deals(factory):  # type: ignore[no-untyped-def]
    factory.entity(
        "deal",
        {"name": "text", "amount": "integer", "reason": "text", "close_date": "date"},
        pipelines={"sales": ["new", "proposal", "won:success", "lost:failure"]},
    )
    return factory


def missing(factory, **values):  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        factory.record("deal", **values)
    return failure.value.errors


def test_required_always(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta("add_rule", "deal", "required", field="name")
    assert missing(deals, amount=1) == {"name": ["Required."]}
    assert missing(deals, name="   ") == {"name": ["Required."]}
    assert deals.record("deal", name="ok").values["name"] == "ok"


def test_required_when_an_expression_holds(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta("add_rule", "deal", "required", field="reason", when="amount > 10000")
    assert deals.record("deal", amount=5).values["reason"] is None
    assert (
        deals.record("deal").values["amount"] is None
    )  # empty amount: the condition does not hold
    assert missing(deals, amount=20000) == {"reason": ["Required when amount > 10000."]}


def test_required_from_a_stage_on_but_not_at_a_failure_stage(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    record = deals.record("deal", name="x")
    with pytest.raises(ValidationFailed) as failure:
        deals.records("move_stage", "deal", record.id, "proposal")
    assert failure.value.errors == {"amount": ["Required from stage 'Proposal' on."]}
    with pytest.raises(ValidationFailed):
        deals.records("move_stage", "deal", record.id, "won")  # later stages need it too
    lost = deals.records("move_stage", "deal", record.id, "lost")
    assert lost.stage == "lost"


def test_validation_rule_with_message_under_its_field_or_the_record(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="amount is None or amount >= 0",
        message="No negative amounts.",
        field="amount",
    )
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="not (is_empty(name) and is_empty(reason))",
        message="Give a name or a reason.",
    )
    assert missing(deals, amount=-1) == {
        "amount": ["No negative amounts."],
        "_record": ["Give a name or a reason."],
    }


def test_a_rule_that_uses_dates(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="close_date is None or close_date >= date(2020, 1, 1)",
        message="Too early.",
        field="close_date",
    )
    assert missing(deals, close_date="2019-12-31") == {"close_date": ["Too early."]}


@pytest.mark.parametrize(
    ("options", "where", "text"),
    [
        ({"field": "amount", "when": "amout > 1"}, "when", "Unknown name 'amout'"),
        ({"field": "amount", "when": "amount >"}, "when", "Syntax error"),
        ({"field": "amount", "when": "open('x')"}, "when", "not available"),
        ({"field": "amount", "when": "amount.__class__"}, "when", "not available"),
        ({"field": "nothing"}, "field", "no active field"),
        ({"field": "amount", "from_stage": "sales.nowhere"}, "from_stage", "no stage"),
    ],
)
def test_bad_required_rules_are_refused_when_saved(deals, options, where, text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("add_rule", "deal", "required", **options)
    assert text in " ".join(failure.value.errors[where])


def test_bad_validation_rules_are_refused_when_saved(deals) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("add_rule", "deal", "validation", expression="", message="")
    assert set(failure.value.errors) == {"expression", "message"}
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("add_rule", "deal", "gossip", field="name")
    assert "kind" in failure.value.errors


def test_deleting_a_rule_stops_its_check(deals) -> None:  # type: ignore[no-untyped-def]
    rule = deals.meta("add_rule", "deal", "required", field="name")
    deals.meta("delete_rule", "deal", rule.id)
    assert deals.record("deal").values["name"] is None


def test_a_validation_rule_does_not_make_the_fields_it_reads_required(deals) -> None:  # type: ignore[no-untyped-def]
    """Issue 10.6: ``amount > 0`` is checked once Amount has a value; while it is empty,
    only a required rule (here: from "Proposal" on) asks for it."""
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        field="amount",
        expression="amount > 0",
        message="Positive.",
    )
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="close_date >= date(2020, 1, 1) and amount < 1000000",
        message="Check the date and the amount.",
    )
    deals.meta("add_rule", "deal", "required", field="amount", from_stage="sales.proposal")
    record = deals.record("deal", name="Empty amount")
    assert record.values["amount"] is None
    assert missing(deals, amount=0) == {"amount": ["Positive."]}
    assert missing(deals, amount=5, close_date="2019-01-01") == {
        "_record": ["Check the date and the amount."]
    }
    assert deals.record("deal", amount=5).values["amount"] == 5  # no date: not checked yet
    with pytest.raises(ValidationFailed) as failure:
        deals.records("move_stage", "deal", record.id, "proposal")
    assert failure.value.errors == {"amount": ["Required from stage 'Proposal' on."]}


def test_a_rule_that_asks_about_emptiness_is_checked_on_empty_fields(deals) -> None:  # type: ignore[no-untyped-def]
    deals.meta(
        "add_rule",
        "deal",
        "validation",
        expression="amount is not None or not is_empty(reason)",
        message="An amount or a reason.",
    )
    assert missing(deals, name="x") == {"_record": ["An amount or a reason."]}
    assert deals.record("deal", reason="later").values["reason"] == "later"


def test_a_rule_is_edited_in_place_and_checked_like_a_new_one(deals) -> None:  # type: ignore[no-untyped-def]
    rule = deals.meta(
        "add_rule",
        "deal",
        "validation",
        field="amount",
        expression="amount > 0",
        message="Positive.",
    )
    changed = deals.meta(
        "update_rule", "deal", rule.id, expression="amount > 10", message="More than 10."
    )
    assert (changed.id, changed.field_key, changed.expression) == (rule.id, "amount", "amount > 10")
    assert missing(deals, amount=5) == {"amount": ["More than 10."]}
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("update_rule", "deal", rule.id, expression="amout > 1", message="")
    assert set(failure.value.errors) == {"expression", "message"}
    assert deals.record("deal", amount=11).values["amount"] == 11  # the refused edit left it
    # another kind: the validation parts go, the required ones are checked
    required = deals.meta(
        "update_rule", "deal", rule.id, kind="required", from_stage="sales.proposal"
    )
    assert (required.kind, required.expression, required.message) == ("required", "", "")
    record = deals.record("deal", name="x")
    with pytest.raises(ValidationFailed) as failure:
        deals.records("move_stage", "deal", record.id, "proposal")
    assert failure.value.errors == {"amount": ["Required from stage 'Proposal' on."]}
    with pytest.raises(ValidationFailed) as failure:
        deals.meta("update_rule", "deal", rule.id, colour="red")
    assert failure.value.errors == {"colour": ["Unknown property."]}
    with pytest.raises(NotFound):
        deals.meta("update_rule", "deal", rule.id + 99, message="x")
