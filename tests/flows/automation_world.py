"""Shared setup of the automation, outbox and worker tests: a small CRM (leads with a
pipeline, deals, a lead -> deal conversion map), two users, a webhook receiver, and helpers
that go through the real services. Test modules make their fixtures from these."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from signed_in import Browser

from trellis.accounts import create_user
from trellis.conversion.maps import ConversionMaps
from trellis.flows.automations import save_automation
from trellis.flows.webhooks import save_webhook

SECRET = "a-shared-secret-of-some-length"


def build_crm(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity(
        "lead",
        {"name": ("text", {"required": True}), "amount": "integer", "note": "text"},
        title="{name}",
        pipelines={"sales": ["new", "qualified", "converted:success", "junk:failure"]},
    )
    factory.entity("deal", {"subject": "text", "amount": "integer"}, title="{subject}")
    with runtime.transaction() as session:
        ConversionMaps(session, runtime.cache, _system()).save(
            "lead_to_deal",
            "lead",
            {"deal": {"fields": {"subject": "name", "amount": "amount"}}},
            create=True,
        )
        create_user(session, "alice", "correct-horse-battery", ["user"])
        create_user(session, "bob", "correct-horse-battery", ["admin"])


def _system():  # type: ignore[no-untyped-def]
    from trellis.accounts import SYSTEM

    return SYSTEM


def add_automation(runtime, key: str, entity: str = "lead", **data: Any):  # type: ignore[no-untyped-def]
    """Save an automation through the service (``trigger`` and ``actions`` as data)."""
    with runtime.transaction() as session:
        return save_automation(
            session, runtime.model(session), key, {"entity": entity, **data}, create=True
        )


def add_webhook(runtime, key: str, url: str, secret: str = SECRET) -> None:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        save_webhook(session, runtime.settings["SECRET_KEY"], key, url, secret=secret, create=True)


class Receiver:
    """A local HTTP server that checks each webhook's signature and answers with the next
    status of ``statuses`` (the last one repeats)."""

    def __init__(self, statuses: list[int], secret: str = SECRET) -> None:
        self.statuses = list(statuses)
        self.secret = secret
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                stamp = self.headers["X-Trellis-Timestamp"]
                expected = (
                    "sha256="
                    + hmac.new(
                        receiver.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256
                    ).hexdigest()
                )
                valid = hmac.compare_digest(expected, self.headers["X-Trellis-Signature"])
                with receiver.lock:
                    status = receiver.statuses[0]
                    if len(receiver.statuses) > 1:
                        receiver.statuses.pop(0)
                    receiver.calls.append(
                        {
                            "body": json.loads(body),
                            "valid": valid,
                            "delivery": self.headers["X-Trellis-Delivery"],
                            "status": status,
                        }
                    )
                self.send_response(status if valid else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ERROR = re.compile(r'data-error-for="([\w.]+)">([^<]+)<')


class SignedIn(Browser):
    """A test client signed in through the login form; ``post`` takes the form's values as
    keywords and adds the CSRF token."""

    def post(self, path: str, /, **data):  # type: ignore[no-untyped-def,override]
        return super().post(path, data)


def errors_on(response) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """The messages a page shows under its inputs, by input name."""
    found: dict[str, list[str]] = {}
    for key, message in ERROR.findall(response.get_data(as_text=True)):
        found.setdefault(key, []).append(html.unescape(message))
    return found
