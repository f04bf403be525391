"""CSV import through the record service: columns by key or label, cells as the export
writes them, every problem by row and field, all or nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from configured_fixtures import configured

from trellis.accounts import Actor
from trellis.errors import BadRequest, PermissionDenied
from trellis.records.import_cells import read_csv
from trellis.records.importer import import_csv


@configured
def sales(factory):  # type: ignore[no-untyped-def]
    factory.entity("company", {"name": "text"}, title="{name}")
    factory.entity(
        "deal",
        {
            "name": ("text", {"required": True}),
            "amount": "money",
            "source": ("list", {"settings": {"list": "source"}}),
            "tags": ("multi_list", {"settings": {"list": "source"}}),
            "won": "boolean",
            "close": "date",
            "company": ("reference", {"settings": {"target": "company"}}),
        },
        title="{name}",
        lists={"source": ["web", "trade_fair"]},
        pipelines={"sales": ["new", "proposal", "won:success"], "wholesale": ["quote", "signed"]},
    )
    return factory


def run(factory, text: str, dry_run: bool = False, actor=None):  # type: ignore[no-untyped-def]
    with factory.runtime.transaction() as session:
        kwargs = {"actor": actor} if actor else {}
        service = factory.runtime.records(session, **kwargs)
        return import_csv(service, "deal", text, dry_run=dry_run)


def count(factory) -> int:  # type: ignore[no-untyped-def]
    return factory.records("list", "deal").total


def test_cells_are_read_as_the_export_writes_them(sales) -> None:  # type: ignore[no-untyped-def]
    acme = sales.record("company", name="Acme Ltd")
    text = (
        "id;Title;Name;Amount;Source;tags;Won;close;Company;pipeline;stage\n"
        "7;x;Apollo;1 200.50 EUR;Trade Fair;web, Trade Fair;Yes;2027-01-31;Acme Ltd;;proposal\n"
        f"8;y;Gemini;USD 30;web;;no;;#{acme.id};Wholesale;Signed\n"
    )
    report = run(sales, text)
    assert report.ok, report.errors
    assert report.ignored_columns == ["id", "Title"] and len(report.created) == 2
    apollo, gemini = (sales.records("get", "deal", i) for i in report.created)
    assert apollo.values["amount"].amount == Decimal("1200.50")
    assert apollo.values["source"] == "trade_fair" and apollo.values["tags"] == (
        "web",
        "trade_fair",
    )
    assert apollo.values["won"] is True and str(apollo.values["close"]) == "2027-01-31"
    assert apollo.values["company"] == acme.id and (apollo.pipeline, apollo.stage) == (
        "sales",
        "proposal",
    )
    assert gemini.values["amount"].currency == "USD" and gemini.values["won"] is False
    assert (gemini.pipeline, gemini.stage) == ("wholesale", "signed")


def test_every_problem_is_reported_and_nothing_is_kept(sales) -> None:  # type: ignore[no-untyped-def]
    text = (
        "name,source,won,company,close\n"
        "Good one,web,yes,,\n"
        ",web,yes,,\n"  # the name is required
        "Bad list,nope,maybe,Nobody Inc,31.01.2027\n"
        "Extra,web,,,,surplus\n"
    )
    report = run(sales, text)
    assert not report.ok and report.failed_rows == 3 and report.total == 4
    assert set(report.errors) == {"row 3", "row 4", "row 5"}
    assert "name" in report.errors["row 3"]
    assert set(report.errors["row 4"]) == {"company"}  # a missing reference stops the row early
    assert "No Company called 'Nobody Inc'" in report.errors["row 4"]["company"][0]
    assert report.errors["row 5"] == {"_row": ["6 cells for 5 columns."]}
    assert count(sales) == 0  # not even the good row
    fixed = text.replace("Nobody Inc", "").replace(",surplus", "")
    report = run(sales, fixed)
    assert set(report.errors) == {"row 3", "row 4"}
    assert set(report.errors["row 4"]) == {"source", "won", "close"}  # all of them at once


def test_a_reference_cell_with_a_nul_character_is_a_problem_of_its_row(sales) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL refuses NUL even as a search operand: the name search must not send it."""
    sales.record("company", name="Acme")
    report = run(sales, "name,company\nFirst,Ac\x00me\nSecond,Acme\n", dry_run=True)
    assert report.errors == {"row 2": {"company": ["No Company called 'Ac\\x00me'; use its #id."]}}
    assert report.as_json()["valid"] == 1


