"""Pack versions kept in the database, their activation, and the audit trail.

Every uploaded pack version is kept as the YAML text that was sent, with its
digest, author and state: ``draft`` (uploaded, never activated), ``active``
(the version evaluations of the pack id use; at most one per pack, a unique
index guarantees it) or ``retired`` (active once, replaced). Activation flips
the old active version to retired and the new one to active in one
transaction, appends to the activation history (:mod:`.activations`) and
writes an :class:`AuditEntry`; so does an upload. A version may also carry a
pending scheduled activation (``activate_at``, see :mod:`.schedules`); the
state stays what it was until the schedule is applied.

Packs are compiled from their text by :func:`compile_content` (the same
``check_pack`` the CLI runs); :class:`CompiledPacks` caches compiled packs by
digest so a request compiles nothing once a version has been seen.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    Select,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import audit_table, pack_versions_table
from sellerpolicy.rules import check_pack, shipped_packs
from sellerpolicy.rules.diagnostics import Diagnostic, PackError, errors
from sellerpolicy.rules.model import CompiledPack

from .activations import IMPORTED_ACTOR, Activation, record_activation
from .audit import AuditEntry, record_audit

__all__ = [
    "SYSTEM_AUTHOR",
    "AuditEntry",
    "CompiledPacks",
    "PackConflictError",
    "PackNotFoundError",
    "PackState",
    "PackStore",
    "PackVersion",
    "compile_content",
    "record_audit",
    "stored_version",
    "switch_active",
]

#: The author of the shipped packs imported into an empty store.
SYSTEM_AUTHOR = IMPORTED_ACTOR

_P = pack_versions_table.c


class PackState(StrEnum):
    """Where a pack version is in its life."""

    DRAFT = "draft"
    ACTIVE = "active"
    RETIRED = "retired"


class PackConflictError(StoreError):
    """The pack version exists already, or cannot change state as asked."""


class PackNotFoundError(StoreError):
    """No such pack id or version in the store."""


@dataclass(frozen=True, slots=True)
class PackVersion:
    """One stored pack version."""

    pack_id: str
    version: str
    digest: str
    content: str
    author: str
    created_at: datetime
    state: PackState
    activate_at: datetime | None = None  # a pending scheduled activation
    scheduled_by: str | None = None

    @property
    def ref(self) -> str:
        """``id@version``."""
        return f"{self.pack_id}@{self.version}"


def compile_content(content: str, name: str = "pack.yaml") -> tuple[CompiledPack, list[Diagnostic]]:
    """Compile pack YAML text: the pack and its warnings.

    Raises :class:`PackError` with every diagnostic (their ``file`` is ``name``).
    """
    with tempfile.TemporaryDirectory(prefix="sellerpolicy-pack-") as folder:
        path = Path(folder) / "pack.yaml"
        path.write_text(content, encoding="utf-8")
        pack, found = check_pack(path)
    found = [replace(d, file=name) for d in found]
    if pack is None or errors(found):
        raise PackError(found or [Diagnostic(name, 1, 1, "invalid_pack", "$", "invalid pack")])
    return replace(pack, path=name), found


class CompiledPacks:
    """Compiled packs by digest: a stored version is compiled once per process while
    it is among the ``kept`` most recently used (a long-running service sees every
    version a workbench ever saved; keeping all of them would grow without bound)."""

    def __init__(self, kept: int = 64) -> None:
        self._lock = threading.Lock()
        self._by_digest: LRUCache[str, CompiledPack] = LRUCache(maxsize=kept)

    def get(self, version: PackVersion) -> CompiledPack:
        """The compiled pack of a stored version."""
        with self._lock:
            cached = self._by_digest.get(version.digest)
        if cached is not None:
            return cached
        pack, _ = compile_content(version.content, version.ref)
        with self._lock:
            return self._by_digest.setdefault(version.digest, pack)


class PackStore:
    """Pack versions and the audit trail, on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {doing} the pack store {self._where}: {detail}")

    def versions(self, pack_id: str | None = None) -> list[PackVersion]:
        """Every stored version (of one pack id), by pack id then creation time."""
        query = select(pack_versions_table).order_by(_P.pack_id, _P.created_at, _P.version)
        if pack_id is not None:
            query = query.where(_P.pack_id == pack_id)
        try:
            with self._engine.connect() as connection:
                return [stored_version(row) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc

    def get(self, pack_id: str, version: str) -> PackVersion:
        """One version; :class:`PackNotFoundError` when it is not stored."""
        query = select(pack_versions_table).where(_P.pack_id == pack_id, _P.version == version)
        return self._one(query, f"no version {version!r} of pack {pack_id!r}")

    def active(self, pack_id: str) -> PackVersion:
        """The active version of a pack; :class:`PackNotFoundError` when none is."""
        query = select(pack_versions_table).where(
            _P.pack_id == pack_id, _P.state == PackState.ACTIVE.value
        )
        return self._one(query, f"pack {pack_id!r} has no active version")

    def _one(self, query: Select[Any], missing: str) -> PackVersion:
        """The one version a query finds; :class:`PackNotFoundError` (``missing``) when none."""
        try:
            with self._engine.connect() as connection:
                row = connection.execute(query).first()
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc
        if row is None:
            raise PackNotFoundError(missing)
        return stored_version(row)

    def add(
        self,
        pack: CompiledPack,
        content: str,
        *,
        author: str,
        activate: bool = False,
        at: datetime | None = None,
    ) -> PackVersion:
        """Store a compiled pack's text as a draft (or active, for an empty pack id).

        ``at``: the instant of the upload (and activation); now by default.
        """
        stored = PackVersion(
            pack_id=pack.id,
            version=pack.version,
            digest=pack.digest,
            content=content,
            author=author,
            created_at=at or datetime.now(UTC),
            state=PackState.DRAFT,
        )
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(pack_versions_table), _row(stored))
                record_audit(
                    connection,
                    AuditEntry(stored.created_at, author, "upload", pack.id, None, pack.version),
                )
        except IntegrityError as exc:
            raise PackConflictError(
                f"pack {pack.id!r} already has a version {pack.version!r}: "
                "versions are immutable, give the new one another version"
            ) from exc
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        if activate:
            return self.activate(pack.id, pack.version, actor=author, at=stored.created_at)
        return stored

    def activate(
        self, pack_id: str, version: str, *, actor: str, at: datetime | None = None
    ) -> PackVersion:
        """Make a version the active one of its pack, retiring the one before (audited).

        ``at``: the instant it is in force from (now by default). Activating
        the active version changes nothing and writes no audit entry; a
        pending schedule of the version activated is dropped.
        """
        now = at or datetime.now(UTC)
        try:
            with self._engine.begin() as connection:
                target = switch_active(connection, pack_id, version, actor=actor, at=now)
        except IntegrityError as exc:
            raise PackConflictError(
                f"pack {pack_id!r} is being activated by another request; try again"
            ) from exc
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return replace(target, state=PackState.ACTIVE, activate_at=None, scheduled_by=None)

    def audit(self, subject: str | None = None) -> list[AuditEntry]:
        """The audit trail (of one subject), oldest first."""
        query = select(audit_table).order_by(audit_table.c.id)
        if subject is not None:
            query = query.where(audit_table.c.subject == subject)
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(query).all()
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc
        return [
            AuditEntry(
                _utc(r.at), r.actor, r.action, r.subject, r.from_version, r.to_version, r.detail
            )
            for r in rows
        ]

    def import_shipped(self, at: datetime | None = None) -> list[PackVersion]:
        """On an empty store, import and activate every shipped pack (author ``system``).

        ``at``: the instant of the import (now by default). The imported
        versions count as in force before it too (:mod:`.activations`).

        Returns the imported versions; nothing when the store has packs
        already (or another process imported them first).
        """
        if self.versions():
            return []
        imported: list[PackVersion] = []
        for path in shipped_packs():
            content = path.read_text(encoding="utf-8")
            pack, _ = compile_content(content, f"{path.parent.name}/pack.yaml")
            try:
                imported.append(self.add(pack, content, author=SYSTEM_AUTHOR, activate=True, at=at))
            except PackConflictError:
                continue
        return imported


