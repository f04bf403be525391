"""A CRM with hidden fields and scoped grants, planted with distinctive values that some
users must never learn (the margin of a deal, the amount of a lead, records they may not
read), for the permission leak tests and the generated sweep.

Roles (set up through the API, on the demo CRM plus a deal ``margin``, a unique deal
``code`` and a ``note`` entity type whose notes die with their contact):

- ``sales``: every lead (amount hidden), every deal (margin hidden), every contact and
  company; may create and change them, delete nothing.
- ``ownonly``: own deals, contacts and companies only, nothing hidden; may delete them.

Users: ``sam`` (sales), ``olga`` (ownonly), ``sasha`` (sales and ownonly: the margin shows on
his own deals only). A user's password is ``<name>-password``.
"""

from __future__ import annotations

from typing import Any

from api_helpers import Caller
from signed_in import Browser

from trellis.accounts import create_user
from trellis.cli import initialise

#: the values planted; each user's list says which they must never see
ADMIN_MARGIN = 4_242_917
SASHA_MARGIN = 5_151_513
LEAD_AMOUNT = 7_770_123
ADMIN_DEAL = "Zanzibar tender"
ADMIN_CODE = "QX-ADMIN-7731"
HIDDEN_PERSON = "Hieronymus Quackenbush"
HIDDEN_EMAIL = "quackenbush@secret.example"
NOTE_TEXT = "Vault combination 31-7-44"

SALES = {
    "lead": {"create": True, "read": "all", "update": "all", "fields": {"amount": "hidden"}},
    "deal": {"create": True, "read": "all", "update": "all", "fields": {"margin": "hidden"}},
    "contact": {"create": True, "read": "all", "update": "all"},
    "company": {"create": True, "read": "all"},
}
OWN = {"create": True, "read": "own", "update": "own", "delete": "own"}
OWNONLY = {"deal": OWN, "contact": OWN, "company": OWN}


def renderings(value: int) -> list[str]:
    """The ways a number may be written in a body (plain, grouped by , . space or NBSP)."""
    grouped = f"{value:,}"
    return [
        str(value),
        grouped,
        *(grouped.replace(",", sep) for sep in (" ", "\u00a0", ".", "\u202f")),
    ]


#: what the rules about the margin say (their message, their condition)
RULE_TEXTS = ["The margin is too high", "margin is not None and margin > 10000"]

#: what each user must never see: hidden values, unreadable records' contents, and what
#: rules about hidden fields would say
SECRETS = {
    "sam": [
        *renderings(ADMIN_MARGIN),
        *renderings(SASHA_MARGIN),
        *renderings(LEAD_AMOUNT),
        NOTE_TEXT,
        *RULE_TEXTS,
    ],
    "olga": [
        *renderings(ADMIN_MARGIN),
        *renderings(SASHA_MARGIN),
        *renderings(LEAD_AMOUNT),
        ADMIN_DEAL,
        ADMIN_CODE,
        HIDDEN_PERSON,
        HIDDEN_EMAIL,
        NOTE_TEXT,
        # her only taken code is the administrator's: a deal she may not read
        "Another Deal has this Code already",
    ],
    "sasha": [*renderings(ADMIN_MARGIN), *renderings(LEAD_AMOUNT), NOTE_TEXT],
}


def token(client: Any, username: str) -> dict[str, str]:
    response = client.post(
        "/api/auth/token", json={"username": username, "password": f"{username}-password"}
    )
    assert response.status_code == 201, response.json
    return {"Authorization": f"Bearer {response.json['token']}"}


def build_world(app: Any, runtime: Any) -> dict[str, Any]:
    """Load the demo, add fields, roles, users and the planted records; returns callers
    (``api[name]``, ``web[name]``) and the ids of what was planted."""
    return world_of(app, runtime, plant_world(app, runtime))


def world_of(app: Any, runtime: Any, planted: dict[str, Any]) -> dict[str, Any]:
    """Callers (``api[name]``, ``web[name]``) on ``app`` for the world ``plant_world`` made
    in its database (a copy of it will do), and the ids of what was planted."""
    client = app.test_client()
    api = {name: Caller(client, headers) for name, headers in planted["tokens"].items()}
    web = {name: Browser(app.test_client(), name) for name in ("sam", "olga", "sasha")}
    return {"api": api, "web": web, "ids": planted["ids"], "runtime": runtime}


