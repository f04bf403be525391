"""The marshmallow schemas of the API's fixed shapes: requests the routes validate, and the
responses they document. Per-entity record schemas come from the live metamodel
(:mod:`trellis.api.openapi`); the placeholders here stand for them in the generic routes."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from trellis.metamodel.fieldtypes.input_fields import MAX_BIGINT, MAX_INTEGER

#: ids in paths: what a BIGINT holds (larger ones match no route)
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT}
#: ids of the platform's own rows (rules): INTEGER columns
ID32_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER}
#: a record id in a reference (from 1)
ID_POSITIVE = {"type": "integer", "minimum": 1, "maximum": MAX_BIGINT}
#: every text the server stores refuses NUL (PostgreSQL cannot hold it): said in the document
NO_NUL = "^[^\\u0000]*$"


def text(**kwargs) -> ma.fields.String:  # type: ignore[no-untyped-def]
    """A string field whose document says that it refuses NUL characters."""
    metadata = {"pattern": NO_NUL, **kwargs.pop("metadata", {})}
    return ma.fields.String(metadata=metadata, **kwargs)


def open_values(known: list[str], description: str) -> dict[str, str | list[str]]:
    """Metadata of a string whose values the configuration sets at run time (stages,
    pipelines, option keys): the known values as examples, never a closed ``enum``, so a
    client generated today accepts a stage an administrator adds tomorrow."""
    return {
        "description": description,
        "pattern": NO_NUL,
        "x-known-values": known,
        "examples": known[:5],
    }


class JsonInteger(ma.fields.Integer):
    """An integer as JSON (and the document's ``type: integer``) means it: a number with no
    fraction, so ``3.0`` is ``3``; ``3.5``, ``"3"`` and ``true`` are refused (as record
    fields' whole numbers are)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class StrictSchema(ma.Schema):
    """A request body: unknown properties are refused (a 422 naming them)."""

    class Meta:
        unknown = ma.RAISE


# -- problems ----------------------------------------------------------------------------


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; extension members (``report``, ``missing``...) are allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errors = ma.fields.Dict(required=True)
    current = ma.fields.Dict()
    not_listed = ma.fields.Integer(
        metadata={"description": "How many entries were left out (at most 100 per mapping)."}
    )


# -- tokens ------------------------------------------------------------------------------


class TokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(required=True)


# -- the metamodel (responses) -----------------------------------------------------------


class OptionSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    position = ma.fields.Integer()
    color = ma.fields.String()
    active = ma.fields.Boolean()


class OptionListSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    description = ma.fields.String()
    options = ma.fields.List(ma.fields.Nested(OptionSchema))
    used_by = ma.fields.List(ma.fields.String())


class FieldSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    type = ma.fields.String(required=True)
    required = ma.fields.Boolean()
    settings = ma.fields.Dict()
    default = ma.fields.Raw(allow_none=True)
    unique = ma.fields.Boolean()
    indexed = ma.fields.Boolean()
    position = ma.fields.Integer()
    archived = ma.fields.Boolean()
    help_text = ma.fields.String()


class StageSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    kind = ma.fields.String(metadata={"enum": ["open", "success", "failure"]})
    color = ma.fields.String()
    position = ma.fields.Integer()
    next_stages = ma.fields.List(
        ma.fields.String(),
        allow_none=True,
        metadata={"description": "Where a record here may move (null: any stage)"},
    )
    enter_roles = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "Roles that may move records here (empty: anyone who may "
            "update the record)"
        },
    )
    flow_only = ma.fields.Boolean(metadata={"description": "Entered only as the outcome of a flow"})


class PipelineSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    position = ma.fields.Integer()
    stages = ma.fields.List(ma.fields.Nested(StageSchema))


class RuleSchema(ma.Schema):
    id = ma.fields.Integer()
    key = ma.fields.String()
    kind = ma.fields.String(required=True, metadata={"enum": ["required", "validation"]})
    field = ma.fields.String(allow_none=True)
    when = ma.fields.String(allow_none=True)
    from_stage = ma.fields.String(allow_none=True)
    expression = ma.fields.String(allow_none=True)
    message = ma.fields.String(allow_none=True)


class ListIndexSchema(ma.Schema):
    key = ma.fields.String(required=True)
    filters = ma.fields.List(ma.fields.String())
    sort = ma.fields.String(allow_none=True)
    include = ma.fields.List(ma.fields.String())


class EntitySchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    label_plural = ma.fields.String()
    description = ma.fields.String()
    title = ma.fields.String()
    archived = ma.fields.Boolean()
    fields = ma.fields.List(ma.fields.Nested(FieldSchema))
    pipelines = ma.fields.List(ma.fields.Nested(PipelineSchema))
    rules = ma.fields.List(ma.fields.Nested(RuleSchema))
    list_indexes = ma.fields.List(ma.fields.Nested(ListIndexSchema))