def test_the_header_must_name_fields_the_caller_may_write(sales, runtime) -> None:  # type: ignore[no-untyped-def]
    report = run(sales, "name,colour,Name\nA,red,B\n")
    assert set(report.errors["header"]) == {"colour", "Name"}
    assert "No field you may write is called 'colour'" in report.errors["header"]["colour"][0]
    assert report.errors["header"]["Name"] == ["A second column for 'name'."]
    with pytest.raises(BadRequest):
        read_csv(b"\xff\xfe\x00")
    with pytest.raises(BadRequest):
        read_csv("   \n")
    with pytest.raises(BadRequest, match="not a CSV this importer can read"):
        read_csv("name\n" + "x" * 200_000 + "\n")
    nobody = Actor(user_id=999, username="nobody", roles=frozenset({"user"}))
    with pytest.raises(PermissionDenied):
        run(sales, "name\nA\n", actor=nobody)


def test_a_dry_run_checks_everything_and_writes_nothing(sales) -> None:  # type: ignore[no-untyped-def]
    report = run(sales, "name\nA\nB\n", dry_run=True)
    assert report.ok and report.as_json()["valid"] == 2 and report.as_json()["created"] == 0
    assert count(sales) == 0
    assert len(run(sales, "\ufeffname\nA\nB\n").created) == 2 and count(sales) == 2


def test_any_text_gives_a_report_or_a_clear_error_never_a_crash(sales) -> None:  # type: ignore[no-untyped-def]
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from trellis.errors import TrellisError

    header = st.lists(
        st.sampled_from(["name", "Amount", "source", "tags", "won", "close", "company", "stage"]),
        min_size=1,
        max_size=5,
        unique=True,
    )
    cell = st.one_of(
        st.text(max_size=12),
        st.sampled_from(["1e999", "NaN", "#0", "#99999999999999999999", "'=1", "web;;", "-"]),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(header, st.lists(st.lists(cell, max_size=6), max_size=4), st.sampled_from([",", ";"]))
    def check(columns: list[str], rows: list[list[str]], sep: str) -> None:
        seen.append(1)
        text = "\n".join(sep.join(c.replace(sep, " ") for c in line) for line in [columns, *rows])
        try:
            report = run(sales, text, dry_run=True)
        except TrellisError:
            return
        assert report.total >= 0 and isinstance(report.errors, dict)

    seen: list[int] = []
    check()
    assert len(seen) >= 30 and count(sales) == 0


def test_matching_on_a_unique_field_updates_instead_of_creating(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "company",
        {"name": ("text", {"required": True}), "tin": ("text", {"unique": True}), "city": "text"},
        title="{name}",
        pipelines={"accounts": ["prospect", "customer"]},
    )
    acme = factory.record("company", name="Acme", tin="EE1", city="Tallinn")

    def load(text: str, match: str | None = "tin", dry_run: bool = False):  # type: ignore[no-untyped-def]
        with factory.runtime.transaction() as session:
            service = factory.runtime.records(session)
            return import_csv(service, "company", text, match=match, dry_run=dry_run)

    report = load(
        "tin,name,city,stage\nEE1,Acme Ltd,,customer\nEE2,Globex,Tartu,\nEE2,Globex AS,,\n"
    )
    assert report.ok, report.errors
    assert report.as_json()["updated"] == 2 and report.as_json()["created"] == 1
    updated = factory.records("get", "company", acme.id)
    assert updated.values["name"] == "Acme Ltd" and updated.values["city"] == "Tallinn"  # kept
    assert updated.stage == "customer" and updated.version == 2
    globex = factory.records("list", "company", q="Globex").items[0]
    assert (globex.values["name"], globex.values["city"]) == ("Globex AS", "Tartu")
    assert factory.records("list", "company").total == 2
    history = factory.records("history", "company", acme.id)
    assert ("name", "Acme", "Acme Ltd") in [(h["field"], h["old"], h["new"]) for h in history]

    assert load("tin,name\n,Nameless\n").errors == {
        "row 2": {"tin": ["Empty: Tin is the field to match records on."]}
    }
    assert (
        "Match on a unique field (tin)"
        in load("name\nX\n", match="name").errors["header"]["match"][0]
    )
    assert "no column for 'Tin'" in load("name\nX\n").errors["header"]["match"][0]
    assert factory.records("list", "company").total == 2


def test_a_reference_cell_names_a_record_by_a_title_made_of_several_fields(factory) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "contact", {"first_name": "text", "last_name": "text"}, title="{first_name} {last_name}"
    )
    factory.entity("call", {"who": ("reference", {"settings": {"target": "contact"}})})
    ann = factory.record("contact", first_name="Ann", last_name="Tamm")
    with factory.runtime.transaction() as session:
        report = import_csv(factory.runtime.records(session), "call", "who\nann tamm\n")
    assert report.ok, report.errors
    assert factory.records("list", "call").items[0].values["who"] == ann.id


