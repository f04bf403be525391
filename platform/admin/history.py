"""The history of configuration changes (who changed what, when): read-only."""

from __future__ import annotations

from flask_admin.contrib.sqla import ModelView

from trellis.admin.base import AdminOnly


class ConfigHistoryView(AdminOnly, ModelView):
    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = True
    column_default_sort = ("id", True)
    column_list = ("at", "by", "action", "target", "detail")
    column_searchable_list = ("action", "target")
    column_filters = ("action", "at")
    page_size = 50
