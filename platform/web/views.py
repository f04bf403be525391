"""Sign in, sign out, and the home page."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select

from trellis.access.credentials import check_sign_in, end_sessions, note_sign_in
from trellis.access.policy import load_access
from trellis.access.throttle import TooManyAttempts
from trellis.accounts import Role, User, user_roles
from trellis.flows.notifications import unread_count
from trellis.runtime import get_runtime
from trellis.web.forms import LoginForm
from trellis.web.session import SessionUser

web = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/web",
)


@web.get("/favicon.ico")
def favicon() -> Any:
    """Browsers ask every page for it; one small icon rather than a 404 each time."""
    icon = Path(web.static_folder or "", "favicon.ico").read_bytes()
    return Response(icon, mimetype="image/x-icon", headers={"Cache-Control": "max-age=86400"})


@web.before_request
def load_navigation() -> None:
    """The entity types the signed-in user may read, for the menu; read in the request's
    transaction, which the view's own ``transaction()`` then takes over."""
    g.navigation = []
    g.unread = 0
    g.open_tasks = 0
    if current_user.is_authenticated and request.endpoint != "web.favicon":
        runtime = get_runtime()
        with runtime.transaction(keep_open=True) as session:
            access = load_access(session, current_user.actor)
            model = runtime.model(session)
            g.navigation = [e for e in model.entities.values() if access.can("read", e.key)]
            g.unread = unread_count(session, current_user.actor.user_id)
            g.open_tasks = runtime.flows(session, current_user.actor).open_task_count()


@web.app_context_processor
def navigation_items() -> dict[str, Any]:
    """``navigation()``, ``unread_notifications()`` and ``open_tasks()`` (the user's open flow
    tasks) in templates (empty outside the web blueprint)."""
    return {
        "navigation": lambda: g.get("navigation", []),
        "unread_notifications": lambda: g.get("unread", 0),
        "open_tasks": lambda: g.get("open_tasks", 0),
    }


def _safe_next(target: str | None) -> str:
    """Only same-site paths: an open redirect would let a link send users elsewhere."""
    same_site = target and target.startswith("/") and not target.startswith("//")
    if same_site and not urlsplit(target).netloc:
        return target
    return url_for("web.home")


@web.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        username = form.username.data or ""
        runtime = get_runtime()
        # checked in a read-only transaction: a login with no failures on record writes
        # nothing, so it does not wait for (or need) the write lock
        with runtime.transaction(read_only=True) as session:
            try:
                attempt = check_sign_in(
                    session, username, form.password.data or "", request.remote_addr
                )
            except TooManyAttempts as exc:
                form.password.errors = [exc.detail]
                return render_template("web/login.html", form=form), 429
            user = attempt.user
            if user is not None:
                session_user = SessionUser(user)
        if attempt.to_note:
            with runtime.transaction() as session:
                user = note_sign_in(session, attempt)
                if user is not None:
                    session_user = SessionUser(user)
        if user is None:
            form.password.errors = ["Wrong user name or password."]
            status = 401
        else:
            login_user(session_user)
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        status = 400
    return render_template("web/login.html", form=form), status


@web.post("/logout")
@login_required
def logout() -> Any:
    """Sign out here and everywhere: a copy of this session's cookie stops working too."""
    with get_runtime().transaction() as session:
        user = session.get(User, current_user.actor.user_id)
        if user is not None:
            end_sessions(user)
    logout_user()
    flash("You are signed out.")
    return redirect(url_for("web.login"))


@web.get("/")
@login_required
def home() -> Any:
    runtime = get_runtime()
    with runtime.transaction() as session:
        access = load_access(session, current_user.actor)
        model = runtime.model(session)
        entities = []
        for entity in model.entities.values():
            if not access.can("read", entity.key):
                continue
            query = select(func.count()).select_from(entity.table)
            scope = access.scope_clause("read", entity.key, entity.table)
            if scope is not None:
                query = query.where(scope)
            entities.append((entity, session.scalar(query)))
        administrators = [] if entities else _administrators(session)
    return render_template(
        "web/home.html",
        entities=entities,
        administrators=administrators,
        has_entity_types=bool(model.entities),
    )


def _administrators(session: Any) -> list[str]:
    """Whom a user without any access can ask: the active administrators, by name."""
    rows = session.execute(
        select(User.display_name, User.username)
        .join(user_roles)
        .join(Role)
        .where(Role.key == "admin", User.is_active.is_(True))
        .order_by(User.username)
    )
    return [display or username for display, username in rows]
