"""Config packs carry the list indexes of their entity types: applied through the metamodel
service (the planner creates and drops the indexes), read back by the snapshot."""

from __future__ import annotations

from pack_docs import pack, sales_docs  # type: ignore[import-not-found]
from sqlalchemy import inspect

from trellis.packs.apply import apply_pack
from trellis.packs.snapshot import snapshot


def indexes(runtime) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    with runtime.engine.connect() as conn:
        return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("rec_deal")}


def test_a_pack_declares_list_indexes_and_a_snapshot_carries_them(runtime) -> None:  # type: ignore[no-untyped-def]
    docs = sales_docs()
    deal = next(doc for kind, doc in docs if kind == "entity" and doc["key"] == "deal")
    deal["list_indexes"] = [{"key": "by_size", "filters": ["size"], "sort": "amount"}]
    assert apply_pack(runtime, pack("1.0", *docs)).applied
    assert indexes(runtime)["lx_rec_deal_by_size"] == ["size", "amount", "id"]
    with runtime.transaction() as session:
        live = snapshot(session)["entity"]["deal"]["list_indexes"]
    assert live == [{"key": "by_size", "filters": ["size"], "sort": "amount", "include": []}]
    again = apply_pack(runtime, pack("1.0", *docs))  # the same pack again: nothing to do
    assert not [o for o in again.plan.objects if o.action != "unchanged"]
    deal["list_indexes"] = []
    assert apply_pack(runtime, pack("1.1", *docs)).applied
    assert "lx_rec_deal_by_size" not in indexes(runtime)
