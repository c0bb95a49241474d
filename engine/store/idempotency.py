"""Idempotency keys: a retried evaluation request gets the first answer, stores nothing.

``POST /v1/evaluations`` with an ``Idempotency-Key`` header keeps, in the
transaction that stores its decisions, the key, a SHA-256 of the request and
the answer sent. A retry with the same key and the same request is answered
with that text (same run id, same decision ids) and writes nothing; the same
key with another request is refused. Keys expire after :data:`KEY_TTL`
(forgotten on the next write after that).

Two requests racing with one key both evaluate, but only the first commit
keeps its decisions: the second transaction fails on the key's primary key,
is rolled back whole, and that request is answered from the stored key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from sellerpolicy.engine.store.migrations.schema import idempotency_keys_table

from .records import naive_utc

__all__ = [
    "KEY_TTL",
    "KeyTakenError",
    "Remembered",
    "forget_expired",
    "recall",
    "remember",
    "request_hash",
]

#: How long an idempotency key is kept.
KEY_TTL = timedelta(hours=24)
_K = idempotency_keys_table.c


class KeyTakenError(Exception):
    """Another request kept this idempotency key first (its transaction won)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r} was kept by another request")


@dataclass(frozen=True, slots=True)
class Remembered:
    """What was kept for a key: the request's hash and the answer's JSON text."""

    request_hash: str
    response: str


def request_hash(body: object, **options: object) -> str:
    """SHA-256 of a request body (as JSON, keys sorted) and its options."""
    text = json.dumps([body, options], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recall(connection: Connection, key: str) -> Remembered | None:
    """The kept request hash and answer for ``key``, unless absent or expired."""
    oldest = naive_utc(datetime.now(UTC) - KEY_TTL)
    row = connection.execute(
        select(_K.request_hash, _K.response).where(_K.key == key, _K.created_at >= oldest)
    ).first()
    return None if row is None else Remembered(row.request_hash, row.response)


def remember(connection: Connection, key: str, hashed: str, run_id: str, response: str) -> None:
    """Keep ``key`` (in the caller's transaction); a key already kept raises IntegrityError."""
    forget_expired(connection)
    connection.execute(
        insert(idempotency_keys_table).values(
            key=key,
            request_hash=hashed,
            run_id=run_id,
            response=response,
            created_at=naive_utc(datetime.now(UTC)),
        )
    )


def forget_expired(connection: Connection) -> None:
    """Delete the keys older than :data:`KEY_TTL`."""
    oldest = naive_utc(datetime.now(UTC) - KEY_TTL)
    connection.execute(delete(idempotency_keys_table).where(_K.created_at < oldest))
