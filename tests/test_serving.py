"""``trellis serve``'s server: enough threads and connections for a browser fetching a page
and its assets at once without "Task queue depth" warnings, and one access log line per
request through Python logging."""

from __future__ import annotations

import gc
import http.client
import logging
import threading

from live_waitress import stop, waitress_serving

from trellis.serving import make_server, settle_start_up


def test_every_request_gets_an_access_log_line(app, caplog) -> None:  # type: ignore[no-untyped-def]
    with waitress_serving(app) as server, caplog.at_level(logging.INFO, logger="trellis.access"):
        for path in ("/healthz?probe=1", "/no-such-page", "/favicon.ico"):
            connection = http.client.HTTPConnection("127.0.0.1", server.effective_port)
            connection.request("GET", path)
            connection.getresponse().read()
            connection.close()
        for _ in range(50):  # the line is written once the answer is sent
            if len(caplog.records) >= 3:
                break
            threading.Event().wait(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "trellis.access"]
    assert len(lines) == 3, lines
    # each line is written once its answer is sent, so the order of the lines may differ
    by_path = {line.split('"')[1]: line for line in lines}
    assert by_path["GET /healthz?probe=1 HTTP/1.1"].startswith(
        '127.0.0.1 "GET /healthz?probe=1 HTTP/1.1" 200 '
    )
    assert '"GET /no-such-page HTTP/1.1" 404 ' in by_path["GET /no-such-page HTTP/1.1"]
    assert all(line.endswith(" ms") for line in lines)


def test_threads_and_connections_suit_a_browser(app) -> None:  # type: ignore[no-untyped-def]
    server = make_server(app, "127.0.0.1", 0)
    try:
        assert server.adj.threads >= 16
        assert server.adj.connection_limit >= 200
        # a request waiting a moment for a thread is no warning in the server's log
        assert not logging.getLogger("waitress.queue").isEnabledFor(logging.WARNING)
    finally:
        server.close()


def test_the_test_server_stops_when_its_wake_up_pipe_is_gone(app) -> None:  # type: ignore[no-untyped-def]
    """Seen once in CI: the pipe waitress' loop wakes up on was no longer open when a module's
    server was stopped (``os.write`` -> EBADF), which failed the teardown. Stopping must not
    depend on it."""
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=5)
    connection.request("GET", "/healthz")
    assert connection.getresponse().status == 200
    real = server.trigger.trigger
    server.trigger.trigger = 1_000_000  # a descriptor number nothing has open
    try:
        stop(server, thread)
    finally:
        server.trigger.trigger = real
        connection.close()
    assert not thread.is_alive()
    assert server._map == {}


def test_start_up_compiles_the_configuration_and_freezes_it_for_the_collector(runtime) -> None:  # type: ignore[no-untyped-def]
    """``trellis serve`` compiles the configuration before serving and freezes what start-up
    made: the collector's full passes no longer walk the compiled model (it is not among the
    objects the collector tracks); the first request finds it compiled."""
    gc.unfreeze()
    try:
        settle_start_up(runtime)
        assert gc.get_freeze_count() > 0
        with runtime.transaction() as session:
            model = runtime.model(session)
        assert not any(obj is model for obj in gc.get_objects())
        gc.unfreeze()
        assert any(obj is model for obj in gc.get_objects())
    finally:
        gc.unfreeze()
