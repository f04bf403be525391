"""A batch's rows kept column by column (:class:`Columns`), as the writer builds them: each
key's values in the rows' order, no dict a row. ``DirectInsert.columns_of`` (``records.direct``)
takes the columns as they are; anything that needs rows sees a sequence of dicts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Columns(Sequence[dict[str, Any]]):
    """Rows kept column by column: each key's values in the rows' order, as a batch's writer
    builds them (no dict a row), taken as they are by ``DirectInsert.columns_of``. As a
    sequence each row is a dict, for what needs rows (a statement SQLAlchemy runs: give it
    ``list(columns)``)."""

    __slots__ = ("columns", "count")

    def __init__(self, columns: dict[str, list[Any]], count: int) -> None:
        if any(len(values) != count for values in columns.values()):
            raise ValueError(f"Columns of other lengths than {count}")
        self.columns = columns
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.count))]
        if not -self.count <= index < self.count:
            raise IndexError(index)
        return {key: values[index] for key, values in self.columns.items()}


def as_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` as a list of dicts (what ``Connection.execute`` takes for many rows)."""
    return rows if isinstance(rows, list) else list(rows)
