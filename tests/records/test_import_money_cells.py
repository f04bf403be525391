"""Money cells of a CSV import: the common shapes are read without RE2, and read exactly as
the pattern reads them; the currency code test agrees with ``^[A-Z]{3}$``."""

from __future__ import annotations

import itertools
import random

import pytest

from trellis.metamodel.fieldtypes.money import is_currency_code
from trellis.patterns import fixed
from trellis.records.import_cells import MONEY, _money, _plain_money_groups, money_column

ALPHABET = ["1", "0", "9", ".", ",", "-", "+", " ", "\t", "E", "u", "x", "\u00e4", "\u0661", "#"]
CELLS = [
    "12",
    "12.50",
    "-12.50",
    "+1,200.50",
    "1.200,50",
    "12.50 EUR",
    "12.50  eur",
    "EUR 12.50",
    "usd -3",
    " 12.50 EUR ",
    "1 200.50 EUR",
    "EUR 1 200,50",
    "12.50EUR",
    "EUR12.50",
    "12.50 EURO",
    "12.50 EU",
    "12.50 E1R",
    "EUR USD",
    "12 34",
    "+-5",
    "12.",
    ".5",
    "12.50\tEUR",
    "12.50 EUR\t",
    "\u0661\u0662 EUR",
    "12 \u00c4UR",
    "EUR 12 USD",
    "abc",
]


def _by_pattern(text: str) -> tuple | None:
    match = MONEY.fullmatch(text)
    return None if match is None else match.groups()


def test_plain_cells_are_read_as_the_pattern_reads_them() -> None:
    read_plainly = 0
    rng = random.Random(12)
    generated = ["".join(rng.choices(ALPHABET, k=rng.randint(1, 9))) for _ in range(20_000)]
    for text in CELLS + generated:
        groups = _plain_money_groups(text)
        if groups is not None:
            read_plainly += 1
            assert groups == _by_pattern(text), text
    # the cells a user uploads take the plain path (the test would pass vacuously otherwise)
    assert all(_plain_money_groups(t) is not None for t in ("12", "12.50 EUR", "EUR 1,200.50"))
    assert read_plainly > 100


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("12.50 EUR", {"amount": "12.50", "currency": "EUR"}),
        ("eur 1,200.50", {"amount": "1200.50", "currency": "EUR"}),
        ("1 200,50 USD", {"amount": "1200.50", "currency": "USD"}),
        ("\u00a012,5\u00a0EUR", {"amount": "12.5", "currency": "EUR"}),
        ("-7", {"amount": "-7"}),
        ("12.50 EURO", "12.50 EURO"),
    ],
)
def test_money_cells(cell: str, read: object) -> None:
    assert _money(cell) == read


def test_currency_code_as_the_pattern() -> None:
    pattern = fixed(r"^[A-Z]{3}$")
    letters = ["A", "Z", "a", "z", "1", " ", "\n", "\u00c4", "\u0130", "\uff21", "_"]
    for size in range(5):
        for chars in itertools.product(letters, repeat=size):
            text = "".join(chars)
            assert is_currency_code(text) == (pattern.match(text) is not None), repr(text)


def test_a_column_of_money_cells_is_read_as_each_cell() -> None:
    """``money_column`` reads a column of the export's form or of bare amounts at once, and
    any other column cell by cell: always what ``_money`` reads from each (None stays)."""
    coded = ["12.50 EUR", "-3 USD", "0.5 EUR", "1200 GBP", "007.10 EUR"]
    bare = ["12", "-0.5", "1200.00", "3"]
    near = ["12.50  EUR", "12.50 eur", "+12.50 EUR", "12.50 EURO", "1,200.50 EUR", "12. EUR"]
    near += ["EUR 12.50", "12.50\tEUR", "\u0661 EUR", ".5", "12.5.1 EUR"]
    rng = random.Random(3)
    generated = ["".join(rng.choices(ALPHABET, k=rng.randint(1, 9))) for _ in range(2000)]
    columns = [coded, bare, [*coded, None, *coded], [None, *bare, None], [None], []]
    columns += [[*coded, odd] for odd in near + CELLS] + [[*bare, odd] for odd in near + CELLS]
    columns += [generated[i : i + 5] for i in range(0, len(generated), 5)]
    for column in columns:
        assert money_column(column) == [None if c is None else _money(c) for c in column], column
    # (the plain columns are read at once: a cell of another form would read otherwise)
    assert money_column(["12.50 EUR"]) == [{"amount": "12.50", "currency": "EUR"}]
