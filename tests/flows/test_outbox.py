"""The outbox (issue 13, deliverable 7): written in the record's transaction, delivered by
the worker to a local HTTP server with a verified signature, retried with backoff, failed
visibly and retried by the administrator, redelivered after a crashed claim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from automation_world import SECRET, Receiver, add_automation, add_webhook
from sqlalchemy import select

from trellis.clock import utcnow
from trellis.flows import outbox
from trellis.flows.outbox import OutboxEntry, claim_due, retry
from trellis.flows.webhooks import Webhook, seal, unseal
from trellis.flows.worker import Worker


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    made: list[Receiver] = []

    def make(statuses: list[int], secret: str = SECRET) -> Receiver:
        made.append(Receiver(statuses, secret))
        return made[-1]

    yield make
    for r in made:
        r.close()


def entries(runtime) -> list[OutboxEntry]:  # type: ignore[no-untyped-def]
    with runtime.transaction() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def webhook_on_create(runtime, url: str) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", url)
    add_automation(
        runtime, "to_erp", trigger={"on": "create"}, actions=[{"type": "webhook", "webhook": "erp"}]
    )


def test_webhook_delivered_after_a_failure_and_a_retry(crm, runtime, factory, receiver) -> None:  # type: ignore[no-untyped-def]
    server = receiver([500, 200])
    webhook_on_create(runtime, server.url)
    lead = factory.record("lead", name="Ann", amount=42)
    worker = Worker(runtime, ["outbox"])
    start = utcnow()
    assert worker.run_once(start) == {"outbox": 1}
    [entry] = entries(runtime)
    assert (entry.status, entry.attempts) == ("pending", 1)
    assert "HTTP 500" in entry.last_error
    assert entry.next_attempt_at == start + outbox.backoff(1)
    assert worker.run_once(start + timedelta(seconds=5)) == {"outbox": 0}  # not due yet
    assert worker.run_once(start + outbox.backoff(1)) == {"outbox": 1}
    [entry] = entries(runtime)
    assert (entry.status, entry.attempts, entry.last_error) == ("delivered", 2, None)
    assert [c["status"] for c in server.calls] == [500, 200]
    assert all(c["valid"] for c in server.calls)  # the server checked each signature
    assert {c["delivery"] for c in server.calls} == {str(entry.id)}
    body = server.calls[-1]["body"]
    assert body["record"]["id"] == lead.id and body["record"]["amount"] == 42
    assert body["entity"] == "lead" and body["event"] == "created"


def test_a_wrong_secret_is_refused_by_the_receiver(crm, runtime, factory, receiver) -> None:  # type: ignore[no-untyped-def]
    server = receiver([200], secret="another-secret-entirely")
    webhook_on_create(runtime, server.url)
    factory.record("lead", name="Ann")
    Worker(runtime, ["outbox"]).run_once()
    [entry] = entries(runtime)
    assert entry.status == "pending" and "HTTP 401" in entry.last_error
    assert server.calls[0]["valid"] is False


def test_after_the_last_attempt_the_entry_is_failed_and_kept(
    crm, runtime, factory, receiver
) -> None:  # type: ignore[no-untyped-def]
    server = receiver([503])
    webhook_on_create(runtime, server.url)
    factory.record("lead", name="Ann")
    worker = Worker(runtime, ["outbox"])
    now = utcnow()
    for _ in range(outbox.MAX_ATTEMPTS):
        assert worker.run_once(now) == {"outbox": 1}
        now += outbox.BACKOFF_CAP
    [entry] = entries(runtime)
    assert (entry.status, entry.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert worker.run_once(now + timedelta(days=1)) == {"outbox": 0}  # never tried again
    assert len(server.calls) == outbox.MAX_ATTEMPTS
    # the administrator retries it: it is delivered on the next round
    server.statuses = [200]
    with runtime.transaction() as session:
        retry(session, entry.id, now)
    assert worker.run_once(now) == {"outbox": 1}
    assert entries(runtime)[0].status == "delivered"


def test_no_outbox_row_when_the_record_write_rolls_back(crm, runtime, factory) -> None:  # type: ignore[no-untyped-def]
    webhook_on_create(runtime, "http://127.0.0.1:9/")
    with pytest.raises(RuntimeError), runtime.transaction() as session:
        runtime.records(session).create("lead", {"name": "Ann"})
        assert session.scalar(select(OutboxEntry.id)) is not None  # written with the record
        raise RuntimeError("the request failed after the write")
    assert entries(runtime) == []
    assert factory.records("list", "lead").total == 0


def test_a_crashed_claim_is_delivered_again_once_its_lease_expires(
    crm, runtime, factory, receiver
) -> None:  # type: ignore[no-untyped-def]
    server = receiver([200])
    webhook_on_create(runtime, server.url)
    factory.record("lead", name="Ann")
    now = utcnow()
    with runtime.transaction() as session:  # a worker claims it, then dies before reporting
        [claimed] = claim_due(session, now)
    worker = Worker(runtime, ["outbox"])
    assert worker.run_once(now + timedelta(seconds=10)) == {"outbox": 0}  # lease still held
    assert server.calls == []
    assert worker.run_once(now + outbox.LEASE + timedelta(seconds=1)) == {"outbox": 1}
    [entry] = entries(runtime)
    assert (entry.status, entry.attempts, len(server.calls)) == ("delivered", 2, 1)
    # the dead worker's late report changes nothing
    with runtime.transaction() as session:
        assert outbox.finish(session, claimed, now, "timed out") is False
    assert entries(runtime)[0].status == "delivered"


def test_the_secret_is_sealed_and_shown_only_by_its_end(crm, runtime) -> None:  # type: ignore[no-untyped-def]
    add_webhook(runtime, "erp", "http://127.0.0.1:9/", secret=SECRET)
    with runtime.transaction() as session:
        hook = session.scalars(select(Webhook)).one()
    assert SECRET not in hook.secret_sealed and hook.secret_hint == SECRET[-4:]
    assert unseal(hook.secret_sealed, runtime.settings["SECRET_KEY"]) == SECRET
    with pytest.raises(outbox.DeliveryFailed, match="SECRET_KEY changed"):
        unseal(seal(SECRET, "one key"), "another key")


def test_a_switched_off_webhook_keeps_its_entries_until_it_is_on_again(
    crm, runtime, factory, receiver
) -> None:  # type: ignore[no-untyped-def]
    from trellis.flows.webhooks import save_webhook

    server = receiver([200])
    webhook_on_create(runtime, server.url)
    factory.record("lead", name="Ann")
    key = runtime.settings["SECRET_KEY"]
    with runtime.transaction() as session:
        save_webhook(session, key, "erp", server.url, active=False)
    worker = Worker(runtime, ["outbox"])
    now = utcnow()
    worker.run_once(now)
    [entry] = entries(runtime)
    assert entry.status == "pending" and "switched off" in entry.last_error
    assert server.calls == []
    with runtime.transaction() as session:
        save_webhook(session, key, "erp", server.url, active=True)
    worker.run_once(now + outbox.backoff(1))
    assert entries(runtime)[0].status == "delivered" and len(server.calls) == 1


def test_claims_a_slow_batch_cannot_honour_are_handed_back_unsent(
    crm, runtime, factory, receiver, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # each delivery "takes" most of the lease: the second entry's turn comes too late to be
    # sure no other worker takes it over meanwhile, so it goes back unsent and uncounted
    server = receiver([200])
    webhook_on_create(runtime, server.url)
    factory.record("lead", name="Ann")
    factory.record("lead", name="Bo")
    clock = iter([0.0, 0.0, (outbox.LEASE - outbox.DELIVERY_ALLOWANCE).total_seconds() + 1])
    monkeypatch.setattr(outbox, "monotonic", lambda: next(clock))
    assert outbox.deliver_due(runtime, utcnow()) == 1
    first, second = entries(runtime)
    assert (first.status, first.attempts) == ("delivered", 1)
    assert (second.status, second.attempts, second.claimed_by) == ("pending", 0, None)
    assert len(server.calls) == 1


def test_finished_entries_are_removed_after_their_retention_in_batches(  # type: ignore[no-untyped-def]
    runtime, monkeypatch
) -> None:
    """Delivered entries go ``OUTBOX_RETENTION_DAYS`` (7) after delivery, failed ones
    ``OUTBOX_FAILED_RETENTION_DAYS`` (90) after their last attempt, a batch per round;
    waiting, sending and recent ones stay."""
    now = utcnow()
    day = timedelta(days=1)

    def entry(status: str, age: timedelta, name: str) -> OutboxEntry:
        at = now - age
        return OutboxEntry(
            kind="webhook",
            target=name,
            payload={},
            status=status,
            next_attempt_at=at,
            delivered_at=at if status == "delivered" else None,
            created_at=at,
        )

    with runtime.transaction() as session:
        session.add_all(entry("delivered", 8 * day, f"old{i}") for i in range(5))
        session.add_all(
            [
                entry("delivered", 6 * day, "recent"),
                entry("failed", 91 * day, "dead"),
                entry("failed", 30 * day, "failed_recently"),
                entry("pending", 200 * day, "waiting"),
                entry("sending", 200 * day, "sending"),
            ]
        )
    monkeypatch.setattr(outbox, "CLEANUP_BATCH", 4)
    worker = Worker(runtime, ["outbox_cleanup"])
    assert worker.run_once(now) == {"outbox_cleanup": 4}
    assert worker.run_once(now) == {"outbox_cleanup": 2}
    assert worker.run_once(now) == {"outbox_cleanup": 0}
    left = {e.target for e in entries(runtime)}
    assert left == {"recent", "failed_recently", "waiting", "sending"}
    # a shorter retention (a setting) takes the recent delivery too
    runtime.settings["OUTBOX_RETENTION_DAYS"] = 5
    assert worker.run_once(now) == {"outbox_cleanup": 1}
    assert {e.target for e in entries(runtime)} == {"failed_recently", "waiting", "sending"}


def test_the_cleanup_job_runs_in_every_worker() -> None:
    from trellis.flows.worker import load_jobs

    assert "outbox_cleanup" in load_jobs()
