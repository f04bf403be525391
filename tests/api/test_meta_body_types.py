"""Wrong JSON types in the request bodies of the metamodel, roles, conversion and token
endpoints: every property of a valid body (nested ones too) is replaced by each JSON type it
does not have. Each such request is a 4xx problem, never a 500, and changes nothing.

The same bodies then go past the schemas straight to the services (as the admin UI and config
packs call them): they must still answer with a problem, never crash. Last, the valid bodies
themselves are sent and succeed, so the refusals above were about the replaced property.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import marshmallow as ma
import pytest
from api_helpers import PROBLEM, Caller
from sqlalchemy import func, select

from trellis.api import meta_schemas as ms
from trellis.metamodel.models import ConfigChange

WRONG: list[Any] = [{}, [], 1.5, "x", True, None, [{}]]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(value)]


class Endpoint:
    """A write endpoint, its schema and a body that it accepts (in the order they are sent
    at the end, where each one succeeds); ``opaque`` paths hold values of any type (a record
    value, a default), which the service checks against the configuration."""

    def __init__(
        self,
        method: str,
        path: str,
        schema: type[ms.Body],
        body: dict[str, Any],
        opaque: tuple[str, ...] = (),
    ) -> None:
        self.method, self.path, self.schema, self.body = method, path, schema, body
        self.opaque = opaque

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(ids: dict[str, int]) -> list[Endpoint]:
    stages = [
        {
            "key": "new",
            "label": "New",
            "kind": "open",
            "color": "#6c757d",
            "next_stages": ["quote"],
            "enter_roles": ["auditor"],
            "flow_only": False,
        },
        {"key": "quote", "label": "Quote", "kind": "open", "color": ""},
        {"key": "won", "label": "Won", "kind": "success", "color": None},
    ]
    deal = "/api/meta/entities/deal"
    return [
        Endpoint(
            "POST",
            "/api/meta/entities",
            ms.EntityCreate,
            {
                "key": "venture",
                "label": "Venture",
                "label_plural": "Ventures",
                "title": "A venture",
                "description": "Ideas",
            },
        ),
        Endpoint(
            "POST",
            "/api/meta/entities/project/fields",
            ms.FieldCreate,
            {
                "key": "size",
                "label": "Size",
                "type": "integer",
                "required": False,
                "settings": {"min": 0, "max": 10},
                "default": 1,
                "unique": False,
                "indexed": True,
                "help_text": "How big",
                "position": 3,
            },
        ),
        Endpoint(
            "PATCH",
            "/api/meta/entities/project/fields/name",
            ms.FieldPatch,
            {
                "label": "Title",
                "type": "text",
                "required": True,
                "settings": {"max_length": 300},
                "default": "untitled",
                "unique": False,
                "indexed": True,
                "help_text": "What it is called",
                "position": 0,
            },
        ),
        Endpoint(
            "POST",
            "/api/meta/lists",
            ms.ListCreate,
            {
                "key": "size",
                "label": "Size",
                "description": "T-shirt sizes",
                "options": [{"key": "s", "label": "S", "color": "#112233", "active": True}],
            },
        ),
        Endpoint(
            "PATCH", "/api/meta/lists/source", ms.ListPatch, {"label": "Origin", "description": "d"}
        ),
        Endpoint(
            "POST",
            "/api/meta/lists/source/options",
            ms.OptionCreate,
            {"key": "fair", "label": "Fair", "color": "#112233", "position": 0},
        ),
        Endpoint(
            "PATCH",
            "/api/meta/lists/source/options/other",
            ms.OptionPatch,
            {"label": "Else", "color": "#112233", "active": False, "position": 1},
        ),
        Endpoint(
            "POST",
            "/api/meta/entities/project/pipelines",
            ms.PipelineCreate,
            {"key": "flow", "label": "Flow", "position": 0, "stages": stages},
        ),
        Endpoint(
            "PATCH",
            f"{deal}/pipelines/wholesale",
            ms.PipelinePatch,
            {
                "label": "Bulk",
                "position": 2,
                "stages": [*stages, {"key": "lost", "label": "Lost", "kind": "failure"}],
                "move_to": {"contract": "won"},
            },
        ),
        Endpoint(
            "POST",
            f"{deal}/rules",
            ms.RuleCreate,
            {
                "kind": "required",
                "field": "close_date",
                "when": "probability > 50",
                "from_stage": "sales.negotiation",
            },
        ),
        Endpoint(
            "POST",
            f"{deal}/rules",
            ms.RuleCreate,
            {
                "kind": "validation",
                "field": "probability",
                "expression": "probability is None or probability <= 100",
                "message": "At most 100.",
            },
        ),
        Endpoint(
            "PATCH",
            f"{deal}/rules/{ids['required_rule']}",
            ms.RulePatch,
            {
                "kind": "required",
                "field": "amount",
                "when": "probability > 10",
                "from_stage": "sales.negotiation",
            },
        ),
        Endpoint(
            "PATCH",
            f"{deal}/rules/{ids['validation_rule']}",
            ms.RulePatch,
            {"expression": "amount is None or amount >= 0", "message": "Never negative."},
        ),
        Endpoint("POST", "/api/meta/roles", ms.RoleCreate, {"key": "clerk", "label": "Clerk"}),
        Endpoint(
            "PUT",
            "/api/meta/roles/auditor/permissions/deal",
            ms.GrantBody,
            {
                "create": True,
                "read": "all",
                "update": "own",
                "delete": "none",
                "fields": {"amount": "read_only"},
            },
        ),
        Endpoint(
            "POST",
            "/api/meta/conversions",
            ms.ConversionMapBody,
            {
                "key": "second",
                "label": "Second",
                "source": "lead",
                "targets": {
                    "deal": {
                        "fields": {
                            "name": "name",
                            "source": "source",
                            "description": {"expr": "name"},
                            "probability": {"value": 5},
                        },
                        "pipeline": "wholesale",
                        "stage": "new",
                        "values": {"source": {"website": "call"}},
                    }
                },
            },
            opaque=("targets.deal.fields.probability.value",),
        ),
        Endpoint(
            "PUT",
            "/api/meta/conversions/lead_conversion",
            ms.ConversionMapReplace,
            {
                "label": "Convert",
                "source": "lead",
                "targets": {
                    "contact": {"fields": {"first_name": "first_name", "last_name": "last_name"}},
                    "deal": {"fields": {"name": "name"}, "pipeline": "sales"},
                },
            },
        ),
        Endpoint(
            "POST",
            "/api/meta/conversions/lead_conversion/transfer",
            ms.TransferBody,
            {"field": "industry", "target": "contact"},
        ),
        Endpoint(
            "POST",
            "/api/meta/entities/contact/duplicate-rules",
            ms.DuplicateRuleBody,
            {"fields": ["last_name", "first_name"]},
        ),
        Endpoint(
            "POST",
            f"/api/records/lead/{ids['lead']}/convert",
            ms.ConversionRequest,
            {
                "targets": {
                    "deal": {"pipeline": "sales", "stage": "new", "probability": 5},
                    "contact": {"use_existing": ids["contact"]},
                },
                "dry_run": False,
                "map": "lead_conversion",
                "source_values": {"source": "website"},
            },
            opaque=("targets.deal.probability", "source_values.source"),
        ),
        Endpoint(
            "POST",
            "/api/auth/token",
            ms.TokenRequest,
            {"username": "root", "password": "root-password"},
        ),
        # last: it archives the entity type the others add to
        Endpoint(
            "PATCH",
            "/api/meta/entities/project",
            ms.EntityPatch,
            {
                "label": "Plan",
                "label_plural": "Plans",
                "title": "{name}",
                "description": "d",
                "archived": True,
            },
        ),
    ]


def _field_at(schema: type[ma.Schema], path: list[str]) -> ma.fields.Field | None:
    """The schema's field for a property path (None where the schema does not say)."""
    field: Any = ma.fields.Nested(schema)
    for part in path:
        if isinstance(field, ma.fields.Nested):
            field = field.schema.fields.get(part)
        elif isinstance(field, ma.fields.List):
            field = field.inner
        elif isinstance(field, ma.fields.Dict):
            field = field.value_field
        else:
            return None
        if field is None:
            return None
    return field