def items_of(schema: type[ma.Schema], name: str, **more: ma.fields.Field) -> type[ma.Schema]:
    """``{"items": [schema...]}``, the shape of every list answer, with ``more`` properties
    beside the items (a page's counts, the unread count)."""
    return ma.Schema.from_dict(
        {"items": ma.fields.List(ma.fields.Nested(schema), required=True), **more}, name=name
    )


def page_of(record: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A page of records: the items, their count and how to continue."""
    return items_of(
        record,
        name,
        total=ma.fields.Integer(required=True),
        total_is_lower_bound=ma.fields.Boolean(),
        page=ma.fields.Integer(required=True),
        per_page=ma.fields.Integer(required=True),
        next_cursor=ma.fields.String(allow_none=True),
        next=ma.fields.String(allow_none=True),
    )


EntityListSchema = items_of(EntitySchema, "EntityList")
OptionListListSchema = items_of(OptionListSchema, "OptionListList")
RuleListSchema = items_of(RuleSchema, "RuleList")


class GrantSchema(ma.Schema):
    """What a role may do with an entity type."""

    role = ma.fields.String()
    entity = ma.fields.String()
    create = ma.fields.Boolean()
    read = ma.fields.String(metadata={"enum": ["none", "own", "all"]})
    update = ma.fields.String(metadata={"enum": ["none", "own", "all"]})
    delete = ma.fields.String(metadata={"enum": ["none", "own", "all"]})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(metadata={"enum": ["hidden", "read_only"]}),
    )


class RoleSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    builtin = ma.fields.Boolean()
    permissions = ma.fields.List(ma.fields.Nested(GrantSchema))


RoleListSchema = items_of(RoleSchema, "RoleList")


class ConversionMapSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String()
    source = ma.fields.String(required=True)
    targets = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Dict())


ConversionMapListSchema = items_of(ConversionMapSchema, "ConversionMapList")


class DuplicateRuleSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    entity = ma.fields.String(required=True)
    fields = ma.fields.List(ma.fields.String(), required=True)


DuplicateRuleListSchema = items_of(DuplicateRuleSchema, "DuplicateRuleList")


# -- records (responses that do not depend on the entity type) ---------------------------


def acted_via() -> ma.fields.String:
    """Who acted when no user did (a flow), beside the user who did."""
    return ma.fields.String(
        allow_none=True,
        metadata={"description": "Who acted when no user did: flow:<key> for a flow"},
    )


class HistoryItemSchema(ma.Schema):
    at = ma.fields.DateTime(required=True)
    by = ma.fields.Integer(allow_none=True)
    via = acted_via()
    action = ma.fields.String()
    field = ma.fields.String(required=True)
    old = ma.fields.Raw(allow_none=True)
    new = ma.fields.Raw(allow_none=True)


class StageVisitSchema(ma.Schema):
    pipeline = ma.fields.String(required=True)
    stage = ma.fields.String(required=True)
    entered_at = ma.fields.DateTime(required=True)
    entered_by = ma.fields.Integer(allow_none=True)
    entered_via = acted_via()
    left_at = ma.fields.DateTime(allow_none=True)
    left_by = ma.fields.Integer(allow_none=True)
    seconds = ma.fields.Integer(required=True)


class LinkSchema(ma.Schema):
    kind = ma.fields.String(required=True)
    entity = ma.fields.String(required=True)
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(allow_none=True)
    field = ma.fields.String(allow_none=True)


HistorySchema = items_of(HistoryItemSchema, "History")
StageVisitListSchema = items_of(StageVisitSchema, "StageVisitList")
LinkListSchema = items_of(LinkSchema, "LinkList")


class ImportReportSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    total = ma.fields.Integer()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    failed_rows = ma.fields.Integer()
    dry_run = ma.fields.Boolean()


# -- config packs ------------------------------------------------------------------------


class PackEditSchema(ma.Schema):
    object = ma.fields.String(
        required=True, metadata={"description": "The object edited here: kind:key."}
    )
    paths = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "Its properties changed since the install (none: removed)."},
    )


class PackManifestSchema(ma.Schema):
    """What a pack says of itself (its manifest)."""

    name = ma.fields.String(required=True)
    version = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class InstalledPackSchema(PackManifestSchema):
    """An installed pack: its manifest, and what became of it here."""

    installed_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)
    objects = ma.fields.Integer(
        required=True, metadata={"description": "How many objects the version says."}
    )
    edited = ma.fields.List(
        ma.fields.Nested(PackEditSchema),
        required=True,
        metadata={"description": "Objects of the pack edited here since it was applied."},
    )


InstalledPackListSchema = items_of(InstalledPackSchema, "InstalledPackList")


class PackChangeSchema(ma.Schema):
    path = ma.fields.String(
        required=True,
        metadata={"description": "The property (fields.amount.label; empty: the object)."},
    )
    before = ma.fields.Raw(allow_none=True, metadata={"description": "Now (null: absent)."})
    after = ma.fields.Raw(allow_none=True, metadata={"description": "After (null: absent)."})


class PackConflictSchema(ma.Schema):
    path = ma.fields.String(required=True)
    base = ma.fields.Raw(
        allow_none=True, metadata={"description": "What the installed version said."}
    )
    pack = ma.fields.Raw(allow_none=True, metadata={"description": "What the new pack says."})
    local = ma.fields.Raw(allow_none=True, metadata={"description": "What this installation has."})
    taken = ma.fields.String(
        allow_none=True,
        validate=ma.validate.OneOf(["pack", "local"]),
        metadata={"description": "The decision (take), null while open."},
    )


class PackObjectPlanSchema(ma.Schema):
    kind = ma.fields.String(required=True)
    key = ma.fields.String(required=True)
    name = ma.fields.String(required=True, metadata={"description": "kind:key, for take."})
    action = ma.fields.String(
        required=True, validate=ma.validate.OneOf(["create", "change", "archive", "unchanged"])
    )
    changes = ma.fields.List(ma.fields.Nested(PackChangeSchema), required=True)
    conflicts = ma.fields.List(ma.fields.Nested(PackConflictSchema), required=True)
    kept = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "Properties changed here since the base, which stay."},
    )
    impact = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "What the change does to stored data."},
    )


class PackApplyProblemSchema(ma.Schema):
    object = ma.fields.String(required=True)
    path = ma.fields.String(required=True)
    message = ma.fields.String(required=True)


class PackPlanCountsSchema(ma.Schema):
    create = ma.fields.Integer(required=True)
    change = ma.fields.Integer(required=True)
    archive = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)


class PackPlanSchema(ma.Schema):
    pack = ma.fields.Nested(PackManifestSchema, required=True)
    installed_version = ma.fields.String(
        required=True, allow_none=True, metadata={"description": "Before (null: not installed)."}
    )
    objects = ma.fields.List(
        ma.fields.Nested(PackObjectPlanSchema),
        required=True,
        metadata={"description": "Every object the apply creates, changes or archives."},
    )
    counts = ma.fields.Nested(PackPlanCountsSchema, required=True)
    conflicts = ma.fields.Integer(required=True, metadata={"description": "Conflicts still open."})
    applicable = ma.fields.Boolean(required=True)
    problems = ma.fields.List(
        ma.fields.Nested(PackApplyProblemSchema),
        required=True,
        metadata={"description": "What stops the apply (open conflicts, refused changes)."},
    )
    dry_run = ma.fields.Boolean(required=True)
    applied = ma.fields.Boolean(required=True)


# -- records: placeholders for the per-entity schemas ------------------------------------
# The routes under /api/records/{entity} are declared once; the document gives each entity
# type its own copy of them, with these names replaced by ``<Entity>Record`` and so on.


class RecordSchema(ma.Schema):
    """Stands for ``<Entity>Record``."""

    class Meta:
        unknown = ma.INCLUDE


class RecordCreateSchema(ma.Schema):
    """Stands for ``<Entity>Create``: field values, and the pipeline and stage to start in."""

    class Meta:
        unknown = ma.INCLUDE  # the field values: checked by the record service, per caller

    pipeline = text(allow_none=True)
    stage = text(allow_none=True)


class RecordPatchSchema(ma.Schema):
    """Stands for ``<Entity>Patch``: changed field values and the version read."""

    class Meta:
        unknown = ma.INCLUDE

    # checked with the If-Match header (a missing or malformed version is a 400)
    version = ma.fields.Raw(metadata={"type": "integer"})
    # a stage in the body is a move, with the other values filled in on the way
    stage = text()
    pipeline = text(allow_none=True)


#: stands for ``<Entity>Page``
RecordPageSchema = page_of(RecordSchema, "RecordPage")


class StageMoveSchema(StrictSchema):
    """Stands for ``<Entity>StageMove``."""

    stage = text(required=True)
    pipeline = text(allow_none=True)
    values = ma.fields.Nested(RecordCreateSchema, load_default=dict)
    version = JsonInteger(allow_none=True, validate=ma.validate.Range(max=MAX_INTEGER))


class ConversionSchema(ma.Schema):
    """Stands for ``<Entity>Conversion``."""

    class Meta:
        unknown = ma.INCLUDE

    created = ma.fields.Dict(required=True)
    linked = ma.fields.Dict(required=True)
    missing = ma.fields.Dict(required=True)
    not_carried = ma.fields.Dict(required=True)
    duplicates = ma.fields.Dict(required=True)
    errors = ma.fields.Dict(required=True)
    source = ma.fields.Nested(RecordSchema, required=True)
    dry_run = ma.fields.Boolean()
    records = ma.fields.Dict()