def plant_world(app: Any, runtime: Any) -> dict[str, Any]:
    """Load the demo, add fields, roles, users and the planted records; returns the users'
    bearer headers (``tokens[name]``, ``admin`` too) and the ids of what was planted."""
    with app.app_context():
        initialise(runtime, demo=True)
    with runtime.transaction() as session:
        create_user(session, "root", "root-password", ["admin"])
    client = app.test_client()
    admin = Caller(client, token(client, "root"))
    admin.ok(
        "POST",
        "/api/meta/entities/deal/fields",
        {"key": "margin", "label": "Margin", "type": "integer"},
        201,
    )
    admin.ok(
        "POST",
        "/api/meta/entities/deal/fields",
        {"key": "code", "label": "Code", "type": "text", "unique": True},
        201,
    )
    admin.ok("POST", "/api/meta/entities", {"key": "note", "label": "Note"}, 201)
    admin.ok(
        "POST",
        "/api/meta/entities/note/fields",
        {"key": "text", "label": "Text", "type": "text"},
        201,
    )
    admin.ok(
        "POST",
        "/api/meta/entities/note/fields",
        {
            "key": "contact",
            "label": "Contact",
            "type": "reference",
            "settings": {"target": "contact", "on_delete": "cascade"},
        },
        201,
    )
    for rule in (
        {
            "kind": "validation",
            "field": "probability",
            "expression": "margin is None or probability is None or margin <= probability * 100000",
            "message": "The margin is too high for this probability.",
        },
        {
            "kind": "required",
            "field": "description",
            "when": "margin is not None and margin > 10000",
        },
        {"kind": "required", "field": "margin", "from_stage": "sales.won"},
    ):
        admin.ok("POST", "/api/meta/entities/deal/rules", rule, 201)
    # these tests move deals straight to any stage: the sales pipeline limits no moves
    sales = admin.ok("GET", "/api/meta/entities/deal/pipelines/sales")["stages"]
    keep = ("key", "label", "kind", "color")
    stages = [{**{k: s[k] for k in keep}, "next_stages": None} for s in sales]
    admin.ok("PATCH", "/api/meta/entities/deal/pipelines/sales", {"stages": stages})
    for role, grants in (("sales", SALES), ("ownonly", OWNONLY)):
        admin.ok("POST", "/api/meta/roles", {"key": role, "label": role.title()}, 201)
        for entity, rights in grants.items():
            admin.ok("PUT", f"/api/meta/roles/{role}/permissions/{entity}", rights)
    with runtime.transaction() as session:
        for name, roles in (
            ("sam", ["sales"]),
            ("olga", ["ownonly"]),
            ("sasha", ["sales", "ownonly"]),
        ):
            create_user(session, name, f"{name}-password", roles)
    api = {name: Caller(client, token(client, name)) for name in ("sam", "olga", "sasha")}
    api["admin"] = admin
    ids: dict[str, int] = {}
    ids["olga_contact"] = api["olga"].ok(
        "POST", "/api/records/contact", {"first_name": "Olga", "last_name": "Own"}, 201
    )["id"]
    ids["hidden_contact"] = admin.ok(
        "POST",
        "/api/records/contact",
        {"first_name": "Hieronymus", "last_name": "Quackenbush", "email": HIDDEN_EMAIL},
        201,
    )["id"]
    ids["note"] = admin.ok(
        "POST", "/api/records/note", {"text": NOTE_TEXT, "contact": ids["hidden_contact"]}, 201
    )["id"]
    ids["admin_deal"] = admin.ok(
        "POST",
        "/api/records/deal",
        {
            "name": ADMIN_DEAL,
            "margin": ADMIN_MARGIN,
            "code": ADMIN_CODE,
            "probability": 90,
            "description": "big",
            "contact": ids["hidden_contact"],
            "amount": {"amount": "1000", "currency": "EUR"},
        },
        201,
    )["id"]
    ids["sasha_deal"] = api["sasha"].ok(
        "POST", "/api/records/deal", {"name": "Sasha's own deal", "probability": 80}, 201
    )["id"]
    admin.ok(
        "PATCH",
        f"/api/records/deal/{ids['sasha_deal']}",
        {"margin": SASHA_MARGIN, "description": "his", "version": 1},
    )
    ids["olga_deal"] = api["olga"].ok(
        "POST", "/api/records/deal", {"name": "Olga's deal", "code": "OLGA-1"}, 201
    )["id"]
    ids["lead"] = admin.ok(
        "POST",
        "/api/records/lead",
        {
            "name": "Lead with a secret budget",
            "first_name": "Peter",
            "last_name": "Budget",
            "email": "peter@budget.example",
            "source": "website",
            "amount": {"amount": str(LEAD_AMOUNT), "currency": "EUR"},
        },
        201,
    )["id"]
    return {"tokens": {name: caller.headers for name, caller in api.items()}, "ids": ids}


def leaks(text: str, user: str) -> list[str]:
    """The secrets of ``user`` found in ``text``."""
    return [s for s in SECRETS[user] if s in text]
