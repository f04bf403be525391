"""The steps of applying a pack (:mod:`trellis.packs.apply`): each object's change through
the service that owns it (the metamodel service, conversion maps, duplicate rules, roles and
grants, flows, automations), in a savepoint of its own; a step that fails is noted as a
:class:`Problem` and the object's later steps are skipped, so the report lists every problem
at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from trellis.accounts import Actor
from trellis.errors import TrellisError, ValidationFailed
from trellis.packs.content import KINDS
from trellis.packs.plan import MISSING, ObjectPlan, Plan

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Problem:
    """Something that stops the apply: the object (``kind:key``), where in it, and why."""

    object: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.object} {self.path}".strip() if self.path else self.object
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, str]:
        return {"object": self.object, "path": self.path, "message": self.message}


def split_key(key: str) -> tuple[str, str]:
    """``<entity>.<key>`` -> (entity, key)."""
    entity, _, rest = key.partition(".")
    return entity, rest


class Steps:
    def __init__(self, runtime: Any, session: Session, actor: Actor, say: Progress) -> None:
        self.runtime = runtime
        self.session = session
        self.actor = actor
        self.say = say
        self.meta = runtime.metamodel(session, actor)
        self.problems: list[Problem] = []
        #: objects whose earlier step failed: their later steps are skipped
        self.failed: set[str] = set()
        #: archived entity types the pack brought back
        self.restored: set[str] = set()

    def step(self, obj: ObjectPlan, action: Callable[[ObjectPlan], None]) -> None:
        """One object's step in a savepoint; its failure is noted, not raised (and the
        object's later steps are skipped)."""
        if obj.name in self.failed:
            return
        blocked = [f"entity:{e}" for e in _entities_of(obj) if f"entity:{e}" in self.failed]
        if blocked:  # its entity type's problems are listed; this one would only echo them
            self.failed.add(obj.name)
            self.problems.append(Problem(obj.name, "", f"not applied: {blocked[0]} failed"))
            return
        savepoint = self.session.begin_nested()
        try:
            action(obj)
            self.session.flush()
        except TrellisError as exc:
            savepoint.rollback()
            self.failed.add(obj.name)
            self.problems += _problems_of(obj.name, exc)
        except SQLAlchemyError as exc:  # a database refusal: still this object's problem
            if savepoint.is_active:
                savepoint.rollback()
            self.failed.add(obj.name)
            self.problems.append(Problem(obj.name, "", f"{type(exc).__name__}: {exc}"))
        else:
            savepoint.commit()

    def run(self, plan: Plan) -> None:
        """Every step in order (see the module's docstring), saying each as it is done."""
        todo = [o for o in plan.objects if o.action in ("create", "change")]
        of = {kind: [o for o in todo if o.kind == kind] for kind in KINDS}
        steps: list[tuple[ObjectPlan, Callable[[ObjectPlan], None], str]] = []
        steps += [(o, self.list, "") for o in of["list"]]
        steps += [(o, self.new_entity, "") for o in of["entity"] if o.action == "create"]
        steps += [(o, self.role, "") for o in of["role"]]
        steps += [(o, self.fields, "fields") for o in of["entity"]]
        steps += [(o, self.entity_properties, "title and cards") for o in of["entity"]]
        for kind in ("pipeline", "rule", "duplicate", "conversion"):
            steps += [(o, getattr(self, kind), "") for o in of[kind]]
        steps += [(o, self.grants, "grants") for o in of["role"]]
        for kind in ("flow", "automation"):
            steps += [(o, getattr(self, kind), "") for o in of[kind]]
        for kind in reversed(KINDS):
            steps += [
                (o, getattr(self, f"archive_{kind}"), "")
                for o in plan.by_action("archive")
                if o.kind == kind
            ]
        for number, (obj, action, part) in enumerate(steps, start=1):
            self.step(obj, action)
            what = f" ({part})" if part else ""
            self.say(f"[{number}/{len(steps)}] {obj.action} {obj.name}{what}")

    # -- option lists ------------------------------------------------------------------

    def list(self, obj: ObjectPlan) -> None:
        doc, live = obj.document or {}, obj.live
        options = doc.get("options") or []
        if live is None:
            self.meta.create_list(
                obj.key,
                doc["label"],
                [{k: v for k, v in o.items() if k != "position"} for o in options],
                doc.get("description") or "",
            )
            return
        changes = {k: doc.get(k) for k in ("label", "description") if doc.get(k) != live.get(k)}
        if changes:
            self.meta.update_list(obj.key, **changes)
        before = {o["key"]: o for o in live.get("options") or []}
        after = {o["key"] for o in options}
        for position, option in enumerate(options):
            old = before.get(option["key"])
            if old is None:
                self.meta.add_option(
                    obj.key, option["key"], option["label"], option.get("color") or "", position
                )
                if option.get("active") is False:
                    self.meta.update_option(obj.key, option["key"], active=False)
                continue
            changed = {
                k: option.get(k)
                for k in ("label", "color", "active")
                if k in option and option.get(k) != old.get(k)
            }
            if changed:
                self.meta.update_option(obj.key, option["key"], **changed)
        for key, old in before.items():  # what the pack dropped is retired, never deleted
            if key not in after and old.get("active", True):
                self.meta.update_option(obj.key, key, active=False)
        order = [o["key"] for o in options] + [k for k in before if k not in after]
        if order != list(before) + [k for k in order if k not in before]:
            for position, key in enumerate(order):
                self.meta.update_option(obj.key, key, position=position)

    def archive_list(self, obj: ObjectPlan) -> None:
        for option in (obj.live or {}).get("options") or []:
            if option.get("active", True):
                self.meta.update_option(obj.key, option["key"], active=False)

    # -- entity types ------------------------------------------------------------------

    def new_entity(self, obj: ObjectPlan) -> None:
        """A new entity type; one archived here comes back (with its records) instead."""
        from trellis.metamodel.models import EntityType

        doc = obj.document or {}
        archived = self.session.scalar(
            select(EntityType).where(EntityType.key == obj.key, EntityType.archived.is_(True))
        )
        if archived is not None:
            self.meta.restore_entity(obj.key)
            self.restored.add(obj.key)
            return
        self.meta.create_entity(
            obj.key,
            doc.get("label", obj.key),
            doc.get("label_plural"),
            doc.get("description") or "",
        )

    def fields(self, obj: ObjectPlan) -> None:
        doc = obj.document or {}
        live = obj.live or {}
        entity = obj.key
        fields = doc.get("fields") or []
        before = {f["key"]: f for f in live.get("fields") or []}
        wanted = {f["key"] for f in fields}
        row = self.meta.entity_row(entity)
        archived = {f.key for f in row.fields if f.archived}
        existing = {f.key: f for f in row.fields if not f.archived}
        new: list[dict[str, Any]] = []  # added at once: one table change, one report
        for item in fields:
            old = before.get(item["key"])
            if old is None and item["key"] in existing:  # a restored entity type's field
                old = _field_doc(existing[item["key"]])
            options = {
                k: v for k, v in item.items() if k not in ("key", "label", "type", "position")
            }
            if old is None and item["key"] in archived:  # the pack brings it back
                self.meta.restore_field(entity, item["key"])
                old = _field_doc(self.meta.field_row(row, item["key"]))
            if old is None:
                new.append({"key": item["key"], "label": item["label"], "type": item["type"]})
                new[-1].update(options)
                continue
            changed = {
                k: v
                for k, v in item.items()
                if k not in ("key", "position") and old.get(k, MISSING) != v
            }
            if changed:
                self.meta.update_field(entity, item["key"], **changed)
        if new:
            try:
                self.meta.add_fields(entity, new)
            except ValidationFailed as exc:
                # every field's problems are listed; the others are added all the same, so
                # what names them later reports its own problems, not echoes of these
                self.problems += [
                    Problem(obj.name, f"fields.{p.path}", p.message)
                    for p in _problems_of(obj.name, exc)
                ]
                bad = {str(path).split(".")[0] for path in exc.errors}
                good = [f for f in new if f["key"] not in bad]
                if good:
                    self.meta.add_fields(entity, good)
        for key in before:
            if key not in wanted:
                self.meta.archive_field(entity, key)
        now = [f.key for f in sorted(row.fields, key=lambda f: f.position) if not f.archived]
        order = [f["key"] for f in fields if f["key"] in now]
        if [k for k in now if k in wanted] != order:
            self.meta.reorder_fields(entity, order)

    def entity_properties(self, obj: ObjectPlan) -> None:
        doc, live = obj.document or {}, obj.live or {}
        names = {"label": "label", "label_plural": "label_plural", "description": "description"}
        names.update({"title": "title_template", "card": "card_fields"})
        names.update({"title_template": "title_template", "card_fields": "card_fields"})
        names["list_indexes"] = "list_indexes"
        changes: dict[str, Any] = {}
        for name, column in names.items():
            if name not in doc:
                continue
            fresh = obj.action == "create" and obj.key not in self.restored
            if fresh and name in ("label", "label_plural", "description"):
                continue
            if doc[name] != live.get(name, MISSING):
                changes[column] = doc[name]
        if changes:
            self.meta.update_entity(obj.key, **changes)
        if doc.get("archived") is False and live.get("archived") is True:
            self.meta.restore_entity(obj.key)

    def archive_entity(self, obj: ObjectPlan) -> None:
        self.meta.archive_entity(obj.key)

    # -- pipelines and rules -----------------------------------------------------------

    def pipeline(self, obj: ObjectPlan) -> None:
        entity, key = split_key(obj.key)
        doc = obj.document or {}
        stages = [_stage_body(s) for s in doc.get("stages") or []]
        if obj.live is None:
            self.meta.create_pipeline(entity, doc.get("key", key), doc["label"], stages)
            return
        changes: dict[str, Any] = {}
        for name in ("label", "position"):
            if name in doc and doc[name] != obj.live.get(name):
                changes[name] = doc[name]
        if doc.get("stages") != obj.live.get("stages"):
            changes["stages"] = stages
        if changes:
            self.meta.update_pipeline(entity, key, **changes)

    def archive_pipeline(self, obj: ObjectPlan) -> None:
        entity, key = split_key(obj.key)
        if self.meta.records_in_stage(entity, key, None) == 0:
            self.meta.delete_pipeline(entity, key)
        # with records it stays: its records keep their stages

    def rule(self, obj: ObjectPlan) -> None:
        entity, key = split_key(obj.key)
        doc = {
            k: v for k, v in (obj.document or {}).items() if k not in ("entity", "key", "active")
        }
        existing = self._rule_row(entity, key)
        if existing is None:
            options = {k: v for k, v in doc.items() if k != "kind" and v is not None}
            self.meta.add_rule(entity, doc["kind"], key=key, **options)
            return
        changes = {k: v for k, v in doc.items() if (obj.live or {}).get(k, MISSING) != v}
        if changes:
            self.meta.update_rule(entity, existing.id, **changes)

    def archive_rule(self, obj: ObjectPlan) -> None:
        entity, key = split_key(obj.key)
        existing = self._rule_row(entity, key)
        if existing is not None:
            self.meta.delete_rule(entity, existing.id)

    def _rule_row(self, entity: str, key: str) -> Any:
        row = self.meta.entity_row(entity)
        return next((r for r in row.rules if getattr(r, "key", None) == key), None)

    # -- duplicates and conversion -----------------------------------------------------

    def duplicate(self, obj: ObjectPlan) -> None:
        from trellis.conversion import duplicates

        entity, _key = split_key(obj.key)
        doc = obj.document or {}
        self._drop_duplicate(obj)
        duplicates.add_rule(
            self.session, self.actor, self.runtime.model(self.session), entity, doc["fields"]
        )

    def _drop_duplicate(self, obj: ObjectPlan) -> None:
        from trellis.conversion import duplicates

        if obj.live is None:
            return
        entity, _key = split_key(obj.key)
        for rule in duplicates.rules_of(self.session, entity):
            if list(rule.fields) == list(obj.live.get("fields") or []):
                duplicates.delete_rule(self.session, self.actor, entity, rule.id)

    def archive_duplicate(self, obj: ObjectPlan) -> None:
        self._drop_duplicate(obj)

    def conversion(self, obj: ObjectPlan) -> None:
        from trellis.conversion.maps import ConversionMaps

        doc = obj.document or {}
        maps = ConversionMaps(self.session, self.runtime.cache, self.actor)
        maps.save(
            obj.key,
            doc["source"],
            doc.get("targets") or {},
            doc.get("label") or "",
            create=obj.live is None,
        )

    def archive_conversion(self, obj: ObjectPlan) -> None:
        from trellis.conversion.maps import ConversionMaps

        ConversionMaps(self.session, self.runtime.cache, self.actor).delete(obj.key)

    # -- roles -------------------------------------------------------------------------

    def role(self, obj: ObjectPlan) -> None:
        from trellis.access.grants import create_role, role_row

        doc = obj.document or {}
        if obj.live is None:
            create_role(self.session, self.actor, obj.key, doc.get("label") or obj.key)
        elif doc.get("label") != obj.live.get("label"):
            _require_label(doc.get("label"))
            role_row(self.session, obj.key).label = doc["label"].strip()

    def grants(self, obj: ObjectPlan) -> None:
        from trellis.access.grants import set_grant

        doc, live = obj.document or {}, obj.live or {}
        grants = doc.get("grants") or {}
        before = live.get("grants") or {}
        model = self.runtime.model(self.session)
        for entity, grant in grants.items():
            if before.get(entity) != grant:
                set_grant(self.session, self.actor, model, obj.key, entity, dict(grant))
        for entity in before:
            if entity not in grants and entity in model.entities:
                set_grant(self.session, self.actor, model, obj.key, entity, {})

    def archive_role(self, obj: ObjectPlan) -> None:
        from trellis.access.grants import set_grant

        model = self.runtime.model(self.session)
        for entity in (obj.live or {}).get("grants") or {}:
            if entity in model.entities:
                set_grant(self.session, self.actor, model, obj.key, entity, {})

    # -- flows and automations -----------------------------------------------------------

    def flow(self, obj: ObjectPlan) -> None:
        flows = self.runtime.flows(self.session, self.actor)
        doc = obj.document or {}
        head = {k: doc[k] for k in ("key", "label", "entity", "trigger") if k in doc}
        if isinstance(head.get("trigger"), Mapping):
            head["trigger"] = _set_only(head["trigger"])
        head.setdefault("key", obj.key)
        live = obj.live or {}
        if obj.live is None:
            flows.create_flow(head)
        else:
            changed = {
                k: v for k, v in head.items() if k in ("label", "trigger") and live.get(k) != v
            }
            if changed:
                flows.update_flow(obj.key, changed)
        versions = doc.get("versions") or []
        had = live.get("versions") or []
        start = len(had) if versions[: len(had)] == had else 0
        for content in versions[start:]:
            version = flows.add_version(obj.key, **_version_source(content))
            # the installation's users get their roles after a pack is installed: who may not
            # read yet sees "(a record you may not read)" on their task, never a field
            flows.publish(obj.key, version.number, check_readers=False)

    def archive_flow(self, obj: ObjectPlan) -> None:
        self.runtime.flows(self.session, self.actor).update_flow(
            obj.key, {"trigger": {"on": "manual"}}
        )

    def automation(self, obj: ObjectPlan) -> None:
        from trellis.flows.automations import save_automation

        doc = {k: v for k, v in (obj.document or {}).items() if k != "key"}
        if isinstance(doc.get("trigger"), Mapping):
            doc["trigger"] = _set_only(doc["trigger"])
        save_automation(
            self.session,
            self.runtime.model(self.session),
            obj.key,
            doc,
            create=obj.live is None,
        )

    def archive_automation(self, obj: ObjectPlan) -> None:
        from trellis.flows.automations import save_automation

        doc = {k: v for k, v in (obj.live or {}).items() if k != "key"}
        if isinstance(doc.get("trigger"), Mapping):
            doc["trigger"] = _set_only(doc["trigger"])
        doc["active"] = False
        save_automation(self.session, self.runtime.model(self.session), obj.key, doc, create=False)


