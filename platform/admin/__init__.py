"""The administrators' UI (Flask-Admin) over the platform's own tables.

Views are Flask-Admin views with their own forms; every save goes through the metamodel (or
access, conversion) service, so the table changes happen on save, every error shows on the
form, and nothing is half-applied. Only signed-in administrators reach ``/admin``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme


def register_admin(app: Flask) -> Admin:
    """Mount the admin UI on ``app`` (one Admin per app: Flask-Admin views are bound)."""
    from trellis.admin.automations import (
        AutomationsView,
        OutboxView,
        WebhooksView,
        action_inputs,
    )
    from trellis.admin.conversions import ConversionsView
    from trellis.admin.dashboard import DashboardView
    from trellis.admin.entities import EntitiesView
    from trellis.admin.flows import FlowsView, step_inputs
    from trellis.admin.history import ConfigHistoryView
    from trellis.admin.lists import OptionListsView
    from trellis.admin.packs import PacksView, pack_value
    from trellis.admin.users import RolesView, UsersView
    from trellis.web.headers import csp_nonce

    app.register_blueprint(
        Blueprint(
            "trellis_admin_assets",
            __name__,
            static_folder=str(Path(__file__).parent / "static"),
            static_url_path="/admin-assets",
            template_folder=str(Path(__file__).parent / "templates"),
        )
    )
    app.add_template_filter(action_inputs, "action_inputs")
    app.add_template_filter(step_inputs, "step_inputs")
    app.add_template_filter(pack_value, "pack_value")
    admin = Admin(
        app,
        name="Trellis admin",
        index_view=DashboardView(name="Dashboard", url="/admin"),
        theme=Bootstrap4Theme(fluid=True),
        csp_nonce_generator=csp_nonce,  # on every script tag of Flask-Admin's templates
    )
    admin.add_view(EntitiesView(name="Entity types", endpoint="entities"))
    admin.add_view(OptionListsView(name="Option lists", endpoint="lists"))
    admin.add_view(ConversionsView(name="Conversions", endpoint="conversions"))
    admin.add_view(
        AutomationsView(name="Automations", endpoint="automations", category="Automation")
    )
    admin.add_view(FlowsView(name="Flows", endpoint="flows", category="Automation"))
    admin.add_view(WebhooksView(name="Webhooks", endpoint="webhooks", category="Automation"))
    admin.add_view(OutboxView(name="Outbox", endpoint="outbox", category="Automation"))
    admin.add_view(UsersView(name="Users", endpoint="users", category="Access"))
    admin.add_view(RolesView(name="Roles", endpoint="roles", category="Access"))
    admin.add_view(PacksView(name="Packs", endpoint="packs"))
    admin.add_view(ConfigHistoryView(name="History", endpoint="history"))
    return admin
