"""``long_text``: multi-line text."""

from __future__ import annotations

from trellis.metamodel.fieldtypes.text import TextType


class LongTextType(TextType):
    """Multi-line text; sorted and compared like text, no pattern by default."""

    name = "long_text"
    label = "Long text"
    description = "Several lines of text, such as notes or a description."
    operators = ("eq", "ne", "contains", "isnull")
    default_max_length = 100_000
    #: up to its own default (the stored settings say 100,000: sent back, they must pass)
    settings_schema = {
        **TextType.settings_schema,
        "properties": {
            **TextType.settings_schema["properties"],
            "max_length": {"type": "integer", "minimum": 1, "maximum": default_max_length},
        },
    }
    can_be_unique = False
    # leading spaces and blank lines can be part of what was written (an indented quote)
    trims = False
