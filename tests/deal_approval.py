"""The demo CRM's deal approval, as the inbox tests (the app's and Chromium's) set it up: a
manual flow on deals with a given route, published, and the deal it is started on."""

from __future__ import annotations

from typing import Any

from trellis.accounts import SYSTEM


def publish_deal_approval(runtime: Any, route: dict[str, Any]) -> int:
    """Publishes ``deal_ok`` ("Deal approval", started by hand on deals) with ``route`` as
    its first version, and returns the id of the demo's "Acme annual supply" deal (the
    route's approvers must exist first)."""
    with runtime.transaction() as session:
        flows = runtime.flows(session, SYSTEM)
        flows.create_flow(
            {
                "key": "deal_ok",
                "label": "Deal approval",
                "entity": "deal",
                "trigger": {"on": "manual"},
            }
        )
        flows.add_version("deal_ok", route=route)
        flows.publish("deal_ok", 1)
        (deal,) = runtime.records(session).list("deal", q="Acme annual").items
        return deal.id
