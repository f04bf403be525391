"""Security headers on every response: a Content Security Policy with a fresh nonce per
request, no framing, no MIME sniffing, no full referrer sent to other sites.

Scripts run only from our own origin or with the request's nonce (Flask-Admin's templates
put it on theirs; ours keep their scripts in static files and wire behaviour with
``data-`` attributes, since inline event handlers never run under this policy). Inline
``style`` attributes stay allowed: the app colours badges, stages and options from the
configured colours, and a style cannot run code. A small after-request hook of our own, not
flask-talisman: that would also force HTTPS redirects and Secure cookies on plain-HTTP
installs, which the ``SECURE_COOKIES`` setting decides here.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g
from werkzeug.datastructures import Headers

HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csp_nonce() -> str:
    """This request's script nonce (the same for every call within one request)."""
    state = g._get_current_object()  # one context lookup, not one per attribute
    nonce: str | None = getattr(state, "csp_nonce", None)
    if nonce is None:
        nonce = state.csp_nonce = secrets.token_urlsafe(16)  # letters, digits, - and _
    return nonce


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


_CSP_HEAD, _CSP_TAIL = content_security_policy("\x00").split("\x00")
#: the headers besides the policy, as (name, value) pairs checked once (werkzeug refuses a
#: value with a line break: made into Headers here, they would fail at import)
_CONSTANT = list(Headers(HEADERS).items())
_OURS = frozenset(name.lower() for name in ("Content-Security-Policy", *HEADERS))


def add_security_headers(response: Response) -> Response:
    """Each header the response does not have yet, in order (as ``setdefault`` would, which
    looks each header up through a raised KeyError, about 30 us a header).

    The pairs are appended to the headers' list as they are: the constant ones were checked
    when this module was imported and the policy's nonce is URL-safe base64, while werkzeug's
    ``extend`` would check each value again, and first ask of the list whether it is a
    mapping (together about 5 us a header, on every response)."""
    headers = response.headers
    ours = [("Content-Security-Policy", _CSP_HEAD + csp_nonce() + _CSP_TAIL), *_CONSTANT]
    if any(name.lower() in _OURS for name, _value in headers):  # the view set one itself
        present = {name.lower() for name, _value in headers}
        ours = [(name, value) for name, value in ours if name.lower() not in present]
    headers._list.extend(ours)  # what Headers.add appends, for values known to be valid
    return response


HSTS = "max-age=31536000; includeSubDomains"
"""Sent when the installation runs behind HTTPS (``SECURE_COOKIES``): browsers then refuse to
talk to it over plain HTTP for a year."""


def add_hsts(response: Response) -> Response:
    response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def register_security_headers(app: Flask, https: bool = False) -> None:
    """Every response of ``app`` gets the headers (HSTS too on an HTTPS installation);
    templates get ``csp_nonce()``."""
    app.after_request(add_security_headers)
    if https:
        app.after_request(add_hsts)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
