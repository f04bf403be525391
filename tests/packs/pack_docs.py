"""Packs for the tests of tests/packs: documents of a small sales configuration."""

from __future__ import annotations

from typing import Any

from trellis.packs.content import Manifest, PackContent, canonical, object_key


def pack(version: str, *docs: tuple[str, dict[str, Any]], name: str = "sales") -> PackContent:
    objects: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, doc in docs:
        full = canonical(kind, doc)
        objects.setdefault(kind, {})[object_key(kind, full)] = full
    return PackContent(Manifest(name=name, version=version, title="Sales"), objects)


def sales_docs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "list",
            {
                "key": "sizes",
                "label": "Sizes",
                "options": [{"key": "small", "label": "Small"}, {"key": "big", "label": "Big"}],
            },
        ),
        (
            "entity",
            {
                "key": "company",
                "label": "Company",
                "title": "{name}",
                "fields": [{"key": "name", "label": "Name", "type": "text", "required": True}],
            },
        ),
        (
            "entity",
            {
                "key": "deal",
                "label": "Deal",
                "title": "{subject}",
                "card_fields": ["amount"],
                "fields": [
                    {"key": "subject", "label": "Subject", "type": "text", "required": True},
                    {"key": "amount", "label": "Amount", "type": "integer"},
                    {
                        "key": "size",
                        "label": "Size",
                        "type": "list",
                        "settings": {"list": "sizes"},
                    },
                    {
                        "key": "company",
                        "label": "Company",
                        "type": "reference",
                        "settings": {"target": "company"},
                    },
                ],
            },
        ),
        ("role", {"key": "sales", "label": "Sales", "grants": {"deal": {"read": "all"}}}),
        (
            "pipeline",
            {
                "entity": "deal",
                "key": "main",
                "label": "Main",
                "stages": [
                    {"key": "new", "label": "New"},
                    {"key": "won", "label": "Won", "kind": "success", "enter_roles": ["sales"]},
                ],
            },
        ),
        (
            "rule",
            {
                "entity": "deal",
                "key": "positive",
                "kind": "validation",
                "expression": "amount is None or amount > 0",
                "message": "The amount must be positive.",
            },
        ),
        ("duplicate", {"entity": "company", "fields": ["name"]}),
        (
            "conversion",
            {
                "key": "deal_to_company",
                "label": "Deal to company",
                "source": "deal",
                "targets": {"company": {"fields": {"name": "subject"}}},
            },
        ),
        (
            "flow",
            {
                "key": "deal_approval",
                "label": "Deal approval",
                "entity": "deal",
                "trigger": {"on": "stage", "stage": "won"},
                "versions": [
                    {
                        "route": {
                            "steps": [
                                {
                                    "id": "boss",
                                    "label": "Boss",
                                    "approvers": {"role": "sales"},
                                    "mode": "any",
                                }
                            ],
                            "on_approved": {"stage": "won"},
                            "on_rejected": {"stage": "new"},
                        }
                    }
                ],
            },
        ),
        (
            "automation",
            {
                "key": "big_deal",
                "entity": "deal",
                "trigger": {"on": "create", "when": "amount > 1000"},
                "actions": [{"type": "set_fields", "values": {"size": "big"}}],
            },
        ),
    ]
