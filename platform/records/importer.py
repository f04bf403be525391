"""CSV import: rows become records through the record service, all or nothing.

Columns are matched to fields by key or label (as the CSV export writes them); cells are read
the way the export writes them (option labels or keys, ``12.50 EUR``, ``Yes``/``No``, ``#12``
or a title for a reference). Every row is checked and **every** problem is reported by row
and field; only when all rows are valid is anything kept. New records are checked and written
a batch at a time (``RecordService.create_many``), with the same outcome as row by row.
Columns the platform computes (``id``, ``title``) are named as ignored; a column matching no
field is an error, never silently dropped. Long imports report progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from trellis.access.probes import TooManyProbes
from trellis.collector import collector_paused
from trellis.db import refresh_statistics
from trellis.errors import PermissionDenied, TrellisError, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity
from trellis.records.import_cells import CellReader, read_csv, texts_of
from trellis.records.query import Filter
from trellis.records.service import NewRecord, RecordService, RowsInvalid

#: columns the export writes that the platform computes itself
COMPUTED = ("id", "title")
PLACEMENT = ("pipeline", "stage")
#: at most this many rows' problems are listed (the count is always exact)
MAX_REPORTED_ROWS = 200
#: rows checked and written together (one INSERT or COPY per table for the records of a
#: batch). Measured in one process, the sizes taking turns file by file (1,000-row files,
#: the benchmark's item type), with the start-up's objects frozen (serving.settle_start_up):
#: 100 rows took 124 ms per 1,000 on PostgreSQL (round trips per batch), 500 and 1,000 took
#: 98; on SQLite 72, 69 and 69. (Before the start-up was frozen and values were loaded a
#: column at once, the collector walking a batch's objects made 500 rows 15% slower.)
BATCH = 500
#: progress is reported after every this many rows
PROGRESS_EVERY = 500

Progress = Callable[[int, int], None]

#: an import that creates this many records refreshes the table's planner statistics
ANALYZE_AFTER = 5_000


@dataclass
class ImportReport:
    """What an import did (or, in a dry run or on errors, would do)."""

    total: int = 0
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # CSV header -> field key
    errors: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # "row N" -> field
    failed_rows: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_json(self) -> dict[str, Any]:
        kept = self.ok and not self.dry_run  # otherwise every row was rolled back
        return {
            "total": self.total,
            "created": len(self.created) if kept else 0,
            "updated": len(self.updated) if kept else 0,
            "valid": self.total - self.failed_rows,
            "failed_rows": self.failed_rows,
            "ids": self.created if kept else [],
            "updated_ids": self.updated if kept else [],
            "columns": self.columns,
            "ignored_columns": self.ignored_columns,
            "errors": self.errors,
            "dry_run": self.dry_run,
        }


def match_columns(
    entity: CompiledEntity, header: list[str], writable: set[str]
) -> tuple[dict[int, str], list[str], dict[str, list[str]]]:
    """Column index -> field key (or ``pipeline``/``stage``), the ignored columns, and the
    problems with the header (unknown, duplicate or read-only columns)."""
    by_name: dict[str, str] = {}
    for f in entity.fields.values():
        by_name.setdefault(f.key.lower(), f.key)
        by_name.setdefault(f.label.strip().lower(), f.key)
    if entity.has_pipelines:
        by_name.update({p: p for p in PLACEMENT})
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    errors: dict[str, list[str]] = {}
    for index, name in enumerate(header):
        if name.lower() in COMPUTED:
            ignored.append(name)
            continue
        key = by_name.get(name.lower())
        if key is None or (key not in PLACEMENT and key not in writable):
            known = ", ".join(
                sorted(writable | (set(PLACEMENT) if entity.has_pipelines else set()))
            )
            errors.setdefault(name or f"column {index + 1}", []).append(
                f"No field you may write is called {name!r} (use: {known})."
            )
        elif key in mapping.values():
            errors.setdefault(name, []).append(f"A second column for {key!r}.")
        else:
            mapping[index] = key
    return mapping, ignored, errors


def import_csv(
    service: RecordService,
    entity: str,
    content: str | bytes,
    *,
    dry_run: bool = False,
    match: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Create a record per CSV row, all or nothing, inside the service's transaction. With
    ``match`` (a unique field), a row whose value of that field is found updates that record
    instead: only the columns of the file, and empty cells leave a value as it is.

    Every row is checked (within a savepoint that is rolled back unless all rows are valid
    and this is not a dry run); the report lists every problem by row and field."""
    with collector_paused():  # (bulk work: see trellis.collector)
        return _import(service, entity, content, dry_run, match, progress)


