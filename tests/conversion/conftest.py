"""The demo CRM (lead, contact, company, deal, the lead conversion map, duplicate rules)
and an administrator's bearer headers."""

from __future__ import annotations

import pytest
from demo_records import INITECH_ENQUIRY

from trellis.accounts import create_user


@pytest.fixture
def demo(demo_crm, app, client, runtime):  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])
    token = client.post(
        "/api/auth/token", json={"username": "root", "password": "root-password"}
    ).json["token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def counts(client, demo):  # type: ignore[no-untyped-def]
    """How many contacts, companies and deals there are, and how many audit rows."""

    def count() -> dict[str, int]:
        found = {
            entity: client.get(f"/api/records/{entity}", headers=demo).json["total"]
            for entity in ("contact", "company", "deal")
        }
        from sqlalchemy import func, select

        from trellis.records.audit import AuditEvent

        runtime = client.application.extensions["trellis"]
        with runtime.transaction() as session:
            found["audit"] = session.scalar(select(func.count()).select_from(AuditEvent))
        return found

    return count


@pytest.fixture
def new_lead(client, demo):  # type: ignore[no-untyped-def]
    def make(**values):  # type: ignore[no-untyped-def]
        body = {**INITECH_ENQUIRY, "amount": {"amount": "12000", "currency": "EUR"}, **values}
        response = client.post("/api/records/lead", json=body, headers=demo)
        assert response.status_code == 201, response.json
        return response.json

    return make
