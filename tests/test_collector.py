"""``trellis.collector.collector_paused``: the cyclic garbage collector is off inside, on
again after the last pause ends (nested or in another thread), left off when it was off
before, and back on after a failure; an import and a batch of creates run inside one."""

from __future__ import annotations

import gc
import threading

import pytest

from trellis.collector import collector_paused
from trellis.records.importer import import_csv


@pytest.fixture(autouse=True)
def _collector_on():  # type: ignore[no-untyped-def]
    gc.enable()
    yield
    gc.enable()


def test_a_pause_turns_the_collector_off_and_on_again() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # (the outer pause still runs)
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("failed")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_pauses_in_two_threads_end_with_the_last_one() -> None:
    entered, release, seen = threading.Event(), threading.Event(), []

    def other() -> None:
        with collector_paused():
            entered.set()
            release.wait(5)
        seen.append(gc.isenabled())

    thread = threading.Thread(target=other)
    with collector_paused():
        thread.start()
        assert entered.wait(5)
    assert not gc.isenabled()  # (the other thread's pause still runs)
    release.set()
    thread.join(5)
    assert seen == [True] and gc.isenabled()


def test_an_import_and_its_batches_run_with_the_collector_paused(factory, runtime) -> None:  # type: ignore[no-untyped-def]
    factory.entity("part", {"name": "text", "code": "text"}, title="{name}")
    seen: list[bool] = []
    runtime.events.subscribe("created", lambda _session, _event: seen.append(gc.isenabled()))
    csv = "Name,Code\n" + "".join(f"Part {i},P{i}\n" for i in range(30))
    with runtime.transaction() as session:
        report = import_csv(runtime.records(session), "part", csv)
    assert report.ok and len(seen) == 30 and not any(seen)
    assert gc.isenabled()
    with runtime.transaction() as session:
        runtime.records(session).create_many("part", [{"name": "A"}, {"name": "B"}])
    assert seen[30:] == [False, False] and gc.isenabled()