def variants(endpoint: Endpoint) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, body) for every property path of the body and every JSON type it lacks."""

    def walk(value: Any, path: list[str]) -> Iterator[list[str]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield [*path, str(key)]
                yield from walk(inner, [*path, str(key)])
        elif isinstance(value, list) and value:  # the items are alike: the first stands in
            yield [*path, "0"]
            yield from walk(value[0], [*path, "0"])

    for path in walk(endpoint.body, []):
        dotted = ".".join(path)
        if any(dotted == o or dotted.startswith(o + ".") for o in endpoint.opaque):
            continue
        original = _get(endpoint.body, path)
        field = _field_at(endpoint.schema, path)
        for wrong in WRONG:
            if wrong != [{}] and _json_type(wrong) == _json_type(original):
                continue
            if wrong is None and field is not None and field.allow_none:
                continue
            yield dotted, _replaced(endpoint.body, path, wrong)


def _get(value: Any, path: list[str]) -> Any:
    for part in path:
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def _replaced(body: Any, path: list[str], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(body, list):
        copy = list(body)
        copy[int(head)] = _replaced(body[int(head)], rest, new)
        return copy
    return {**body, head: _replaced(body[head], rest, new)}


# -- the world ---------------------------------------------------------------------------


@pytest.fixture
def world(demo_crm, factory, runtime, admin) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    factory.entity("project", {"name": "text", "budget": "integer"})
    from trellis.access.grants import create_role
    from trellis.accounts import SYSTEM

    with runtime.transaction() as session:
        create_role(session, SYSTEM, "auditor", "Auditor")
    rules = admin.ok("GET", "/api/meta/entities/deal/rules")["items"]
    leads = admin.ok("GET", "/api/records/lead?sort=id")["items"]
    contacts = admin.ok("GET", "/api/records/contact?sort=id")["items"]
    return {
        "required_rule": next(r["id"] for r in rules if r["kind"] == "required"),
        "validation_rule": next(r["id"] for r in rules if r["kind"] == "validation"),
        "lead": next(lead["id"] for lead in leads if lead["source"]),
        "contact": contacts[0]["id"],
    }


def _changes(runtime) -> int:  # type: ignore[no-untyped-def]
    with runtime.transaction(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(ConfigChange)) or 0


def _configuration(admin: Caller) -> Any:
    paths = ["/api/meta/entities", "/api/meta/lists", "/api/meta/roles", "/api/meta/conversions"]
    paths += [f"/api/meta/entities/{e}/duplicate-rules" for e in ("contact", "company")]
    paths += ["/api/records/deal", "/api/records/lead", "/api/records/contact/1/links"]
    return {p: admin.ok("GET", p) for p in paths}


def _send(admin: Caller, endpoint: Endpoint, body: Any):  # type: ignore[no-untyped-def]
    return admin.open(endpoint.method, endpoint.path, body)


def test_wrong_json_types_are_a_4xx_problem_and_change_nothing(world, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    table = endpoints(world)
    before, changes = _configuration(admin), _changes(runtime)
    sent, failures = 0, []
    for endpoint in table:
        for where, body in variants(endpoint):
            response = _send(admin, endpoint, body)
            sent += 1
            if not 400 <= response.status_code < 500 or response.mimetype != PROBLEM:
                failures.append((endpoint, where, body, response.status_code))
            elif response.status_code == 422 and endpoint.schema is not ms.TokenRequest:
                named = response.json["errors"]
                if not any(
                    k == where or where.startswith(k + ".") or k.startswith(where) for k in named
                ):
                    failures.append((endpoint, where, body, named))
    assert not failures, "\n".join(map(repr, failures[:30]))
    assert sent > 300
    assert _changes(runtime) == changes  # every configuration change is logged
    assert _configuration(admin) == before
    # the bodies themselves are valid: the refusals were about the replaced property
    for endpoint in table:
        response = _send(admin, endpoint, endpoint.body)
        assert response.status_code < 300, (endpoint, response.get_data(as_text=True))


def test_the_services_refuse_wrong_types_themselves(world, admin, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Past the schemas (as the admin UI and config packs call them), the services answer a
    wrong type with a problem too, never a crash."""
    monkeypatch.setattr(ms.Body, "load", lambda self, data, **kwargs: data)
    crashes = []
    for endpoint in endpoints(world):
        for where, body in variants(endpoint):
            response = _send(admin, endpoint, body)
            if response.status_code >= 500:
                crashes.append((endpoint, where, body, response.get_data(as_text=True)[:200]))
    places = sorted({f"{endpoint!r} {where}" for endpoint, where, _body, _text in crashes})
    assert not crashes, "\n".join(places) + "\n" + repr(crashes[:3])
