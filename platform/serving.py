"""The production server: waitress with several threads and the platform's body limit."""

from __future__ import annotations

from typing import Any

from flask import Flask
from waitress import create_server

from trellis.limits import server_body_limit


def make_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server for ``app`` (``.run()`` serves until stopped; port 0 picks one)."""
    settings = app.config["TRELLIS"]
    return create_server(
        app,
        host=host,
        port=port,
        threads=settings["THREADS"],
        max_request_body_size=server_body_limit(settings),
    )