def _entities_of(obj: ObjectPlan) -> list[str]:
    """The entity types an object belongs to or names (its steps need them)."""
    doc = obj.document or obj.live or {}
    if obj.kind in ("pipeline", "rule", "duplicate"):
        return [split_key(obj.key)[0]]
    if obj.kind in ("flow", "automation"):
        return [doc["entity"]] if isinstance(doc.get("entity"), str) else []
    if obj.kind == "conversion":
        targets = doc.get("targets") if isinstance(doc.get("targets"), dict) else {}
        return [e for e in [doc.get("source"), *targets] if isinstance(e, str)]
    if obj.kind == "role":
        grants = doc.get("grants") if isinstance(doc.get("grants"), dict) else {}
        return [e for e in grants if isinstance(e, str)]
    return []


def _set_only(trigger: Mapping[str, Any]) -> dict[str, Any]:
    """A trigger without its unset parts (the services take only what applies)."""
    return {k: v for k, v in trigger.items() if v is not None}


def _require_label(label: Any) -> None:
    from trellis.metamodel.changes import label_errors

    problems = label_errors(label)
    if problems:
        raise ValidationFailed({"label": problems})


def _stage_body(stage: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stage.items() if k != "position"}


def _version_source(content: Any) -> dict[str, Any]:
    """A flow version's content as the flows service takes it: a route or BPMN."""
    if isinstance(content, Mapping) and ("route" in content or "bpmn" in content):
        return {k: content[k] for k in ("route", "bpmn") if k in content}
    if isinstance(content, str):
        return {"bpmn": content}
    return {"route": content}


def _field_doc(field: Any) -> dict[str, Any]:
    return {
        "key": field.key,
        "label": field.label,
        "type": field.type,
        "required": field.required,
        "settings": dict(field.settings or {}),
        "default": field.default,
        "unique": field.unique,
        "indexed": field.indexed,
        "help_text": field.help_text,
    }


def _problems_of(name: str, exc: TrellisError) -> list[Problem]:
    errors = getattr(exc, "errors", None)
    if errors:
        out = []
        for path, messages in errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                out.append(Problem(name, str(path), str(message)))
        return out
    return [Problem(name, "", exc.detail)]
