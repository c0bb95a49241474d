"""Workbench sessions: a browser signed in with an API key, kept on the server.

Signing in with a key makes a session: a random token (256 bits) goes to the
browser in an HttpOnly cookie; the store keeps only its SHA-256, the key it
belongs to, a CSRF token and the expiry. Every request looks the session up
together with its key, so a revoked key ends its sessions at once and a
session never outlives its expiry. Signing out deletes the row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import api_keys_table, sessions_table

from .keys import ApiKey, Role
from .records import aware_utc, naive_utc

__all__ = ["DEFAULT_SESSION_TTL", "Session", "SessionStore"]

#: How long a session lasts after sign-in.
DEFAULT_SESSION_TTL = timedelta(hours=8)

_S = sessions_table.c
_K = api_keys_table.c


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: the key it signed in with, its CSRF token and expiry."""

    key_id: str
    role: Role
    csrf: str
    expires_at: datetime

    @property
    def actor(self) -> str:
        """Who acts, in the audit trail: ``key:<id>``, as for API calls with that key."""
        return f"key:{self.key_id}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class SessionStore:
    """Sessions on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {doing} the session store {self._where}: {detail}")

    def create(
        self, key: ApiKey, *, now: datetime, ttl: timedelta = DEFAULT_SESSION_TTL
    ) -> tuple[str, Session]:
        """A new session for ``key``: the token for the cookie, and the session.

        Expired sessions are deleted in the same transaction.
        """
        token = secrets.token_urlsafe(32)
        session = Session(key.id, key.role, secrets.token_urlsafe(32), now + ttl)
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(sessions_table).where(_S.expires_at <= naive_utc(now)))
                connection.execute(
                    insert(sessions_table).values(
                        token_hash=_digest(token),
                        key_id=key.id,
                        csrf=session.csrf,
                        created_at=naive_utc(now),
                        expires_at=naive_utc(session.expires_at),
                    )
                )
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return token, session

    def get(self, token: str, *, now: datetime) -> Session | None:
        """The live session of ``token``: None when unknown, expired or its key revoked."""
        if not token or len(token) > 200:  # a token is 43 characters
            return None
        query = (
            select(_S.key_id, _K.role, _S.csrf, _S.expires_at)
            .join(api_keys_table, _K.id == _S.key_id)
            .where(
                _S.token_hash == _digest(token),
                _S.expires_at > naive_utc(now),
                _K.revoked_at.is_(None),
            )
        )
        try:
            with self._engine.connect() as connection:
                row = connection.execute(query).first()
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc
        if row is None:
            return None
        return Session(row.key_id, Role.parse(row.role), row.csrf, aware_utc(row.expires_at))

    def delete(self, token: str) -> None:
        """End a session (signing out); unknown tokens are ignored."""
        try:
            with self._engine.begin() as connection:
                connection.execute(delete(sessions_table).where(_S.token_hash == _digest(token)))
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