def expected_text(cell: str, *, trims: bool) -> str | None:
    """How a cell reads as text, spelled out: trimmed (not a long text's), the export's
    ``'`` before a formula start dropped, None when nothing is left."""
    text = cell.strip() if trims else cell
    if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        text = text[1:]
    return text if text.strip() else None


def test_cells_are_read_as_text_alone_and_a_column_at_once(factory) -> None:  # type: ignore[no-untyped-def]
    """Cells are read a column at once (RowWriter.read_rows, CellReader.column) as each one
    alone: trimmed (a long text's kept), the export's formula guard dropped, blank cells
    absent; a yes/no, option or money cell then read from that text. Alone, in a column of
    them all, and in a column without a quote (read without looking for guards)."""
    from trellis.records.import_cells import CellReader
    from trellis.records.importer import RowWriter

    types = ["text", "integer", "decimal", "date", "email", "phone", "url", "long_text"]
    factory.entity("thing", {t: t for t in types} | {"yes": "boolean"})
    cells = ["", "  ", "x", "  padded ", "'=1", "'\t", "'\r", "' ", "'", "''=", " '+x ", "'\t "]
    cells += ["'-\t", "a\nb", "\u00a0x\u00a0", "'@", "\t'=x", "O'Brien", " \n' ", " Yes", "'no"]
    unquoted = [cell for cell in cells if "'" not in cell]
    columns = [*types, "yes"]
    with factory.runtime.transaction() as session:
        service = factory.runtime.records(session)
        ent = service.model.entities["thing"]
        reader = CellReader(service, ent)
        writer = RowWriter(service, ent, reader, dict(enumerate(columns)), len(columns), None)
        for column in [*([cell] for cell in cells), cells, unquoted]:
            read = writer.read_rows([[cell] * len(columns) for cell in column])
            for cell, (data, _placed, problems) in zip(column, read, strict=True):
                expected = {t: expected_text(cell, trims=t != "long_text") for t in types}
                answer = expected_text(cell, trims=True)
                if answer is not None:
                    low = answer.lower()
                    expected["yes"] = True if low == "yes" else False if low == "no" else answer
                assert problems == {}
                assert data == {k: v for k, v in expected.items() if v is not None}, repr(cell)
                assert {t: reader.value(ent.fields[t], cell) for t in data} == data
