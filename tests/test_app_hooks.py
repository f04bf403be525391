"""The app decides once per hook or view whether it is a coroutine function (Flask's
``ensure_sync`` asked ``inspect`` on every call of every hook, about a dozen times a
request), and the hooks and views still run as before."""

from __future__ import annotations

from flask import Flask


def test_each_hook_and_view_is_looked_at_once(app, client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    asked: list[object] = []
    plain = Flask.ensure_sync

    def counting(self, func):  # type: ignore[no-untyped-def]
        asked.append(func)
        return plain(self, func)

    monkeypatch.setattr(Flask, "ensure_sync", counting)
    first = client.get("/healthz")
    assert first.status_code == 200 and first.json == {"status": "ok"}
    assert asked  # the view and the hooks, the first time
    assert len(asked) == len(set(asked))
    seen = len(asked)
    for _ in range(3):
        again = client.get("/healthz")
        assert again.status_code == 200
        assert again.headers["X-Frame-Options"] == "DENY"  # the after-request hooks ran
    assert len(asked) == seen


def test_a_coroutine_function_gets_flask_s_answer_every_time(app) -> None:  # type: ignore[no-untyped-def]
    """Never taken for a plain function: Flask wraps it (or, without its "async" extra,
    refuses it), on each call as on the first."""

    async def answer() -> str:
        return "async"

    for _ in range(2):
        try:
            sync = app.ensure_sync(answer)
        except RuntimeError as error:  # Flask without asgiref
            assert "async" in str(error)
        else:
            assert sync is not answer
