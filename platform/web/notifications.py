"""The signed-in user's notifications: a page listing them (newest first), opening one marks
it read and goes to its record, and "mark all as read". The menu shows the unread count."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for
from flask_login import current_user, login_required

from trellis.flows.notifications import Notification, mark_read, notifications_of
from trellis.runtime import get_runtime
from trellis.web.views import web


@web.get("/notifications")
@login_required
def notifications() -> Any:
    runtime = get_runtime()
    with runtime.transaction() as session:
        items = notifications_of(session, current_user.actor.user_id)
        labels = {e.key: e.label for e in runtime.model(session).entities.values()}
    return render_template("web/notifications.html", items=items, labels=labels)


@web.post("/notifications/<int:notification_id>/open")
@login_required
def open_notification(notification_id: int) -> Any:
    """Mark one read; go to its record (or back to the list)."""
    user_id = current_user.actor.user_id
    with get_runtime().transaction() as session:
        item = session.get(Notification, notification_id)
        if item is None or item.user_id != user_id:
            return redirect(url_for("web.notifications"))
        mark_read(session, user_id, [notification_id])
        entity, record_id = item.entity, item.record_id
    if entity and record_id:
        return redirect(url_for("web.card", entity=entity, record_id=record_id))
    return redirect(url_for("web.notifications"))


@web.post("/notifications/read")
@login_required
def read_all_notifications() -> Any:
    with get_runtime().transaction() as session:
        mark_read(session, current_user.actor.user_id)
    return redirect(url_for("web.notifications"))
