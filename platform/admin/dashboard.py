"""The admin landing page: counts, shortcuts and the latest configuration changes."""

from __future__ import annotations

from typing import Any

from flask_admin import AdminIndexView, expose
from sqlalchemy import func, select

from trellis.accounts import Role, User
from trellis.admin.base import AdminOnly
from trellis.admin.history import readable_changes
from trellis.conversion.models import ConversionMap
from trellis.flows.outbox import OutboxEntry
from trellis.metamodel.models import ConfigChange, OptionList
from trellis.runtime import get_runtime


class DashboardView(AdminOnly, AdminIndexView):
    @expose("/")
    def index(self) -> Any:
        runtime = get_runtime()
        with runtime.transaction() as session:
            model = runtime.model(session)
            entities = [
                {
                    "entity": e,
                    "fields": len(e.fields),
                    "archived_fields": len(e.archived_fields),
                    "pipelines": len(e.pipelines),
                    "rules": len(e.rules),
                    "records": session.scalar(select(func.count()).select_from(e.table)),
                }
                for e in model.entities.values()
            ]
            counts = {
                "Entity types": len(model.entities),
                "Option lists": session.scalar(select(func.count()).select_from(OptionList)),
                "Conversion maps": session.scalar(select(func.count()).select_from(ConversionMap)),
                "Users": session.scalar(select(func.count()).select_from(User)),
                "Roles": session.scalar(select(func.count()).select_from(Role)),
            }
            failed_deliveries = session.scalar(
                select(func.count()).select_from(OutboxEntry).where(OutboxEntry.status == "failed")
            )
            changes = readable_changes(
                session,
                model,
                list(
                    session.scalars(select(ConfigChange).order_by(ConfigChange.id.desc()).limit(10))
                ),
            )
        return self.render(
            "admin/trellis/dashboard.html",
            entities=entities,
            counts=counts,
            changes=changes,
            failed_deliveries=failed_deliveries,
            archived=list(model.archived_entities.values()),
        )
