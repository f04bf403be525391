"""Applying packs through the services (trellis.packs.apply): a first install gives the live
configuration the pack describes, a broken pack changes nothing and lists every problem, an
upgrade merges three ways, and a dry run writes nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pack_docs import pack, sales_docs  # type: ignore[import-not-found]
from sqlalchemy import select

from trellis.packs.apply import PackRefused, apply_pack
from trellis.packs.models import InstalledPack, PackObject
from trellis.packs.snapshot import snapshot


def live(runtime) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return snapshot(session)


def test_a_first_install_makes_the_live_configuration_what_the_pack_says(runtime) -> None:  # type: ignore[no-untyped-def]
    content = pack("1.0", *sales_docs())
    lines: list[str] = []
    outcome = apply_pack(runtime, content, progress=lines.append)
    assert outcome.applied
    now = live(runtime)
    for kind, objects in content.objects.items():
        for key, doc in objects.items():
            assert now[kind][key] == doc, (kind, key)
    assert any("create entity:deal" in line for line in lines)
    with runtime.transaction() as session:
        installed = session.scalar(select(InstalledPack))
        assert (installed.name, installed.version) == ("sales", "1.0")
        assert installed.base == content.objects
        owned = {(o.kind, o.key) for o in session.scalars(select(PackObject))}
    assert ("entity", "deal") in owned and ("rule", "deal.positive") in owned
    # applying the same version again changes nothing
    again = apply_pack(runtime, content)
    assert not [o for o in again.plan.objects if o.action != "unchanged"]


def test_a_broken_pack_is_refused_with_every_problem_and_nothing_changes(runtime) -> None:  # type: ignore[no-untyped-def]
    docs = sales_docs()
    broken = copy.deepcopy(docs)
    broken[2][1]["fields"].append(
        {"key": "colour", "label": "Colour", "type": "list", "settings": {"list": "nope"}}
    )
    broken[5][1]["expression"] = "amount >"
    broken.append(("duplicate", {"entity": "deal", "fields": ["ghost"]}))
    before = live(runtime)
    with pytest.raises(PackRefused) as refused:
        apply_pack(runtime, pack("1.0", *broken))
    found = {(p.object, p.path) for p in refused.value.problems}
    assert found == {
        ("entity:deal", "fields.colour.settings"),
        ("rule:deal.positive", "expression"),
        ("duplicate:deal.ghost", "fields"),
    }, refused.value.problems
    assert live(runtime) == before
    with runtime.transaction() as session:
        assert session.scalar(select(InstalledPack)) is None


def test_a_dry_run_writes_nothing(runtime) -> None:  # type: ignore[no-untyped-def]
    before = live(runtime)
    outcome = apply_pack(runtime, pack("1.0", *sales_docs()), dry_run=True)
    assert not outcome.applied
    assert {o.action for o in outcome.plan.objects} == {"create"}
    assert live(runtime) == before


def _upgrade_setup(runtime):  # type: ignore[no-untyped-def]
    apply_pack(runtime, pack("1.0", *sales_docs()))
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.update_field("deal", "subject", label="Topic")  # a local label edit
        rule = next(r for r in meta.entity_row("deal").rules if r.key == "positive")
        meta.update_rule("deal", rule.id, expression="amount is None or amount > 100")
    docs = sales_docs()
    docs[2][1]["fields"].append({"key": "closes", "label": "Closes", "type": "date"})
    docs[5][1]["expression"] = "amount is None or amount >= 0"
    return pack("2.0", *docs)


def test_an_upgrade_keeps_local_edits_adds_new_fields_and_stops_at_conflicts(runtime) -> None:  # type: ignore[no-untyped-def]
    upgrade = _upgrade_setup(runtime)
    before = live(runtime)
    with pytest.raises(PackRefused) as refused:
        apply_pack(runtime, upgrade)
    [problem] = refused.value.problems
    assert (problem.object, problem.path) == ("rule:deal.positive", "expression")
    assert "--take rule:deal.positive=pack|local" in problem.message
    assert live(runtime) == before

    outcome = apply_pack(runtime, upgrade, take={"rule:deal.positive": "local"})
    assert outcome.applied
    now = live(runtime)
    fields = {f["key"]: f for f in now["entity"]["deal"]["fields"]}
    assert fields["subject"]["label"] == "Topic"  # kept
    assert fields["closes"]["type"] == "date"  # the pack's new field
    assert now["rule"]["deal.positive"]["expression"] == "amount is None or amount > 100"
    with runtime.transaction() as session:
        installed = session.scalar(select(InstalledPack))
        assert installed.version == "2.0"
        assert installed.base == upgrade.objects


def test_take_pack_applies_the_packs_side_of_a_conflict(runtime) -> None:  # type: ignore[no-untyped-def]
    upgrade = _upgrade_setup(runtime)
    apply_pack(runtime, upgrade, take={"deal.positive": "pack"})
    now = live(runtime)
    assert now["rule"]["deal.positive"]["expression"] == "amount is None or amount >= 0"
    assert {f["key"]: f for f in now["entity"]["deal"]["fields"]}["subject"]["label"] == "Topic"


def test_what_a_new_version_drops_is_archived_not_deleted(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    apply_pack(runtime, pack("1.0", *sales_docs()))
    factory.record("company", name="Acme")
    docs = [d for d in sales_docs() if d[0] not in ("duplicate", "conversion")]
    docs = [d for d in docs if not (d[0] == "entity" and d[1]["key"] == "company")]
    deal = next(d for d in docs if d[0] == "entity")[1]
    deal["fields"] = [f for f in deal["fields"] if f["key"] != "company"]
    outcome = apply_pack(runtime, pack("2.0", *docs))
    assert outcome.plan.get("entity", "company").action == "archive"
    assert outcome.plan.get("conversion", "deal_to_company").action == "archive"
    assert "entity:company" in outcome.impact
    now = live(runtime)
    assert "company" not in now["entity"]
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        assert meta.entity_row("company", archived=True).archived
        assert runtime.metamodel(session).entity_row("deal").fields  # still there
        row = session.scalar(
            select(PackObject).where(PackObject.kind == "entity", PackObject.key == "company")
        )
        assert row.archived


def test_older_versions_are_refused(runtime) -> None:  # type: ignore[no-untyped-def]
    apply_pack(runtime, pack("2.0", *sales_docs()))
    with pytest.raises(PackRefused) as refused:
        apply_pack(runtime, pack("1.5", *sales_docs()))
    assert "older" in refused.value.problems[0].message


def test_the_plan_counts_what_changes_do_to_stored_records(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    from trellis.packs.apply import plan_for
    from trellis.packs.impact import impact_of

    apply_pack(runtime, pack("1.0", *sales_docs()))
    factory.record("deal", subject="Big deal")
    factory.record("deal", subject="ann@example.com")
    factory.record("deal", subject="Small deal")
    docs = sales_docs()
    fields = docs[2][1]["fields"]
    fields[0]["type"] = "email"  # two of the stored subjects are no e-mail addresses
    fields[1]["required"] = True  # no record has an amount
    fields.append({"key": "closes", "label": "Closes", "type": "date", "required": True})
    upgrade = pack("2.0", *docs)
    with runtime.transaction() as session:
        plan, _installed = plan_for(session, upgrade)
        impact = impact_of(runtime, session, plan)["entity:deal"]
    text = " | ".join(impact)
    assert "2 records" in text and "Big deal" in text, text
    assert "amount: 3 existing deal records lack it" in text
    assert "closes: 3 existing deal records lack it" in text
    before = live(runtime)
    with pytest.raises(PackRefused) as refused:
        apply_pack(runtime, upgrade)
    assert [(p.object, p.path) for p in refused.value.problems] == [("entity:deal", "type")]
    assert live(runtime) == before


def test_a_pack_brings_back_an_entity_type_archived_here_with_its_records(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    apply_pack(runtime, pack("1.0", *sales_docs()))
    factory.record("company", name="Acme")
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        meta.update_entity("company", label="Firm")
    with runtime.transaction() as session:
        from trellis.conversion import duplicates
        from trellis.conversion.maps import ConversionMaps

        ConversionMaps(session, runtime.cache, runtime_actor()).delete("deal_to_company")
        rule = duplicates.rules_of(session, "company")[0]
        duplicates.delete_rule(session, runtime_actor(), "company", rule.id)
        meta = runtime.metamodel(session)
        meta.archive_field("deal", "company")
        meta.archive_entity("company")
    outcome = apply_pack(runtime, pack("1.0", *sales_docs(), name="again"))
    assert outcome.plan.get("entity", "company").action == "create"
    now = live(runtime)
    assert now["entity"]["company"]["label"] == "Company"
    with runtime.transaction() as session:
        assert runtime.records(session).get("company", 1).values["name"] == "Acme"


def runtime_actor():  # type: ignore[no-untyped-def]
    from trellis.accounts import SYSTEM

    return SYSTEM


def test_add_fields_adds_many_in_one_pass_or_reports_every_problem(runtime, factory) -> None:  # type: ignore[no-untyped-def]
    from trellis.errors import ValidationFailed

    factory.entity("thing", {"name": "text"})
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        with pytest.raises(ValidationFailed) as refused:
            meta.add_fields(
                "thing",
                [
                    {"key": "ok", "label": "Ok", "type": "text"},
                    {"key": "bad", "label": "", "type": "integer"},
                    {"key": "name", "label": "Name", "type": "text"},
                    {"key": "size", "label": "Size", "type": "list", "settings": {"list": "no"}},
                    {"key": "odd", "label": "Odd", "type": "text", "colour": "red"},
                ],
            )
        assert set(refused.value.errors) == {"bad.label", "name", "size.settings", "odd"}
        with pytest.raises(TypeError):  # as an unknown keyword argument is
            meta.add_field("thing", "odd", "Odd", "text", colour="red")  # type: ignore[call-arg]
    with runtime.transaction() as session:
        meta = runtime.metamodel(session)
        added = meta.add_fields(
            "thing",
            [
                {"key": "a", "label": "A", "type": "integer", "required": True},
                {"key": "b", "label": "B", "type": "money"},
            ],
        )
        assert [f.key for f in added] == ["a", "b"]
    factory.record("thing", name="x", a=1, b={"amount": "2.50", "currency": "EUR"})
    with runtime.transaction() as session:
        keys = [f.key for f in runtime.metamodel(session).entity_row("thing").fields]
    assert keys == ["name", "a", "b"]


def test_an_upgrade_publishes_a_flows_new_version_and_counts_records_in_a_dropped_stage(
    runtime, factory
) -> None:  # type: ignore[no-untyped-def]
    from trellis.packs.apply import plan_for
    from trellis.packs.impact import impact_of

    apply_pack(runtime, pack("1.0", *sales_docs()))
    factory.record("deal", subject="Waiting")  # in the first stage, "new"
    docs = sales_docs()
    flow = next(d for d in docs if d[0] == "flow")[1]
    second = copy.deepcopy(flow["versions"][0])
    second["route"]["steps"][0]["label"] = "The boss"
    second["route"]["on_rejected"] = {"stage": "won"}
    flow["versions"].append(second)
    pipeline = next(d for d in docs if d[0] == "pipeline")[1]
    pipeline["stages"] = [s for s in pipeline["stages"] if s["key"] != "new"]
    upgrade = pack("2.0", *docs)
    with runtime.transaction() as session:
        plan, _installed = plan_for(session, upgrade)
        impact = impact_of(runtime, session, plan)
    assert impact["pipeline:deal.main"] == ["1 records are in stage new, which the pack removes"]
    before = live(runtime)
    with pytest.raises(PackRefused) as refused:  # the record in "new" has nowhere to go
        apply_pack(runtime, upgrade)
    assert "pipeline:deal.main" in {p.object for p in refused.value.problems}
    assert live(runtime) == before

    pipeline["stages"] = copy.deepcopy(sales_docs()[4][1]["stages"])  # the flow alone changes
    apply_pack(runtime, pack("2.0", *docs))
    versions = live(runtime)["flow"]["deal_approval"]["versions"]
    assert [v["route"]["steps"][0]["label"] for v in versions] == ["Boss", "The boss"]


def test_labels_and_messages_written_with_spaces_plan_nothing_once_applied(runtime) -> None:  # type: ignore[no-untyped-def]
    """The services store labels and rule messages stripped; a hand-written pack with spaces
    around them reads the same, so it does not show a change on every plan."""
    from trellis.packs.apply import plan_for
    from trellis.packs.plan import edited_locally

    docs = copy.deepcopy(sales_docs())
    for kind, doc in docs:
        for key in ("label", "label_plural", "message"):
            if isinstance(doc.get(key), str):
                doc[key] = f"  {doc[key]} "
        nested = {"list": "options", "entity": "fields", "pipeline": "stages"}.get(kind)
        for item in doc.get(nested, []) if nested else []:
            item["label"] = f" {item['label']}  "
    content = pack("1.0", *docs)
    assert content.objects["entity"]["deal"]["fields"][0]["label"] == "Subject"
    assert content.objects["rule"]["deal.positive"]["message"] == "The amount must be positive."
    apply_pack(runtime, content)
    with runtime.transaction() as session:
        plan, installed = plan_for(session, pack("1.1", *docs))
        edited = edited_locally(installed.base, snapshot(session))
    changed = [(o.name, o.changes, o.kept) for o in plan.objects if o.changes or o.kept]
    assert changed == [] and edited == {}
    # over the same objects not installed from a pack (no base), nothing to change either
    with runtime.transaction() as session:
        plan, _none = plan_for(session, pack("1.0", *docs, name="other"))
    assert [(o.name, o.changes) for o in plan.objects if o.changes] == []
