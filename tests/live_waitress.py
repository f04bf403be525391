"""Trellis served by waitress in a thread, for tests that talk real HTTP to it.

Stopping it is the subtle part. Closing the server's sockets and wake-up pipe from the test's
thread while the loop thread sits in ``select()`` on them kills that thread with ``EBADF``
(pytest reports the unhandled thread exception as a failure of whichever test was running).
Handing the closing to the loop thread through the wake-up pipe depends on that pipe being
intact, and once in CI (PostgreSQL, the generated-client module) its descriptor was already
gone when the test ended (``os.write`` -> ``EBADF``), which then failed the module's teardown.

So the loop is stopped without relying on any of its descriptors: its dispatchers are taken
out of its map (the loop ends when the map is empty, within ``asyncore_loop_timeout``; a wake-up
is tried first to make that immediate), the worker threads finish what they run, and only then,
with no thread selecting on them, are the dispatchers closed (``close_all`` ignores a descriptor
that is already closed).
"""

from __future__ import annotations

import contextlib
import threading
import time
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
        stop(server, thread)


def stop(server: Any, thread: threading.Thread, timeout: float = 10) -> None:
    """End the server's loop and worker threads, then close its sockets and pipe."""
    taken: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    while True:
        # a connection accepted meanwhile lands in the map again: take it too
        taken.update(server._map)
        server._map.clear()
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger()  # wakes select() at once when the pipe is intact
        thread.join(timeout=0.1)
        if not thread.is_alive() or time.monotonic() > deadline:
            break
    server.task_dispatcher.shutdown()
    wasyncore.close_all(taken)
    assert not thread.is_alive(), "the server's loop did not stop"
