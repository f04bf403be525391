"""The live configuration as pack documents (issue 14): every kind, keyed by keys, defaults
filled in, in the configured order; archived parts and flow drafts left out."""

from __future__ import annotations

from trellis.flows.automations import save_automation
from trellis.packs.content import KINDS, canonical, without_defaults
from trellis.packs.snapshot import snapshot


def _snapshot(runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        return snapshot(session)


def test_the_demo_configuration_as_documents(runtime, demo_crm) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.add_field("deal", "old_note", "Old note", "text")
        meta.archive_field("deal", "old_note")
        save_automation(
            session,
            runtime.model(session),
            "qualified_note",
            {
                "entity": "lead",
                "trigger": {"on": "stage", "stage": "qualified"},
                "actions": [{"type": "set_fields", "values": {"comments": "qualified"}}],
            },
            create=True,
        )
        flows = runtime.flows(session)
        flows.add_version(
            "deal_approval", route=flows.version("deal_approval", 1)["route"]
        )  # a draft: not part of the configuration a pack carries
    docs = _snapshot(runtime)
    assert list(docs) == list(KINDS)
    assert docs["list"]["source"]["options"][:2] == [
        {"key": "website", "label": "Website", "color": "#1f77b4", "active": True},
        {"key": "call", "label": "Incoming call", "color": "#2ca02c", "active": True},
    ]
    deal = docs["entity"]["deal"]
    assert {k: deal[k] for k in ("key", "label", "label_plural", "title", "card_fields")} == {
        "key": "deal",
        "label": "Deal",
        "label_plural": "Deals",
        "title": "{name}",
        "card_fields": ["amount", "company", "close_date"],
    }
    assert [f["key"] for f in deal["fields"]][:3] == ["name", "amount", "contact"]
    assert "old_note" not in [f["key"] for f in deal["fields"]]
    amount = deal["fields"][1]
    assert amount == {
        "key": "amount",
        "label": "Amount",
        "type": "money",
        "required": False,
        "settings": {
            "currencies": ["EUR", "USD"],
            "default_currency": "EUR",
            "precision": 18,
            "scale": 2,
        },
        "default": None,
        "unique": False,
        "indexed": False,
        "help_text": "",
    }
    assert list(docs["pipeline"]) == [
        "deal.sales",
        "deal.wholesale",
        "lead.leads",
        "vacation.vacation",
    ]
    sales = docs["pipeline"]["deal.sales"]
    assert (sales["entity"], sales["position"], docs["pipeline"]["deal.wholesale"]["position"]) == (
        "deal",
        0,
        1,
    )
    approved = next(s for s in sales["stages"] if s["key"] == "approved")
    assert approved == {
        "key": "approved",
        "label": "Approved",
        "kind": "open",
        "color": "#20c997",
        "next_stages": ["won", "lost"],
        "enter_roles": [],
        "flow_only": True,
    }
    assert docs["pipeline"]["lead.leads"]["stages"][0]["next_stages"] is None
    assert sorted(docs["rule"]) == [
        "deal.amount_from_proposal",
        "deal.amount_from_quote",
        "deal.amount_not_negative",
        "lead.phone_without_email",
        "lead.source_when_qualified",
        "vacation.ends_after_start",
    ]
    assert docs["rule"]["lead.source_when_qualified"] == {
        "entity": "lead",
        "key": "source_when_qualified",
        "kind": "required",
        "field": "source",
        "when": "",
        "from_stage": "leads.qualified",
        "expression": "",
        "message": "",
    }
    assert sorted(docs["duplicate"]) == [
        "company.name",
        "company.tin",
        "contact.email",
        "contact.phone",
    ]
    conversion = docs["conversion"]["lead_conversion"]
    assert conversion["targets"]["deal"]["pipeline"] == "sales"
    assert conversion["targets"]["contact"]["pipeline"] is None
    assert docs["role"]["board"] == {
        "key": "board",
        "label": "Board member",
        "grants": {
            e: {"create": False, "read": "all", "update": "none", "delete": "none", "fields": {}}
            for e in ("company", "contact", "deal")
        },
    }
    assert "admin" not in docs["role"] and "user" not in docs["role"]
    approval = docs["flow"]["deal_approval"]
    assert approval["trigger"] == {"on": "stage", "stage": "approval", "field": None, "when": None}
    assert len(approval["versions"]) == 1  # the draft is left out
    assert approval["versions"][0]["route"]["on_approved"] == {"stage": "approved"}
    assert docs["automation"]["qualified_note"] == {
        "key": "qualified_note",
        "label": "Qualified note",
        "entity": "lead",
        "trigger": {"on": "stage", "stage": "qualified", "field": None, "when": None},
        "actions": [{"type": "set_fields", "values": {"comments": "qualified"}}],
        "active": True,
    }
    # canonical form is a fixed point, and leaving the defaults out loses nothing
    for kind, objects in docs.items():
        for document in objects.values():
            assert canonical(kind, document) == document
            assert canonical(kind, without_defaults(kind, document)) == document


def test_an_empty_installation_has_no_documents(runtime) -> None:  # type: ignore[no-untyped-def]
    assert _snapshot(runtime) == {kind: {} for kind in KINDS}


def test_stage_roles_and_the_user_role_once_it_has_grants(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    from trellis.access.grants import create_role, set_grant
    from trellis.accounts import SYSTEM

    factory.entity("task", {"name": "text", "note": "text"})
    with runtime.transaction() as session:
        create_role(session, SYSTEM, "lead_dev", "Lead developer")
        model = runtime.model(session)
        set_grant(
            session, SYSTEM, model, "user", "task", {"read": "own", "fields": {"note": "hidden"}}
        )
        runtime.metamodel(session).create_pipeline(
            "task",
            "work",
            "Work",
            [
                {"key": "todo", "label": "To do"},
                {"key": "done", "label": "Done", "kind": "success", "enter_roles": ["lead_dev"]},
            ],
        )
    docs = _snapshot(runtime)
    assert docs["role"]["user"]["grants"] == {
        "task": {
            "create": False,
            "read": "own",
            "update": "none",
            "delete": "none",
            "fields": {"note": "hidden"},
        }
    }
    assert docs["role"]["lead_dev"] == {"key": "lead_dev", "label": "Lead developer", "grants": {}}
    assert docs["pipeline"]["task.work"]["stages"][1]["enter_roles"] == ["lead_dev"]
