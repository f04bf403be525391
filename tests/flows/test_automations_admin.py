"""The admin side of automations (issue 13, deliverable 7): the automation form checked in
full, webhooks whose secret is shown once, and the outbox listing failures with a retry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from automation_world import Receiver, SignedIn, add_automation, add_webhook, errors_on
from sqlalchemy import select

from trellis.clock import utcnow
from trellis.flows import outbox
from trellis.flows.automations import Automation
from trellis.flows.outbox import OutboxEntry
from trellis.flows.webhooks import Webhook, unseal
from trellis.flows.worker import Worker


@pytest.fixture
def admin(client, crm):  # type: ignore[no-untyped-def]
    return SignedIn(client, "bob", "correct-horse-battery")


def test_an_administrator_creates_and_edits_an_automation_in_the_form(
    admin, runtime, factory
) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", "http://127.0.0.1:9/")
    answer = admin.post(
        "/admin/automations/",
        key="big_leads",
        label="Big leads",
        entity="lead",
        on="stage",
        stage="qualified",
        field="",
        when="amount > 1000",
        a0_type="set_fields",
        a0_values='note = "big one"\namount = amount * 2',
        a1_type="notify",
        a1_message="{title} is big",
        a1_users="alice",
        a1_owner="on",
        a2_type="webhook",
        a2_webhook="erp",
        a3_type="",  # the empty row that adds an action
        active="on",
    )
    assert answer.status_code == 302, errors_on(answer)
    with runtime.transaction() as session:
        row = session.scalars(select(Automation)).one()
        assert row.actions == [
            {
                "type": "set_fields",
                "values": {"note": {"expr": '"big one"'}, "amount": {"expr": "amount * 2"}},
            },
            {"type": "notify", "message": "{title} is big", "users": ["alice"], "owner": True},
            {"type": "webhook", "webhook": "erp"},
        ]
    page = admin.get("/admin/automations/").get_data(as_text=True)
    assert "Big leads" in page
    assert "when a record enters &#39;qualified&#39; and amount &gt; 1000" in page
    lead = factory.record("lead", name="Ann", amount=5000)
    factory.records("move_stage", "lead", lead.id, "qualified")
    moved = factory.records("get", "lead", lead.id)
    assert (moved.values["note"], moved.values["amount"]) == ("big one", 10000)
    # the edit form shows what is stored, in the same inputs, and saves changes
    edit = admin.get("/admin/automations/big_leads").get_data(as_text=True)
    assert "amount &gt; 1000" in edit
    assert "note = &#34;big one&#34;\namount = amount * 2</textarea>" in edit
    assert '<option value="alice" selected>' in edit
    answer = admin.post(
        "/admin/automations/big_leads",
        action="save",
        label="Big leads",
        entity="lead",
        on="create",
        when="",
        a0_type="move_stage",
        a0_stage="junk",
    )
    assert answer.status_code == 302, errors_on(answer)
    with runtime.transaction() as session:
        row = session.scalars(select(Automation)).one()
        assert (row.trigger, row.stage, row.condition, row.active) == ("create", None, None, False)
        assert row.actions == [{"type": "move_stage", "stage": "junk"}]


def test_the_form_names_every_problem_beside_its_input(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    answer = admin.post(
        "/admin/automations/",
        key="bad",
        entity="lead",
        on="field",
        field="title",
        when="amount >>> 3",
        a0_type="move_stage",
        a0_stage="heaven",
        a1_type="notify",
        a1_message="x",
        a1_users="zed",
        a1_fields="note",
        a2_type="set_fields",
        a2_values="colour = 'red'\nnote = nme",
        a3_type="set_fields",
        a3_values="just words",
    )
    assert answer.status_code == 422
    errors = errors_on(answer)
    assert errors == {
        "field": ["Leads have no field 'title'."],
        "when": [errors["when"][0]],
        "a0_stage": ["No stage 'heaven' in Leads."],
        "a1_users": ["Unknown user: zed."],
        "a1_fields": ["Leads have no user field 'note'."],
        "a2_values": [errors["a2_values"][0], errors["a2_values"][1]],
        "a3_values": ["Write one 'field = value' per line, not 'just words'."],
    }
    assert errors["a2_values"][0].startswith("colour: ") and "nme" in errors["a2_values"][1]
    answer = admin.post("/admin/automations/", key="bad", entity="lead", on="create")
    assert errors_on(answer) == {"actions": ["Add at least one action."]}
    with runtime.transaction() as session:
        assert session.scalars(select(Automation)).all() == []


def test_a_webhook_secret_is_shown_once_and_then_only_its_end(admin, runtime) -> None:  # type: ignore[no-untyped-def]
    answer = admin.post(
        "/admin/webhooks/", action="create", key="erp", url="https://erp.example/hook"
    )
    assert answer.status_code == 302
    shown = admin.get("/admin/webhooks/").get_data(as_text=True)
    secret = re.search(r"shown only now: (\S+) - give", shown).group(1)
    with runtime.transaction() as session:
        hook = session.scalars(select(Webhook)).one()
        assert unseal(hook.secret_sealed, runtime.settings["SECRET_KEY"]) == secret
    again = admin.get("/admin/webhooks/").get_data(as_text=True)
    assert secret not in again and f"…{secret[-4:]}" in again
    answer = admin.post("/admin/webhooks/", action="create", key="erp", url="ftp://x")
    assert set(errors_on(answer)) == {"key", "url"}


def test_a_failed_delivery_shows_in_the_admin_and_is_retried(admin, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    server = Receiver([500])
    try:
        add_webhook(runtime, "erp", server.url)
        add_automation(
            runtime,
            "to_erp",
            trigger={"on": "create"},
            actions=[{"type": "webhook", "webhook": "erp"}],
        )
        factory.record("lead", name="Ann")
        worker = Worker(runtime, ["outbox"])
        now = utcnow()
        for _ in range(outbox.MAX_ATTEMPTS):
            worker.run_once(now)
            now += outbox.BACKOFF_CAP + timedelta(seconds=1)
        with runtime.transaction() as session:
            entry = session.scalars(select(OutboxEntry)).one()
        assert entry.status == "failed"
        dashboard = admin.get("/admin/").get_data(as_text=True)
        assert "1 outgoing call failed after every attempt" in dashboard
        page = admin.get("/admin/outbox/?status=failed").get_data(as_text=True)
        assert f'data-entry="{entry.id}" data-status="failed"' in page
        assert "HTTP 500" in page and "automation &#39;to_erp&#39; on lead" in page
        server.statuses = [200]
        answer = admin.post("/admin/outbox/?status=failed", entry_id=str(entry.id))
        assert answer.status_code == 302
        assert worker.run_once() == {"outbox": 1}
        page = admin.get("/admin/outbox/").get_data(as_text=True)
        assert f'data-entry="{entry.id}" data-status="delivered"' in page
        assert "failed after every attempt" not in admin.get("/admin/").get_data(as_text=True)
        assert [c["status"] for c in server.calls][-1] == 200
    finally:
        server.close()


def test_non_administrators_cannot_reach_the_views(client, crm) -> None:  # type: ignore[no-untyped-def]
    user = SignedIn(client, "alice", "correct-horse-battery")
    for url in ("/admin/automations/", "/admin/webhooks/", "/admin/outbox/"):
        assert user.get(url).status_code == 403