def switch_active(
    connection: Connection,
    pack_id: str,
    version: str,
    *,
    actor: str,
    at: datetime,
    detail: str | None = None,
) -> PackVersion:
    """Activate a version inside the caller's transaction: the version as it was before.

    The active version (if any) is retired, the version made active (its
    pending schedule dropped), the activation recorded in the history (in
    force from ``at``) and audited (``detail``: ``scheduled`` for a schedule
    applied). Nothing changes when the version is the active one already.
    :class:`PackNotFoundError` when it is not stored.
    """
    target = connection.execute(
        select(pack_versions_table).where(_P.pack_id == pack_id, _P.version == version)
    ).first()
    if target is None:
        raise PackNotFoundError(f"no version {version!r} of pack {pack_id!r}")
    if target.state == PackState.ACTIVE.value:
        return stored_version(target)
    current = connection.execute(
        select(_P.version).where(_P.pack_id == pack_id, _P.state == PackState.ACTIVE.value)
    ).scalar()
    connection.execute(
        update(pack_versions_table)
        .where(_P.pack_id == pack_id, _P.state == PackState.ACTIVE.value)
        .values(state=PackState.RETIRED.value)
    )
    connection.execute(
        update(pack_versions_table)
        .where(_P.pack_id == pack_id, _P.version == version)
        .values(state=PackState.ACTIVE.value, activate_at=None, scheduled_by=None)
    )
    record_activation(connection, Activation(pack_id, version, at, actor, detail))
    record_audit(connection, AuditEntry(at, actor, "activate", pack_id, current, version, detail))
    return stored_version(target)


def stored_version(row: Row[Any]) -> PackVersion:
    """The :class:`PackVersion` of a ``pack_versions`` row."""
    return PackVersion(
        pack_id=row.pack_id,
        version=row.version,
        digest=row.digest,
        content=row.content,
        author=row.author,
        created_at=_utc(row.created_at),
        state=PackState(row.state),
        activate_at=None if row.activate_at is None else _utc(row.activate_at),
        scheduled_by=row.scheduled_by,
    )


def _row(version: PackVersion) -> dict[str, object]:
    return {
        "pack_id": version.pack_id,
        "version": version.version,
        "digest": version.digest,
        "content": version.content,
        "author": version.author,
        "created_at": version.created_at.astimezone(UTC).replace(tzinfo=None),
        "state": version.state.value,
        "activate_at": (
            None
            if version.activate_at is None
            else version.activate_at.astimezone(UTC).replace(tzinfo=None)
        ),
        "scheduled_by": version.scheduled_by,
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
