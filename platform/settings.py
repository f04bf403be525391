"""Settings read from the environment or a config file.

``TRELLIS_DATABASE_URL`` names the database (default: a SQLite file under ``./instance/``);
``TRELLIS_CONFIG`` may name a Python or TOML file whose upper-case keys are loaded too.
Environment variables win over the file. ``TRELLIS_SECURE_COOKIES=1`` marks the session and
remember-me cookies ``Secure`` (sent over HTTPS only): turn it on wherever Trellis is served
over HTTPS. ``TRELLIS_PROXY_HOPS=N`` trusts the ``X-Forwarded-For`` and ``X-Forwarded-Proto``
headers of N reverse proxies in front of Trellis (the client address counts failed logins);
leave it at 0 when clients reach Trellis directly, or they could claim any address.
``TRELLIS_WORKER=0`` stops ``trellis serve`` from running the background worker in a thread
(run ``trellis worker`` processes instead). ``TRELLIS_OUTBOX_RETENTION_DAYS`` (default 7) and
``TRELLIS_OUTBOX_FAILED_RETENTION_DAYS`` (default 90) say how long delivered and failed outbox
entries are kept before the worker removes them.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

ENV_PREFIX = "TRELLIS_"
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,
    "INSTANCE_PATH": "instance",
    "SECRET_KEY": None,
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "THREADS": 16,
    "SECURE_COOKIES": False,
    "PROXY_HOPS": 0,
    #: the largest request body in bytes (JSON, forms) and the largest CSV upload
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_UPLOAD_LENGTH": 20 * 1024 * 1024,
    #: ``trellis serve`` runs the background worker (outbox, timers) in a thread; turn it off
    #: (``TRELLIS_WORKER=0``) where separate ``trellis worker`` processes run
    "WORKER": True,
    #: the worker removes delivered outbox entries this many days after delivery, and failed
    #: ones (shown to the administrator until then) this many days after their last attempt
    "OUTBOX_RETENTION_DAYS": 7,
    "OUTBOX_FAILED_RETENTION_DAYS": 90,
}


def load_settings(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the effective settings: defaults < config file < environment < ``overrides``."""
    settings = dict(DEFAULTS)
    config_file = os.environ.get(ENV_PREFIX + "CONFIG")
    if config_file:
        settings.update(_read_config_file(Path(config_file)))
    for key in DEFAULTS:
        value = os.environ.get(ENV_PREFIX + key)
        if value is not None:
            settings[key] = value
    settings.update(overrides or {})
    instance = Path(settings["INSTANCE_PATH"]).resolve()
    settings["INSTANCE_PATH"] = str(instance)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'trellis.db'}"
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _instance_secret(instance)
    settings["PORT"] = int(settings["PORT"])
    for key in (
        "THREADS",
        "MAX_CONTENT_LENGTH",
        "MAX_UPLOAD_LENGTH",
        "OUTBOX_RETENTION_DAYS",
        "OUTBOX_FAILED_RETENTION_DAYS",
    ):
        settings[key] = int(settings[key])
    settings["SECURE_COOKIES"] = _as_bool(settings["SECURE_COOKIES"])
    settings["WORKER"] = _as_bool(settings["WORKER"])
    settings["PROXY_HOPS"] = int(settings["PROXY_HOPS"])
    return settings


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _read_config_file(path: Path) -> dict[str, Any]:
    if path.suffix == ".toml":
        data = tomllib.loads(path.read_text())
        return {k.upper(): v for k, v in data.items()}
    namespace: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # the admin's own file
    return {k: v for k, v in namespace.items() if k.isupper()}


def _instance_secret(instance: Path) -> str:
    """A secret key kept in the instance folder, made once, so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # created private (never readable by others, not even for a moment); O_EXCL: a file that
    # appeared meanwhile (another worker's first start) is kept and read instead
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(descriptor, "w") as file:
        file.write(key)
    return key
