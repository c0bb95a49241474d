"""Approvals of pack versions: an admin other than the uploader signs a version off.

When the service requires approval, a version is activated (now or at a
scheduled instant) only once it has an :class:`Approval`. Each approval keeps
the approver, their comment, the instant and an optional ``impact``: JSON
text reporting what the version would change against the active one. An
approver approves a version once; the uploader never approves their own
version (:class:`SelfApprovalError`). Every approval is audited (action
``approve``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sellerpolicy.engine.errors import StoreError
from sellerpolicy.engine.store.migrations.schema import pack_approvals_table, pack_versions_table

from .packs import AuditEntry, PackConflictError, PackNotFoundError, record_audit

__all__ = ["Approval", "ApprovalStore", "SelfApprovalError"]

#: The longest approval comment kept.
MAX_COMMENT = 2000

_AP = pack_approvals_table.c
_P = pack_versions_table.c


class SelfApprovalError(StoreError):
    """The uploader of a version tried to approve it."""


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval of a pack version."""

    pack_id: str
    version: str
    approver: str
    comment: str
    at: datetime
    impact: str | None = None  # JSON text

    def impact_json(self) -> Any:
        """The impact report decoded (``None`` when there is none; text that is no JSON as is)."""
        if self.impact is None:
            return None
        try:
            return json.loads(self.impact)
        except ValueError:
            return self.impact


class ApprovalStore:
    """Approvals of pack versions, on the decision store's database."""

    def __init__(self, engine: Engine, where: str) -> None:
        self._engine = engine
        self._where = where

    def _fail(self, doing: str, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(f"cannot {doing} the pack store {self._where}: {detail}")

    def approve(
        self,
        pack_id: str,
        version: str,
        *,
        approver: str,
        comment: str,
        impact: str | None = None,
        at: datetime | None = None,
    ) -> Approval:
        """Record (and audit) an approval of a stored version.

        :class:`PackNotFoundError` when the version is not stored,
        :class:`SelfApprovalError` when ``approver`` uploaded it,
        :class:`PackConflictError` when ``approver`` approved it already.
        ``comment`` is cut to :data:`MAX_COMMENT` characters.
        """
        approval = Approval(
            pack_id, version, approver, comment[:MAX_COMMENT], at or datetime.now(UTC), impact
        )
        author_of = select(_P.author).where(_P.pack_id == pack_id, _P.version == version)
        try:
            with self._engine.begin() as connection:
                author = connection.execute(author_of).scalar()
                if author is None:
                    raise PackNotFoundError(f"no version {version!r} of pack {pack_id!r}")
                if author == approver:
                    raise SelfApprovalError(
                        f"{approver} uploaded {pack_id}@{version} and cannot approve it: "
                        "another admin must"
                    )
                connection.execute(
                    insert(pack_approvals_table),
                    {
                        "pack_id": pack_id,
                        "version": version,
                        "approver": approver,
                        "comment": approval.comment,
                        "at": approval.at.astimezone(UTC).replace(tzinfo=None),
                        "impact": impact,
                    },
                )
                record_audit(
                    connection,
                    AuditEntry(
                        approval.at, approver, "approve", pack_id, None, version, approval.comment
                    ),
                )
        except IntegrityError as exc:
            raise PackConflictError(f"{approver} has approved {pack_id}@{version} already") from exc
        except SQLAlchemyError as exc:
            raise self._fail("write to", exc) from exc
        return approval

    def approvals(self, pack_id: str, version: str) -> list[Approval]:
        """The approvals of one version, oldest first."""
        query = (
            select(pack_approvals_table)
            .where(_AP.pack_id == pack_id, _AP.version == version)
            .order_by(_AP.at, _AP.id)
        )
        try:
            with self._engine.connect() as connection:
                return [_approval(row) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            raise self._fail("read", exc) from exc


def _approval(row: Row[Any]) -> Approval:
    at = row.at.replace(tzinfo=UTC) if row.at.tzinfo is None else row.at.astimezone(UTC)
    return Approval(row.pack_id, row.version, row.approver, row.comment, at, row.impact)