def _import(
    service: RecordService,
    entity: str,
    content: str | bytes,
    dry_run: bool,
    match: str | None,
    progress: Progress | None,
) -> ImportReport:
    ent = service.model.entity(entity)
    allowed = service.access.can("create", ent.key) or (
        match is not None and service.access.can("update", ent.key)
    )
    if not allowed:
        raise PermissionDenied(f"You may not create {ent.label_plural}.")
    header, rows = read_csv(content)
    mapping, ignored, header_errors = match_columns(ent, header, set(service.writable_keys(entity)))
    report = ImportReport(total=len(rows), ignored_columns=ignored, dry_run=dry_run)
    report.columns = {header[i]: key for i, key in mapping.items()}
    if match is not None:
        for message in _match_errors(ent, match, set(mapping.values())):
            header_errors.setdefault("match", []).append(message)
    if header_errors:
        report.errors["header"] = header_errors
        report.failed_rows = len(rows)
        return report
    reader = CellReader(service, ent)
    writer = RowWriter(service, ent, reader, mapping, len(header), match)
    savepoint = service.session.begin_nested()
    try:
        if match is None:  # new records only: batch by batch
            _create_rows(writer, rows, report, progress)
        else:  # a row may update a record an earlier row created: row by row
            for number, row in enumerate(rows, start=2):  # row 1 is the header
                record_id, updated, problems = writer.write(row)
                if record_id is not None:
                    (report.updated if updated else report.created).append(record_id)
                _note_problems(report, number, problems)
                if progress and (number - 1) % PROGRESS_EVERY == 0:
                    progress(number - 1, len(rows))
        if progress:
            progress(len(rows), len(rows))
    except BaseException:
        savepoint.rollback()
        raise
    if report.errors or dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
        if len(report.created) >= ANALYZE_AFTER:  # a bulk load: the planner's figures are old
            refresh_statistics(service.session.connection(), [ent.table.name])
    return report


def _create_rows(
    writer: RowWriter, rows: list[list[str]], report: ImportReport, progress: Progress | None
) -> None:
    """New records, :data:`BATCH` rows at a time: each batch read, checked and written with
    one ``create_many`` (as row by row: a refused row is not written, the others are)."""
    for start in range(0, len(rows), BATCH):
        numbered = list(enumerate(rows[start : start + BATCH], start=start + 2))
        problems: dict[int, dict[str, list[str]]] = {}
        ready: list[tuple[int, NewRecord]] = []
        read = writer.read_rows([row for _number, row in numbered])
        for (number, _row), (data, placed, found) in zip(numbered, read, strict=True):
            if found:
                problems[number] = found
                continue
            ready.append((number, NewRecord(data, *writer.placement(placed))))
        created, refused = writer.create_many(ready)
        report.created.extend(created)
        problems.update(refused)
        for number in sorted(problems):
            _note_problems(report, number, problems[number])
        for number, _row in numbered if progress else ():
            if (number - 1) % PROGRESS_EVERY == 0:
                progress(number - 1, len(rows))  # type: ignore[misc]


def _note_problems(report: ImportReport, number: int, problems: dict[str, list[str]]) -> None:
    if problems:
        report.failed_rows += 1
        if len(report.errors) < MAX_REPORTED_ROWS:
            report.errors[f"row {number}"] = problems


