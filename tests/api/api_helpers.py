"""Helpers for API tests: a test client acting as one user, and problem-response checks."""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"


class Caller:
    """The Flask test client acting as one user: their bearer token goes with every call."""

    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def open(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        return self.client.open(
            path, method=method, json=json, headers={**self.headers, **(headers or {})}
        )

    def get(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.open("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.open("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.open("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.open("PATCH", path, json, **kwargs)

    def delete(self, path: str, **kwargs: Any):  # type: ignore[no-untyped-def]
        return self.open("DELETE", path, **kwargs)

    def raw(self, method: str, path: str, data: str | bytes, content_type: str):  # type: ignore[no-untyped-def]
        """A request with a body that is not (necessarily) JSON."""
        return self.client.open(
            path, method=method, data=data, content_type=content_type, headers=self.headers
        )

    def ok(self, method: str, path: str, json: Any = None, status: int = 200) -> Any:
        """The JSON of a call that must succeed with ``status``."""
        response = self.open(method, path, json)
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
        return response.json


def assert_problem(response: Any, status: int, *fields: str) -> dict[str, Any]:
    """``response`` is an RFC 9457 problem with ``status`` whose ``errors`` name at least
    ``fields``; returns its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert set(body) >= {"type", "title", "status", "detail", "errors"}, body
    assert body["status"] == status and isinstance(body["errors"], dict)
    assert body["type"].startswith("https://") and body["title"] and body["detail"]
    assert set(fields) <= set(body["errors"]), body["errors"]
    return body
