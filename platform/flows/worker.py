"""The worker: runs due background jobs in a loop (``trellis worker``), or in a thread of
``trellis serve`` (unless ``TRELLIS_WORKER=0``, for installs that run separate workers).

Jobs are registered by name. Each round runs every job once with the same clock value
(``now``, naive or aware UTC), so tests pass their own time:

- ``register_job(name, run)``: ``run(session, now) -> int`` runs inside a write transaction
  of its own (committed when it returns, rolled back if it raises);
- ``register_job(name, run, in_transaction=False)``: ``run(runtime, now) -> int`` manages its
  own transactions (the outbox delivers outside any transaction, so a slow receiver holds no
  lock).

The returned number says how much work was done (0: nothing was due). A job that fails is
logged and tried again next round; the other jobs still run. Modules named in
:data:`JOB_MODULES` register their jobs when imported (:func:`load_jobs`).

Several workers may run at once, on one machine or many: each job claims its work safely
(:func:`skip_locked` adds ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from trellis.clock import utcnow
from trellis.errors import Busy

log = logging.getLogger("trellis.worker")

#: modules that register jobs when imported
JOB_MODULES: list[str] = ["trellis.flows.outbox", "trellis.flows.timers"]
#: seconds between rounds when nothing was due
IDLE_SECONDS = 2.0

S = TypeVar("S", bound=Select[Any])


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Any, datetime], int]
    in_transaction: bool = True


JOBS: dict[str, Job] = {}


def register_job(
    name: str, run: Callable[[Any, datetime], int], *, in_transaction: bool = True
) -> None:
    """Run ``run`` every round: ``run(session, now)`` in a transaction of its own, or
    ``run(runtime, now)`` with ``in_transaction=False``. Registering a name again replaces it."""
    JOBS[name] = Job(name, run, in_transaction)


def load_jobs() -> dict[str, Job]:
    """Import the modules that register jobs; the registry."""
    for module in JOB_MODULES:
        importlib.import_module(module)
    return JOBS


def skip_locked(query: S, session: Session) -> S:
    """``query`` locking the rows it returns and skipping rows another worker has locked
    (PostgreSQL); unchanged on SQLite, where the write transaction is the lock."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


class Worker:
    """Runs the registered jobs of one runtime."""

    def __init__(self, runtime: Any, jobs: list[str] | None = None) -> None:
        self.runtime = runtime
        registry = load_jobs()
        self.jobs = [registry[name] for name in jobs] if jobs else list(registry.values())

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        """One round: every job once with the clock at ``now``; work done per job."""
        now = now or utcnow()
        done: dict[str, int] = {}
        for job in self.jobs:
            try:
                if job.in_transaction:
                    with self.runtime.transaction(read_only=False) as session:
                        done[job.name] = job.run(session, now)
                else:
                    done[job.name] = job.run(self.runtime, now)
            except Busy:
                done[job.name] = 0  # another writer holds SQLite's lock: next round
            except Exception:
                log.exception("worker job %s failed", job.name)
                done[job.name] = 0
        return done

    def run_until_idle(self, now: datetime | None = None, rounds: int = 100) -> int:
        """Rounds until nothing is due (at most ``rounds``); the work done in all."""
        total = 0
        for _ in range(rounds):
            done = sum(self.run_once(now).values())
            total += done
            if not done:
                break
        return total

    def run_forever(self, stop: threading.Event, idle: float = IDLE_SECONDS) -> None:
        """Rounds until ``stop`` is set; waits ``idle`` seconds after a round with no work."""
        log.info("worker started: %s", ", ".join(j.name for j in self.jobs))
        while not stop.is_set():
            if not sum(self.run_once().values()):
                stop.wait(idle)
        log.info("worker stopped")


def start_in_thread(
    runtime: Any, idle: float = IDLE_SECONDS
) -> tuple[threading.Thread, threading.Event]:
    """Run a worker in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(
        target=Worker(runtime).run_forever, args=(stop, idle), name="trellis-worker", daemon=True
    )
    thread.start()
    return thread, stop
