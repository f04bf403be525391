"""The browser side: session login (Flask-Login), CSRF on every form, shared layout and the
vendored assets (Bootstrap 4, jQuery, select2, Font Awesome shipped with Flask-Admin)."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import flask_admin
from flask import Blueprint, Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from trellis.web.headers import register_security_headers
from trellis.web.session import SessionUser, SignedCookieSessions, load_session_user

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = "Please sign in to continue."
login_manager.session_protection = "strong"

#: Flask-Admin's bundled static files, served without a CDN for every page
vendor = Blueprint(
    "vendor",
    __name__,
    static_folder=str(Path(flask_admin.__file__).parent / "static"),
    static_url_path="/vendor",
)


def register_web(app: Flask, bearer_only: Iterable[Blueprint] = ()) -> None:
    """Login, CSRF, security headers and the web blueprint. The blueprints in
    ``bearer_only`` (the API: it authenticates with bearer tokens, never with the session
    cookie) are left out of the CSRF check and their requests have no browser session."""
    bearer_only = list(bearer_only)
    from trellis.web import (  # noqa: F401  (routes)
        convert,
        imports,
        inbox,
        notifications,
        record_card,
        records,
    )
    from trellis.web.views import web

    # set, not setdefault: Flask pre-fills these keys (SAMESITE with None)
    secure = bool(app.config["TRELLIS"]["SECURE_COOKIES"])
    for cookie in ("SESSION_COOKIE", "REMEMBER_COOKIE"):
        app.config[f"{cookie}_HTTPONLY"] = True
        app.config[f"{cookie}_SAMESITE"] = "Lax"
        app.config[f"{cookie}_SECURE"] = secure
    register_security_headers(app, https=secure)
    app.session_interface = SignedCookieSessions(without=[b.url_prefix or "" for b in bearer_only])
    from trellis.web.field_inputs import user_choices

    app.jinja_env.globals["user_choices"] = user_choices  # user field selects, in any macro
    # requests to a bearer-only blueprint skip these hooks (``PlatformFlask``) and would find
    # nothing to do in them: the CSRF check exempts them, and they have no session to
    # remember a sign-in in
    with _browser_hooks(app):
        csrf.init_app(app)
        login_manager.init_app(app)
    for blueprint in bearer_only:
        csrf.exempt(blueprint)
    login_manager.user_loader(load_session_user)
    app.register_blueprint(vendor)
    app.register_blueprint(web)


def _browser_hooks(app: Flask) -> AbstractContextManager[None]:
    """The app's ``browser_hooks()`` (``trellis.app.PlatformFlask``); a plain Flask app
    runs every hook on every request."""
    browser_hooks = getattr(app, "browser_hooks", None)
    return nullcontext() if browser_hooks is None else browser_hooks()  # type: ignore[no-any-return]


__all__ = ["SessionUser", "register_web"]
