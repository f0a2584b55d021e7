"""Assertions every API test shares."""

from __future__ import annotations

import httpx


def assert_error(reply: httpx.Response, status: int, code: str | None = None) -> None:
    """`reply` is the platform's JSON error: the status, `{"error": {"code", "message"}}` with a
    message, the given code, and no stack trace."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"}, reply.text
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], reply.text
    if code:
        assert body["error"]["code"] == code, reply.text
    assert "Traceback" not in reply.text
