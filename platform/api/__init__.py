"""The REST API under ``/api``: JSON in and out, problems for errors, bearer tokens."""

from __future__ import annotations

from trellis.api import auth, meta, openapi, records  # noqa: F401  (they register routes)
from trellis.api.blueprint import api

__all__ = ["api"]
