"""API keys and roles for the HTTP service.

A key is ``spk_<id>_<secret>``: ``id`` is 8 hex characters (shown by ``keys
list``, used by ``keys revoke``), ``secret`` 32 random bytes (URL-safe
base64). The store keeps the SHA-256 hex digest of the whole key, never the
key: the secret has 256 bits of entropy, so a plain hash cannot be brute
forced and a slow, salted KDF (scrypt, PBKDF2) would only add latency to
every request without adding safety; an exact-match index lookup on the
digest authenticates a request in one query.

Roles are ordered ``reader < evaluator < editor < admin``; each includes the
ones below: read decisions and packs; evaluate; upload packs; activate packs
and manage keys.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from sqlalchemy import (
    Engine,
    Row,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import api_keys_table

from .packs import AuditEntry, record_audit

__all__ = ["ApiKey", "KeyNotFoundError", "KeyStore", "Role", "hash_key"]

_KEY = re.compile(r"^spk_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$")

_K = api_keys_table.c


class Role(IntEnum):
    """What a key may do; a higher role can do everything a lower one can."""

    READER = 1
    EVALUATOR = 2
    EDITOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        """The role as written on the command line (``evaluator``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named ``text``; ValueError naming the roles otherwise."""
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"no role {text!r}: roles are {names}") from None


class KeyNotFoundError(StoreError):
    """No API key with that id."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (never the key itself)."""

    id: str
    prefix: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """The SHA-256 hex digest the store keeps for a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """API keys on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {doing} the key store {self._where}: {detail}")

    def create(self, role: Role, *, actor: str) -> tuple[ApiKey, str]:
        """A new key for ``role``: the stored record and the key (shown once, never stored)."""
        key_id = secrets.token_hex(4)
        key = f"spk_{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(key_id, f"spk_{key_id}", role, datetime.now(UTC))
        row = {
            "id": record.id,
            "prefix": record.prefix,
            "hash": hash_key(key),
            "role": role.label,
            "created_at": record.created_at.replace(tzinfo=None),
            "revoked_at": None,
        }
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(api_keys_table), row)
                entry = AuditEntry(record.created_at, actor, "key_create", f"key:{key_id}")
                record_audit(connection, entry)
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return record, key

    def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(select(api_keys_table).order_by(_K.created_at, _K.id))
                return [_key(row) for row in rows]
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc

    def revoke(self, key_id: str, *, actor: str) -> ApiKey:
        """Revoke a key (it stops authenticating at once); revoking twice keeps the first time."""
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as connection:
                row = connection.execute(select(api_keys_table).where(_K.id == key_id)).first()
                if row is None:
                    raise KeyNotFoundError(f"no API key with id {key_id!r}")
                if row.revoked_at is not None:
                    return _key(row)
                connection.execute(
                    update(api_keys_table)
                    .where(_K.id == key_id)
                    .values(revoked_at=now.replace(tzinfo=None))
                )
                record_audit(connection, AuditEntry(now, actor, "key_revoke", f"key:{key_id}"))
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return ApiKey(row.id, row.prefix, Role.parse(row.role), _utc(row.created_at), now)

    def authenticate(self, key: str) -> ApiKey | None:
        """The active key record for a presented key, ``None`` when it is unknown or revoked."""
        if _KEY.fullmatch(key) is None:
            return None
        query = select(api_keys_table).where(_K.hash == hash_key(key), _K.revoked_at.is_(None))
        try:
            with self._engine.connect() as connection:
                row = connection.execute(query).first()
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc
        return _key(row) if row is not None else None


def _key(row: Row[Any]) -> ApiKey:
    revoked = _utc(row.revoked_at) if row.revoked_at is not None else None
    return ApiKey(row.id, row.prefix, Role.parse(row.role), _utc(row.created_at), revoked)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