def _match_errors(ent: CompiledEntity, match: str, columns: set[str]) -> list[str]:
    f = ent.fields.get(match)
    if f is None or not f.unique:
        unique = ", ".join(k for k, x in ent.fields.items() if x.unique) or "none yet"
        return [f"Match on a unique field ({unique}), not {match!r}."]
    if match not in columns:
        return [f"The file has no column for {f.label!r}, the field to match on."]
    return []


class RowWriter:
    """Writes one CSV row: a new record, or (with ``match``) an update of the record whose
    unique field has the row's value. Problems come back by field, never half-written."""

    def __init__(
        self,
        service: RecordService,
        ent: CompiledEntity,
        reader: CellReader,
        mapping: Mapping[int, str],
        width: int,
        match: str | None,
    ) -> None:
        self.service, self.ent, self.reader = service, ent, reader
        self.mapping, self.width, self.match = mapping, width, match
        self._placements: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        #: (column, key, field or None for a placement column, whether its cells are
        #: trimmed, how its texts become the field's input: a column's at once, and for a
        #: type that may refuse a cell each text's, to report it: see CellReader.refuses)
        self.columns = [
            (index, key, None, True, None, None)
            if key in PLACEMENT
            else (
                index,
                key,
                ent.fields[key],
                reader.trims(ent.fields[key]),
                reader.column_converter(ent.fields[key]),
                reader.converter(ent.fields[key]) if reader.refuses(ent.fields[key]) else None,
            )
            for index, key in mapping.items()
        ]

    def write(self, row: list[str]) -> tuple[int | None, bool, dict[str, list[str]]]:
        """(record id, whether it was an update, problems by field)."""
        ((data, placed, problems),) = self.read_rows([row])
        if problems:
            return None, False, problems
        pipeline, stage = self.placement(placed)
        try:
            existing = self._existing(data)
            if existing is None:
                record = self.service.create(self.ent.key, data, pipeline=pipeline, stage=stage)
                return record.id, False, {}
            if stage and (stage, pipeline or existing.pipeline) != (
                existing.stage,
                existing.pipeline,
            ):
                record = self.service.move_stage(
                    self.ent.key,
                    existing.id,
                    stage,
                    pipeline=pipeline,
                    values=data,
                    version=existing.version,
                )
            else:
                record = self.service.update(
                    self.ent.key, existing.id, data, version=existing.version
                )
            return record.id, True, {}
        except ValidationFailed as exc:
            return None, False, _by_field(exc.errors)
        except TooManyProbes:
            raise  # the whole import stops: its rows must not answer any more questions
        except TrellisError as exc:
            return None, False, {"_row": [exc.detail]}

    def placement(self, placed: Mapping[str, str]) -> tuple[str | None, str | None]:
        """The pipeline and stage keys a row's placement cells name (by key or label),
        worked out once per pair of cells."""
        cells = (placed.get("pipeline", ""), placed.get("stage", ""))
        keys = self._placements.get(cells)
        if keys is None:
            pipeline = _pipeline_key(self.ent, cells[0])
            keys = self._placements[cells] = (pipeline, _stage_key(self.ent, cells[1], pipeline))
        return keys

    def create_many(
        self, ready: list[tuple[int, NewRecord]]
    ) -> tuple[list[int], dict[int, dict[str, list[str]]]]:
        """Create the records of ``ready`` (row number, record) as one create per row would:
        the ids of those written, the problems of the others by row number."""
        if not ready:
            return [], {}
        try:
            records = self.service.create_many(self.ent.key, [new for _n, new in ready])
        except RowsInvalid as exc:
            refused = {ready[i][0]: _by_field(p) for i, p in exc.rows.items()}
            # the valid rows are written still, so the rows after them meet them as they
            # would row by row (a unique value they took, say)
            ids, again = self.create_many([r for i, r in enumerate(ready) if i not in exc.rows])
            return ids, {**refused, **again}
        except TooManyProbes:
            raise  # the whole import stops: its rows must not answer any more questions
        except TrellisError:
            # a batch refused as a whole (a unique value a concurrent writer took): row by row
            return self._create_one_by_one(ready)
        return [record.id for record in records], {}

    def _create_one_by_one(
        self, ready: list[tuple[int, NewRecord]]
    ) -> tuple[list[int], dict[int, dict[str, list[str]]]]:
        ids, refused = [], {}
        for number, new in ready:
            try:
                ids.append(
                    self.service.create(
                        self.ent.key, new.data, pipeline=new.pipeline, stage=new.stage
                    ).id
                )
            except ValidationFailed as exc:
                refused[number] = _by_field(exc.errors)
            except TooManyProbes:
                raise
            except TrellisError as exc:
                refused[number] = {"_row": [exc.detail]}
        return ids, refused

    def read_rows(
        self, rows: list[list[str]]
    ) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]]:
        """Each row's record-service input (a blank cell gives no value), its placement
        cells (pipeline, stage) and its problems by field: read column by column, each
        column's cells at once where its type allows."""
        width = self.width
        datas: list[dict[str, Any]] = [{} for _row in rows]
        placed: list[dict[str, Any]] = [{} for _row in rows]
        problems: list[dict[str, list[str]]] = [{} for _row in rows]
        if max(map(len, rows), default=0) > width:
            for row, found in zip(rows, problems, strict=True):
                if len(row) > width and any(c.strip() for c in row[width:]):
                    found["_row"] = [f"{len(row)} cells for {width} columns."]
        short = min(map(len, rows), default=0) < width  # (a row without its last cells)
        for index, key, f, trims, convert_all, convert_each in self.columns:
            if short:
                cells = [row[index] if index < len(row) else "" for row in rows]
            else:
                cells = list(map(itemgetter(index), rows))
            if f is None:
                for place, cell in zip(placed, cells, strict=True):
                    place[key] = cell.strip()
                continue
            # (CellReader's reading: the texts a column at once, then each one converted)
            texts = texts_of(cells, trims=trims)
            if convert_each is None:
                values = convert_all(texts)
            else:
                values = self._converted(key, convert_each, texts, problems)
            for data, value in zip(datas, values, strict=True):
                if value is not None:
                    data[key] = value
        if self.match:
            label = self.ent.fields[self.match].label
            for data, found in zip(datas, problems, strict=True):
                if self.match not in data and not found:
                    found[self.match] = [f"Empty: {label} is the field to match records on."]
        return list(zip(datas, placed, problems, strict=True))

    @staticmethod
    def _converted(
        key: str,
        convert: Callable[[str], Any],
        texts: list[str | None],
        problems: list[dict[str, list[str]]],
    ) -> list[Any]:
        """The texts of a column converted to the field's input (None for a blank or
        refused one, its problem in ``problems``)."""
        values: list[Any] = []
        for text, found in zip(texts, problems, strict=True):
            if text is None:
                values.append(None)
                continue
            try:
                values.append(convert(text))
            except ValidationFailed as exc:
                found.update(exc.errors)
                values.append(None)
            except TrellisError as exc:  # e.g. a reference to records the caller may not read
                found.setdefault(key, []).append(exc.detail)
                values.append(None)
        return values

    def _existing(self, data: Mapping[str, Any]) -> Any:
        """The record the row updates (readable by the caller), or None for a new one."""
        if not self.match:
            return None
        found = self.service.list(
            self.ent.key, filters=[Filter(self.match, "eq", data[self.match])], per_page=1
        )
        return found.items[0] if found.items else None


def _by_field(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [str(v)] for k, v in errors.items()}


def _pipeline_key(ent: CompiledEntity, text: str) -> str | None:
    """A pipeline given by key or label (as the export writes it)."""
    if not text:
        return None
    found = [k for k, p in ent.pipelines.items() if text in (k, p.label)]
    return found[0] if found else text


def _stage_key(ent: CompiledEntity, text: str, pipeline: str | None) -> str | None:
    """A stage of ``pipeline`` (or the default one) given by key or label."""
    if not text:
        return None
    chosen = ent.pipelines.get(pipeline or "") or ent.default_pipeline()
    for key, stage in (chosen.stages if chosen else {}).items():
        if text in (key, stage.label):
            return key
    return text
