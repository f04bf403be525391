"""Webhooks: a URL and a shared secret, called by the ``webhook`` action through the outbox.

Each call is a POST of a JSON body (the event and the record as the API shows it) with these
headers, so the receiver can check it came from Trellis and is fresh:

- ``X-Trellis-Timestamp``: seconds since the epoch when it was sent;
- ``X-Trellis-Signature``: ``sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` keyed with
  the webhook's secret;
- ``X-Trellis-Delivery``: the outbox entry's id (the same on every retry of one effect, so a
  receiver can drop a repeat).

The secret is shown once, when it is set; the table keeps it sealed with a key derived from
the installation's ``SECRET_KEY`` (HMAC-SHA256 keystream and tag), and lists show only its
last four characters. Changing ``SECRET_KEY`` makes sealed secrets unreadable: deliveries then
fail with a clear error until the secret is set again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from trellis.clock import utcnow
from trellis.db import Base
from trellis.errors import NotFound
from trellis.flows.outbox import Claimed, DeliveryFailed, register_deliverer
from trellis.metamodel.changes import Errors
from trellis.patterns import fixed

KEY_PATTERN = fixed(r"^[a-z][a-z0-9_]{0,39}$")
SIGNATURE_HEADER = "X-Trellis-Signature"
TIMESTAMP_HEADER = "X-Trellis-Timestamp"
DELIVERY_HEADER = "X-Trellis-Delivery"
#: seconds a receiver has to answer
TIMEOUT = 10
MIN_SECRET_LENGTH = 16


class Webhook(Base):
    """Where the ``webhook`` action posts to."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(String(2000))
    secret_sealed: Mapped[str] = mapped_column(String(400))
    #: the secret's last four characters, to tell secrets apart in lists
    secret_hint: Mapped[str] = mapped_column(String(8), default="")
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# -- the secret at rest ----------------------------------------------------------------------


def _sealing_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"trellis webhook secret", hashlib.sha256).digest()


def _keystream(key: bytes, nonce: bytes, length: int) -> bytes:
    blocks = (length + 31) // 32
    return b"".join(
        hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(blocks)
    )[:length]


def seal(secret: str, secret_key: str) -> str:
    """``secret`` encrypted and authenticated with a key derived from ``secret_key``."""
    key, nonce, plain = _sealing_key(secret_key), secrets.token_bytes(16), secret.encode()
    cipher = bytes(a ^ b for a, b in zip(plain, _keystream(key, nonce, len(plain)), strict=True))
    tag = hmac.new(key, b"tag" + nonce + cipher, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(nonce + cipher + tag).decode()


def unseal(sealed: str, secret_key: str) -> str:
    """The secret back; :class:`DeliveryFailed` if it was sealed with another key."""
    key = _sealing_key(secret_key)
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
    except ValueError as exc:
        raise DeliveryFailed("The webhook's secret is damaged; set it again.") from exc
    nonce, cipher, tag = raw[:16], raw[16:-16], raw[-16:]
    expected = hmac.new(key, b"tag" + nonce + cipher, hashlib.sha256).digest()[:16]
    if len(raw) < 32 or not hmac.compare_digest(tag, expected):
        raise DeliveryFailed(
            "The webhook's secret cannot be read (the installation's SECRET_KEY changed); "
            "set the secret again."
        )
    plain = bytes(a ^ b for a, b in zip(cipher, _keystream(key, nonce, len(cipher)), strict=True))
    return plain.decode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# -- the table, through one service --------------------------------------------------------


def save_webhook(
    session: Session,
    secret_key: str,
    key: str,
    url: str,
    *,
    label: str = "",
    secret: str | None = None,
    active: bool = True,
    create: bool = False,
) -> tuple[Webhook, str | None]:
    """Create or change a webhook; every problem is reported at once. A new webhook without
    a ``secret`` gets a generated one. Returns the webhook and the secret if one was set now
    (to show once), else None."""
    errors = Errors()
    existing = session.scalar(select(Webhook).where(Webhook.key == key))
    if create:
        if not KEY_PATTERN.match(key or ""):
            errors.add("key", "Use lower-case letters, digits and underscores (at most 40).")
        elif existing is not None:
            errors.add("key", f"A webhook {key!r} exists already.")
    elif existing is None:
        raise NotFound(f"No webhook {key!r}.")
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        errors.add("url", "An http:// or https:// address.")
    elif len(url) > 2000:
        errors.add("url", "At most 2000 characters.")
    if len(label or "") > 100:
        errors.add("label", "At most 100 characters.")
    if secret is not None and secret != "" and len(secret) < MIN_SECRET_LENGTH:
        errors.add("secret", f"At least {MIN_SECRET_LENGTH} characters (or leave it empty).")
    errors.raise_if_any()
    shown = None
    if create:
        shown = secret or new_secret()
        row = Webhook(key=key, url=url, label=label or key, active=active)
        session.add(row)
    else:
        row = existing  # type: ignore[assignment]
        row.url, row.label, row.active = url, label or row.label, active
        if secret:
            shown = secret
    if shown is not None:
        row.secret_sealed = seal(shown, secret_key)
        row.secret_hint = shown[-4:]
    session.flush()
    return row, shown


def webhook_keys(session: Session) -> dict[str, bool]:
    """Every webhook's key and whether it is active."""
    return {key: active for key, active in session.execute(select(Webhook.key, Webhook.active))}


# -- delivery (the outbox calls this) --------------------------------------------------------


def deliver_webhook(runtime: Any, claimed: Claimed) -> None:
    """POST the entry's payload to its webhook, signed; anything but a 2xx answer fails."""
    with runtime.transaction(read_only=True) as session:
        hook = session.scalar(select(Webhook).where(Webhook.key == claimed.target))
        if hook is None:
            raise DeliveryFailed(f"The webhook {claimed.target!r} no longer exists.")
        if not hook.active:  # kept and retried: switching it on again sends it
            raise DeliveryFailed(f"The webhook {claimed.target!r} is switched off.")
        url, sealed = hook.url, hook.secret_sealed
    secret = unseal(sealed, runtime.settings["SECRET_KEY"])
    body = json.dumps(claimed.payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Trellis-Webhook",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            DELIVERY_HEADER: str(claimed.id),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code} {exc.reason} from {url}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryFailed(f"Cannot reach {url}: {reason}") from exc


register_deliverer("webhook", deliver_webhook)
