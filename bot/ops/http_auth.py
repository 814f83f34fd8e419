"""The token that guards the status server's private pages (/login shows the QR code: whoever sees it can take the
account over) and the HTTP API. One token per daemon: from STATUS_TOKEN, or made at start-up and logged once."""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

TOKEN_HEADER = "Authorization"
TOKEN_QUERY = "token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def presented_token(request: web.Request) -> str | None:
    """`Authorization: Bearer <token>`, or `?token=<token>` (a browser opening /login from the log line)."""
    header = request.headers.get(TOKEN_HEADER, "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get(TOKEN_QUERY) or None


def token_ok(request: web.Request, token: str) -> bool:
    """Compared in constant time, so the token cannot be guessed a character at a time."""
    given = presented_token(request)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def require_token(request: web.Request, token: str) -> None:
    """Raises 401 (with the scheme to use) unless the request carries the token."""
    if not token_ok(request, token):
        raise web.HTTPUnauthorized(
            text='{"error": "missing or wrong token: send Authorization: Bearer <token>"}',
            content_type="application/json",
            headers={"WWW-Authenticate": "Bearer"},
        )
