"""Decimal and money values read back with exactly their field's places, for every number of
places a field may have: a listed record (a page, a page by cursor, the API's list) holds the
same ``Decimal`` and ``Money`` values, of the same types, as the record read alone and as
fitting the stored number to the field's places gives (what the readers did before SQLite's
numbers, which SQLAlchemy already fits to the column's scale, were no longer fitted twice)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from configured_fixtures import configured
from sqlalchemy import select

from trellis.metamodel.fieldtypes.base import Money
from trellis.metamodel.fieldtypes.decimal_number import MAX_SIGNIFICANT_DIGITS
from trellis.records.query import Filter

DECIMAL_PLACES = range(19)  # a decimal field's scale: 0 to 18
MONEY_PLACES = range(7)  # a money field's scale: 0 to 6


def _number(places: int, whole: str, sign: str = "") -> str:
    """``whole`` with ``places`` places, as many of them 7s as a value's 15 significant
    digits leave room for (the rest zeros)."""
    sevens = min(places, MAX_SIGNIFICANT_DIGITS - len(whole))
    return f"{sign}{whole}.{'7' * sevens}{'0' * (places - sevens)}" if places else f"{sign}{whole}"


def _values(places: int) -> list[str]:
    """Numbers with every count of places up to ``places`` (the field pads the rest)."""
    found = ["0", "1", _number(places, "12345", "-"), _number(places, "3")]
    found += [_number(n, "8") for n in range(1, places)]
    return found


FIELDS = {
    **{
        f"d{s}": ("decimal", {"settings": {"precision": s + 8, "scale": s}}) for s in DECIMAL_PLACES
    },
    **{f"m{s}": ("money", {"settings": {"precision": s + 8, "scale": s}}) for s in MONEY_PLACES},
}


@configured
def numbers(factory, runtime):  # type: ignore[no-untyped-def]
    factory.entity("num", {"name": ("text", {}), **FIELDS}, title="{name} {d2} {m2}")
    made = []
    for row in range(len(_values(max(DECIMAL_PLACES)))):
        values: dict[str, Any] = {"name": f"n{row}"}
        for s in DECIMAL_PLACES:
            choices = _values(s)
            values[f"d{s}"] = choices[row % len(choices)]
        for s in MONEY_PLACES:
            choices = _values(s)
            values[f"m{s}"] = {"amount": choices[row % len(choices)], "currency": "EUR"}
        made.append(factory.record("num", **values).id)
    made.append(factory.record("num", name="empty").id)
    return made


def _expected(runtime) -> dict[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Each record's values as the stored numbers fitted to their field's places."""
    with runtime.transaction(read_only=True) as session:
        table = runtime.model(session).entities["num"].table
        rows = session.execute(select(table)).mappings().all()
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        values: dict[str, Any] = {}
        for s in DECIMAL_PLACES:
            stored = row[f"d{s}"]
            values[f"d{s}"] = (
                None if stored is None else Decimal(stored).quantize(Decimal(1).scaleb(-s))
            )
        for s in MONEY_PLACES:
            stored = row[f"m{s}_amount"]
            values[f"m{s}"] = (
                None
                if stored is None
                else Money(Decimal(stored).quantize(Decimal(1).scaleb(-s)), row[f"m{s}_currency"])
            )
        found[row["id"]] = values
    return found


def _same(value: Any, wanted: Any, places: int) -> None:
    assert type(value) is type(wanted)
    if isinstance(wanted, Money):
        assert type(value.amount) is Decimal and value.currency == wanted.currency
        value, wanted = value.amount, wanted.amount
    if wanted is not None:
        assert str(value) == str(wanted)  # the same digits and places, not only equal
        assert value.as_tuple().exponent == -places


def test_every_number_of_places_reads_back_the_same_listed_and_alone(
    numbers, factory, runtime
) -> None:  # type: ignore[no-untyped-def]
    expected = _expected(runtime)
    page = factory.records("list", "num", sort=["id"], per_page=4)
    listed = list(page.items)
    while page.next_cursor is not None:  # the rest by cursor (a statement per segment)
        page = factory.records("list", "num", sort=["id"], per_page=4, after=page.next_cursor)
        listed += page.items
    filtered = factory.records(
        "list", "num", filters=[Filter("d2", "gte", "-100000")], sort=["-id"], per_page=100
    ).items
    assert [r.id for r in listed] == numbers
    assert sorted(r.id for r in filtered) == numbers[:-1]
    for record in [*listed, *filtered]:
        alone = factory.records("get", "num", record.id)
        assert record.values == alone.values and record.title == alone.title
        for key, wanted in expected[record.id].items():
            places = int(key[1:])
            _same(record.values[key], wanted, places)
            _same(alone.values[key], wanted, places)
    assert listed[0].values["d3"] == Decimal("0.000")
    assert listed[2].values["m4"] == Money(Decimal("-12345.7777"), "EUR")
    assert listed[-1].values["d0"] is None and listed[-1].values["m0"] is None


def test_every_number_of_places_is_the_same_text_in_the_api(numbers, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    expected = _expected(runtime)
    listed = admin.ok("GET", "/api/records/num?sort=id&per_page=100")["items"]
    assert [item["id"] for item in listed] == numbers
    for item in listed:
        assert item == admin.ok("GET", f"/api/records/num/{item['id']}")
        for key, wanted in expected[item["id"]].items():
            if isinstance(wanted, Money):
                assert item[key] == {"amount": str(wanted.amount), "currency": "EUR"}
            else:
                assert item[key] == (None if wanted is None else str(wanted))
