"""The production server: waitress with several threads, the platform's body limit and an
access log line per request through Python logging (logger ``trellis.access``)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from waitress import create_server

from trellis.limits import server_body_limit
from trellis.runtime import Runtime

access_log = logging.getLogger("trellis.access")

#: open connections waitress keeps (browsers open several each, keep-alive holds them)
CONNECTION_LIMIT = 200
#: seconds an idle connection stays open
CHANNEL_TIMEOUT = 60


def make_server(app: Flask, host: str, port: int) -> Any:
    """A waitress server for ``app`` (``.run()`` serves until stopped; port 0 picks one)."""
    settings = app.config["TRELLIS"]
    # "Task queue depth is N" means a request waited for a free thread for a moment: with a
    # browser fetching a page and its assets at once that is normal, not worth a warning
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return create_server(
        AccessLog(app),
        host=host,
        port=port,
        threads=settings["THREADS"],
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT,
        max_request_body_size=server_body_limit(settings),
        ident="Trellis",
    )


def settle_start_up(runtime: Runtime) -> None:
    """Compile the configuration, then collect once and freeze what is alive (``gc.freeze``)
    before serving: the imported modules and the compiled configuration (some 130,000
    objects) live as long as the process, and every full pass of the collector walked them
    again: ~60 ms, once every few thousand records a batch wrote (an eighth of an import's
    time), and a pause of that length under whichever request ran into it. Frozen objects
    are still freed by reference counting; the collector just never walks them, so cycles
    among them stay (once: the start-up's compiled configuration, when a change replaces it,
    is kept as long as the process; later ones are collected as before)."""
    with runtime.transaction() as session:
        runtime.model(session)
    gc.collect()
    gc.freeze()


def configure_logging(level: int = logging.INFO) -> None:
    """Log lines to standard error with a time stamp, unless logging is set up already."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        root.setLevel(min(root.level or level, level))


class AccessLog:
    """WSGI middleware: one line per request once its answer is sent, e.g.
    ``127.0.0.1 "GET /records/deal HTTP/1.1" 200 5120 12 ms``."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        answer: dict[str, str] = {"status": "-", "length": "-"}

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer["status"] = status.split(" ", 1)[0]
            answer["length"] = next(
                (v for k, v in headers if k.lower() == "content-length"), answer["length"]
            )
            return start_response(status, headers, exc_info)

        body = self.app(environ, start)
        return _Logged(body, lambda: self._log(environ, answer, started))

    @staticmethod
    def _log(environ: dict[str, Any], answer: dict[str, str], started: float) -> None:
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        access_log.info(
            '%s "%s %s %s" %s %s %d ms',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD", "-"),
            path,
            environ.get("SERVER_PROTOCOL", "-"),
            answer["status"],
            answer["length"],
            (time.perf_counter() - started) * 1000,
        )


class _Logged:
    """The app's body, passed through; logs when the server closes it (the answer is sent)."""

    def __init__(self, body: Iterable[bytes], done: Callable[[], None]) -> None:
        self.body, self.done = body, done

    def __iter__(self) -> Any:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()
