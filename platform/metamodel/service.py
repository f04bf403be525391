"""The metamodel service: the one path through which configuration changes.

The API, the admin UI, the CLI and config packs all call this. Each call validates every
input at once, writes the metamodel rows, applies the table changes in the same transaction,
bumps the metamodel stamp and records the change in the configuration history.
"""

from __future__ import annotations

from trellis.metamodel.entities import EntityOperations
from trellis.metamodel.fields import FieldOperations
from trellis.metamodel.option_lists import OptionListOperations
from trellis.metamodel.pipelines import PipelineOperations
from trellis.metamodel.rules import RuleOperations


class MetamodelService(
    EntityOperations, FieldOperations, OptionListOperations, PipelineOperations, RuleOperations
):
    """All metamodel operations; construct with ``(session, cache, actor)``."""
