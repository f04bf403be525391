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

import csv
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from trellis.access.probes import TooManyProbes
from trellis.db import refresh_statistics
from trellis.errors import BadRequest, PermissionDenied, TrellisError, ValidationFailed
from trellis.metamodel.compiled import CompiledEntity, CompiledField
from trellis.patterns import fixed
from trellis.records.query import FALSE_TEXTS, TRUE_TEXTS, Filter
from trellis.records.service import NewRecord, RecordService, RowsInvalid
from trellis.records.titles import records_titled

#: columns the export writes that the platform computes itself
COMPUTED = ("id", "title")
PLACEMENT = ("pipeline", "stage")
#: what a yes/no cell may say: the filter words plus the short forms spreadsheets use
YES = TRUE_TEXTS | {"y"}
NO = FALSE_TEXTS | {"n"}
#: ``EUR 1 200,50``, ``1200.50 EUR``, ``12``: matched by RE2 in linear time (Python's ``re``
#: took quadratic time on a long cell, and held every thread meanwhile)
MONEY = fixed(r"\s*(?:([A-Za-z]{3})\s+)?([-+]?[\d\s.,]*\d)\s*(?:([A-Za-z]{3}))?\s*")
#: the export puts ``'`` before cells starting with these (spreadsheets run them as formulas,
#: and skip a leading tab or carriage return before looking)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: the field types whose cells CellReader.value reads by type; any other cell is its trimmed
#: text (the record service reads it as its type's input)
READ_BY_TYPE = frozenset({"long_text", "boolean", "list", "multi_list", "money", "reference"})
#: at most this many rows' problems are listed (the count is always exact)
MAX_REPORTED_ROWS = 200
#: rows checked and written together (one INSERT per table for the records of a batch). A
#: batch's objects live until it is written, and Python's collector walks each one it finds
#: alive again and again, then the whole heap: 500 rows took 15% more CPU than 100 (SQLite
#: and PostgreSQL), 50 and 200 more than 100 too
BATCH = 100
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


def read_csv(content: str | bytes) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV text (UTF-8, a BOM allowed; comma or semicolon)."""
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("The file is not UTF-8 text.") from None
    content = content.lstrip("\ufeff")
    if not content.strip():
        raise BadRequest("The file is empty.", {"file": ["No header row."]})
    try:
        dialect: Any = csv.Sniffer().sniff(content[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(content), dialect) if any(c.strip() for c in r)]
    except csv.Error as exc:  # e.g. a cell beyond the csv module's size limit
        raise BadRequest(f"The file is not a CSV this importer can read: {exc}.") from None
    if not rows:
        raise BadRequest("The file is empty.", {"file": ["No header row."]})
    return [unguard(h.strip()) for h in rows[0]], rows[1:]


def unguard(text: str) -> str:
    """``text`` without the ``'`` the export puts before a cell a spreadsheet would run."""
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


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


class CellReader:
    """Turns CSV cells into record-service input, per field type; what it cannot read it
    passes on as given, so the service's own message says what is wrong."""

    def __init__(self, service: RecordService, entity: CompiledEntity) -> None:
        self.service = service
        self.entity = entity
        self._titles: dict[tuple[str, str], list[int]] = {}
        self._readers: dict[str, Callable[[str], Any]] = {}

    def value(self, f: CompiledField, cell: str) -> Any:
        """The input a cell of ``f``'s column gives (None for a blank cell)."""
        return self.reader(f)(cell)

    def reader(self, f: CompiledField) -> Callable[[str], Any]:
        """:meth:`value` for the cells of ``f``'s column, worked out once per import: the
        cell trimmed (a long text's kept as it is), the export's formula guard dropped, then
        read by the field's type."""
        read = self._readers.get(f.key)
        if read is None:
            read = self._readers[f.key] = self._reader(f)
        return read

    def _reader(self, f: CompiledField) -> Callable[[str], Any]:
        name = f.type.name
        convert: Callable[[str], Any] | None = None
        if name == "boolean":
            convert = _yes_no
        elif name == "list":
            convert = self._options(f)
        elif name == "multi_list":
            option = self._options(f)

            def convert(text: str) -> Any:
                return [option(part.strip()) for part in re.split(r"[;,]", text) if part.strip()]

        elif name == "money":
            convert = _money
        elif name == "reference":
            convert = partial(self._reference, f)
        # (any other cell is its trimmed text: a user field's username or #id, say, which
        # the record service reads as its type's input)
        trims = name != "long_text"

        def read(cell: str) -> Any:
            text = cell.strip() if trims else cell
            if text[:1] == "'":
                text = unguard(text)
            if not text.strip():
                return None
            return text if convert is None else convert(text)

        return read

    def _options(self, f: CompiledField) -> Callable[[str], str]:
        """An option cell's key: the key itself, or the key of the one option with that
        label (any case); any other text as it is (the record service refuses it)."""
        options = self.service.model.option_lists[f.settings["list"]].options
        by_label: dict[str, list[str]] = {}
        for key, o in options.items():
            by_label.setdefault(o.label.lower(), []).append(key)

        def option(text: str) -> str:
            if text in options:
                return text
            found = by_label.get(text.lower(), ())
            return found[0] if len(found) == 1 else text

        return option

    def _reference(self, f: CompiledField, text: str) -> Any:
        digits = text.removeprefix("#")
        if digits.isdigit():
            return int(digits)
        target = f.settings["target"]
        key = (target, text.lower())
        if key not in self._titles:
            self._titles[key] = records_titled(self.service, target, text)
        ids = self._titles[key]
        if len(ids) == 1:
            return ids[0]
        label = self.service.model.entities[target].label
        many = "Several" if ids else "No"
        raise ValidationFailed({f.key: [f"{many} {label} called {text!r}; use its #id."]})


