"""Trellis served by waitress in a thread, for tests that talk real HTTP to it.

Stopping it is the subtle part: ``server.close()`` called from the test's thread closes the
loop's wake-up pipe and sockets while the loop thread may be inside ``select()`` on them, and
that thread then dies of ``EBADF`` (pytest reports the unhandled thread exception as a failure
of whichever test was running). So the closing runs in the loop's own thread, handed over
through the server's trigger; with nothing left to watch the loop returns, then the worker
threads are let go.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from waitress import wasyncore

from trellis.serving import make_server


@contextmanager
def waitress_serving(app: Any) -> Iterator[Any]:
    """The running server (``server.effective_port``) while the block runs; stopped after."""
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the server's loop did not stop"
