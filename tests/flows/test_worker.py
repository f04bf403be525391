"""The worker (issue 13, deliverable 8): jobs with a clock passed in, several workers
sharing the outbox without delivering an entry twice, ``trellis worker --once``, and the
worker thread of ``trellis serve``."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime

import pytest
from automation_world import Receiver, add_automation, add_webhook
from sqlalchemy import func, select, text

from trellis.flows.outbox import OutboxEntry
from trellis.flows.worker import JOBS, Worker, register_job, start_in_thread
from trellis.runtime import Runtime


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    receiver = Receiver([200])
    yield receiver
    receiver.close()


def make_entries(runtime, factory, url: str, count: int) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", url)
    add_automation(
        runtime, "to_erp", trigger={"on": "create"}, actions=[{"type": "webhook", "webhook": "erp"}]
    )
    with runtime.transaction() as session:
        service = runtime.records(session)
        for i in range(count):
            service.create("lead", {"name": f"Lead {i}"})


def test_two_workers_racing_deliver_each_entry_exactly_once(
    crm, runtime, factory, settings, server
) -> None:  # type: ignore[no-untyped-def]
    make_entries(runtime, factory, server.url, 40)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        own = Runtime.from_settings(settings)  # its own engine and connections
        try:
            worker = Worker(own, ["outbox"])
            start.wait()
            for _ in range(200):
                if not worker.run_once()["outbox"]:
                    with own.transaction() as session:
                        left = session.scalar(
                            select(func.count())
                            .select_from(OutboxEntry)
                            .where(OutboxEntry.status != "delivered")
                        )
                    if not left:
                        return
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    deliveries = Counter(call["delivery"] for call in server.calls)
    with runtime.transaction() as session:
        rows = session.execute(select(OutboxEntry.id, OutboxEntry.status, OutboxEntry.attempts))
        rows = list(rows)
    assert len(rows) == 40
    assert all(status == "delivered" and attempts == 1 for _, status, attempts in rows)
    assert deliveries == {str(entry_id): 1 for entry_id, _, _ in rows}


def test_jobs_get_the_clock_and_run_in_a_transaction(runtime) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[datetime, int]] = []

    def job(session, now):  # type: ignore[no-untyped-def]
        seen.append((now, session.execute(text("SELECT 1")).scalar()))
        return 3

    register_job("test_clock", job)
    try:
        when = datetime(2030, 1, 2, 3, 4, 5)
        assert Worker(runtime, ["test_clock"]).run_once(when) == {"test_clock": 3}
        assert seen == [(when, 1)]
    finally:
        JOBS.pop("test_clock")


def test_a_failing_job_does_not_stop_the_others(runtime) -> None:  # type: ignore[no-untyped-def]
    def broken(session, now):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    register_job("test_broken", broken)
    try:
        done = Worker(runtime, ["test_broken", "outbox"]).run_once()
        assert done == {"test_broken": 0, "outbox": 0}
    finally:
        JOBS.pop("test_broken")


def test_trellis_worker_once_processes_due_work(app, runner, crm, runtime, factory, server) -> None:  # type: ignore[no-untyped-def]
    make_entries(runtime, factory, server.url, 3)
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "3 items of due work processed" in result.output
    assert len(server.calls) == 3
    result = runner.invoke(args=["worker", "--once", "--job", "nothing"])
    assert result.exit_code != 0 and "unknown job nothing" in result.output


def test_the_worker_thread_delivers_in_the_background(crm, runtime, factory, server) -> None:  # type: ignore[no-untyped-def]
    make_entries(runtime, factory, server.url, 2)
    thread, stop = start_in_thread(runtime, idle=0.05)
    try:
        for _ in range(200):
            if len(server.calls) == 2:
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert len(server.calls) == 2 and not thread.is_alive()


def test_serve_runs_the_worker_unless_turned_off(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from trellis.settings import load_settings

    assert load_settings({"SECRET_KEY": "x"})["WORKER"] is True
    monkeypatch.setenv("TRELLIS_WORKER", "0")
    assert load_settings({"SECRET_KEY": "x"})["WORKER"] is False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_trellis_serve_runs_the_worker_in_a_thread(
    crm, runtime, factory, settings, server, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    import time

    make_entries(runtime, factory, server.url, 1)
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": settings["DATABASE_URL"],
        "TRELLIS_SECRET_KEY": settings["SECRET_KEY"],  # the webhook's secret is sealed with it
        "TRELLIS_INSTANCE_PATH": str(tmp_path / "instance"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trellis.cli", "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not server.calls and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert len(server.calls) == 1, output
    assert "background worker runs in this process" in output