def _yes_no(text: str) -> Any:
    low = text.lower()
    return True if low in YES else False if low in NO else text


def _plain_money_groups(text: str) -> tuple[str | None, str, str | None] | None:
    """The groups :data:`MONEY` gives for the common cells (``12.50``, ``12.50 EUR``,
    ``EUR 12.50``: ASCII digits and separators, spaces between the parts), found without
    RE2, whose Python binding costs more per call than the rest of the row's money; ``None``
    for any other cell, which the pattern then reads."""
    if not text.isascii():
        return None
    parts = text.split(" ")
    parts = [part for part in parts if part]
    if len(parts) == 1 and _is_plain_amount(parts[0]):
        return None, parts[0], None
    if len(parts) == 2:
        first, second = parts
        if _is_plain_amount(first) and _is_code(second):
            return None, first, second
        if _is_code(first) and _is_plain_amount(second):
            return first, second, None
    return None


def _is_plain_amount(part: str) -> bool:
    """``[-+]?[\\d.,]*\\d`` without spaces (``part`` is ASCII)."""
    digits = part[1:] if part[:1] in ("-", "+") else part
    return bool(digits) and digits[-1].isdigit() and not digits.strip("0123456789.,")


def _is_code(part: str) -> bool:
    """``[A-Za-z]{3}`` (``part`` is ASCII)."""
    return len(part) == 3 and part.isalpha()


def _money(text: str) -> Any:
    text = text.replace("\u00a0", " ")
    groups = _plain_money_groups(text)
    if groups is None:
        match = MONEY.fullmatch(text)
        if not match:
            return text
        before, amount, after = match.groups()
        amount = re.sub(r"\s", "", amount)
    else:  # (the plain amount has no spaces)
        before, amount, after = groups
    if "," in amount and "." not in amount:
        amount = amount.replace(",", ".")
    else:
        amount = amount.replace(",", "")
    currency = (before or after or "").upper()
    return {"amount": amount, "currency": currency} if currency else {"amount": amount}


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
        for number, row in numbered:
            data, placed, read_problems = writer._read(row)
            if read_problems:
                problems[number] = read_problems
                continue
            pipeline = _pipeline_key(writer.ent, placed.get("pipeline", ""))
            stage = _stage_key(writer.ent, placed.get("stage", ""), pipeline)
            ready.append((number, NewRecord(data, pipeline, stage)))
        created, refused = writer.create_many(ready)
        report.created.extend(created)
        problems.update(refused)
        for number in sorted(problems):
            _note_problems(report, number, problems[number])
        for number, _row in numbered:
            if progress and (number - 1) % PROGRESS_EVERY == 0:
                progress(number - 1, len(rows))


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
        #: (column, key, field or None for a placement column, whether the cell is read as
        #: its trimmed text, else how it is read)
        self.columns = [
            (index, key, None, False, None)
            if key in PLACEMENT
            else (
                index,
                key,
                ent.fields[key],
                ent.fields[key].type.name not in READ_BY_TYPE,
                reader.reader(ent.fields[key]),
            )
            for index, key in mapping.items()
        ]

    def write(self, row: list[str]) -> tuple[int | None, bool, dict[str, list[str]]]:
        """(record id, whether it was an update, problems by field)."""
        data, placed, problems = self._read(row)
        if problems:
            return None, False, problems
        pipeline = _pipeline_key(self.ent, placed.get("pipeline", ""))
        stage = _stage_key(self.ent, placed.get("stage", ""), pipeline)
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

    def _read(self, row: list[str]) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
        data: dict[str, Any] = {}
        placed: dict[str, str] = {}
        problems: dict[str, list[str]] = {}
        if len(row) > self.width and any(c.strip() for c in row[self.width :]):
            problems["_row"] = [f"{len(row)} cells for {self.width} columns."]
        for index, key, f, as_text, read in self.columns:
            cell = row[index] if index < len(row) else ""
            if f is None:
                placed[key] = cell.strip()
                continue
            if as_text:  # what CellReader.value does for these types, inline
                text = cell.strip()
                if text[:1] == "'":
                    text = unguard(text)
                    if not text.strip():
                        continue
                elif not text:
                    continue
                data[key] = text
                continue
            try:
                value = read(cell)
            except ValidationFailed as exc:
                problems.update(exc.errors)
                continue
            except TrellisError as exc:  # e.g. a reference to records the caller may not read
                problems.setdefault(key, []).append(exc.detail)
                continue
            if value is not None:
                data[key] = value
        if self.match and self.match not in data and not problems:
            label = self.ent.fields[self.match].label
            problems[self.match] = [f"Empty: {label} is the field to match records on."]
        return data, placed, problems

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
