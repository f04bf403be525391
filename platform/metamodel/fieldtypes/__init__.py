"""Field types: one class per type, one module each, looked up in :data:`registry`.

What they share: ``base`` (the :class:`FieldType` base class), ``input_fields`` (the shared
input fields and their fast paths) and ``operators`` (the filter operators and their SQL).
"""

from __future__ import annotations

from trellis.metamodel.fieldtypes.base import ColumnSpec, FieldType, Money, SideTableSpec
from trellis.metamodel.fieldtypes.boolean import BooleanType
from trellis.metamodel.fieldtypes.choice import ListType
from trellis.metamodel.fieldtypes.date import DateType
from trellis.metamodel.fieldtypes.date_time import DateTimeType
from trellis.metamodel.fieldtypes.decimal_number import DecimalType
from trellis.metamodel.fieldtypes.email import EmailType
from trellis.metamodel.fieldtypes.integer import IntegerType
from trellis.metamodel.fieldtypes.long_text import LongTextType
from trellis.metamodel.fieldtypes.money import MoneyType
from trellis.metamodel.fieldtypes.multi_choice import MultiListType
from trellis.metamodel.fieldtypes.phone import PhoneType
from trellis.metamodel.fieldtypes.reference import ReferenceType
from trellis.metamodel.fieldtypes.text import TextType
from trellis.metamodel.fieldtypes.url import UrlType
from trellis.metamodel.fieldtypes.user import UserType

__all__ = [
    "ColumnSpec",
    "DuplicateFieldType",
    "FieldType",
    "FieldTypeRegistry",
    "Money",
    "SideTableSpec",
    "UnknownFieldType",
    "registry",
]


class UnknownFieldType(LookupError):
    """No field type is registered under that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"Unknown field type {name!r} (known: {', '.join(known)})")
        self.name = name


class DuplicateFieldType(ValueError):
    """A field type with that name is registered already."""


class FieldTypeRegistry:
    """Field types by name. Register one instance per type."""

    def __init__(self) -> None:
        self._types: dict[str, FieldType] = {}

    def register(self, field_type: FieldType) -> FieldType:
        """Add ``field_type``; a second type with the same name is a :class:`DuplicateFieldType`."""
        if not field_type.name:
            raise ValueError("A field type needs a name.")
        if field_type.name in self._types:
            raise DuplicateFieldType(f"Field type {field_type.name!r} is registered already.")
        self._types[field_type.name] = field_type
        return field_type

    def get(self, name: str) -> FieldType:
        """The type called ``name``, or :class:`UnknownFieldType` (also for a ``name`` that
        is not text, as a request body may give)."""
        found = self._types.get(name) if isinstance(name, str) else None
        if found is None:
            raise UnknownFieldType(name, self.names())
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._types)


registry = FieldTypeRegistry()
for _type in (
    TextType,
    LongTextType,
    IntegerType,
    DecimalType,
    MoneyType,
    BooleanType,
    DateType,
    DateTimeType,
    EmailType,
    PhoneType,
    UrlType,
    ListType,
    MultiListType,
    ReferenceType,
    UserType,
):
    registry.register(_type())
