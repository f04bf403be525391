"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    g,
    has_request_context,
    jsonify,
    request,
)
from flask.globals import request_ctx
from werkzeug.middleware.proxy_fix import ProxyFix

from trellis import limits
from trellis.admin import register_admin
from trellis.api import register_api
from trellis.cli import register_commands
from trellis.errors import TrellisError
from trellis.runtime import Runtime, get_runtime, get_runtime_of
from trellis.unstorable import refuse_in_url
from trellis.web import register_web
from trellis.words import counted, mid_sentence

__all__ = ["create_app", "get_runtime", "get_runtime_of"]  # the accessors live in runtime

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Requests that only read: their transactions are read-only (see Runtime.transaction)."""


class PlatformFlask(Flask):
    """Flask, deciding once per function whether it is a coroutine function: Flask asks on
    every call of every hook and view (``ensure_sync``: about a dozen ``inspect`` checks a
    request), and the answer never changes.

    Requests to a bearer-only blueprint (:meth:`bearer_only`: the API, which authenticates
    every call by its bearer token and has no browser session) skip the request hooks that
    serve browsers only (:meth:`browser_hooks`: Flask-WTF's CSRF check, Flask-Login's
    remember cookie), which did nothing there but cost every API call their time."""

    _SYNC_MAX = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bearer_only: frozenset[str] = frozenset()
        self._browser_hooks: frozenset[Callable[..., Any]] = frozenset()

    def bearer_only(self, names: Iterable[str]) -> None:
        """The blueprints (by name) whose requests authenticate by bearer token only."""
        self._bearer_only = self._bearer_only | set(names)

    @contextmanager
    def browser_hooks(self) -> Iterator[None]:
        """The request hooks added in the block (an extension's ``init_app``) serve browser
        requests only: requests to a bearer-only blueprint do not run them."""
        known = self._request_hooks()
        yield
        self._browser_hooks = self._browser_hooks | (self._request_hooks() - known)

    def _request_hooks(self) -> set[Callable[..., Any]]:
        tables = (self.before_request_funcs, self.after_request_funcs)
        return {hook for table in tables for hooks in table.values() for hook in hooks}

    def _browser_request(self) -> bool:
        """Whether the current request runs the browser hooks (it is to no bearer-only
        blueprint, or there are no such hooks)."""
        if not self._browser_hooks:
            return True
        blueprints = request.blueprints  # the request's blueprint, then its parents
        return not blueprints or blueprints[-1] not in self._bearer_only

    def preprocess_request(self) -> Any:
        """Flask's, without the browser hooks on a bearer-only blueprint's request."""
        if self._browser_request():
            return super().preprocess_request()
        req = request._get_current_object()  # type: ignore[attr-defined]
        names = (None, *reversed(req.blueprints))
        for name in names:
            for url_func in self.url_value_preprocessors.get(name, ()):
                url_func(req.endpoint, req.view_args)
        browser = self._browser_hooks
        for name in names:
            for hook in self.before_request_funcs.get(name, ()):
                if hook not in browser:
                    answer = self.ensure_sync(hook)()
                    if answer is not None:
                        return answer
        return None

    def process_response(self, response: Response) -> Response:
        """Flask's, without the browser hooks on a bearer-only blueprint's request."""
        if self._browser_request():
            return super().process_response(response)
        ctx = request_ctx._get_current_object()  # type: ignore[attr-defined]
        for func in ctx._after_request_functions:
            response = self.ensure_sync(func)(response)
        browser = self._browser_hooks
        for name in chain(ctx.request.blueprints, (None,)):
            for hook in reversed(self.after_request_funcs.get(name, ())):
                if hook not in browser:
                    response = self.ensure_sync(hook)(response)
        if not self.session_interface.is_null_session(ctx._session):
            self.session_interface.save_session(self, ctx._session, response)
        return response

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        known = self.__dict__.setdefault("_trellis_sync", {})
        try:
            found = known.get(func)
        except TypeError:  # not hashable: ask Flask every time
            return super().ensure_sync(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(known) < self._SYNC_MAX:  # hooks and views: a fixed set
                known[func] = found
        return found


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app. ``config`` overrides settings (``DATABASE_URL``, ``SECRET_KEY``...)."""
    runtime = Runtime.from_settings(config)
    # trellis is a namespace package (no __init__.py), so Flask needs the root path given
    app = PlatformFlask(  # templates/ beside this file holds the app-wide pages (errors)
        "trellis",
        root_path=str(Path(__file__).parent),
        instance_path=runtime.settings["INSTANCE_PATH"],
    )
    app.config.update(SECRET_KEY=runtime.settings["SECRET_KEY"], TRELLIS=runtime.settings)
    hops = runtime.settings["PROXY_HOPS"]
    if hops:  # the client's address and scheme as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    limits.configure(app, runtime.settings)
    app.extensions["trellis"] = runtime
    runtime.reads_only = lambda: has_request_context() and request.method in SAFE_METHODS
    runtime.request_scope = lambda: g._get_current_object() if has_request_context() else None
    app.teardown_request(runtime.end_request)
    app.add_template_filter(counted, "counted")
    app.add_template_filter(mid_sentence, "mid_sentence")

    register_commands(app)
    register_api(app)
    register_web(app, bearer_only=[app.blueprints["api"]])
    app.bearer_only(["api"])
    register_admin(app)

    # the browser's pages and the admin (the API runs it as its own hook, before its token)
    app.before_request(refuse_in_url)

    @app.errorhandler(TrellisError)
    def platform_error(error: TrellisError) -> Any:
        """Pages outside the API: a typed error is a page with its status, never a 500 (and
        ``Retry-After`` when it says when to try again, as a busy database does)."""
        retry_after = getattr(error, "retry_after", None)
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        # without the context processors: the page needs no signed-in user, and loading one
        # may be what failed (a busy database while a signed-in user's POST began)
        page = app.jinja_env.get_template("error.html").render(
            status=error.status, title=error.title, detail=error.detail
        )
        return page, error.status, headers

    @app.get("/healthz")
    def health() -> Any:
        """Liveness for load balancers: says nothing about the data."""
        return jsonify(status="ok")

    return app
