"""The audit trail: who did what to a pack version or key, and when.

Every change a store makes to pack versions (upload, approve, schedule,
cancel a schedule, activate) or keys (create, revoke) appends one
:class:`AuditEntry` in the transaction that makes the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert

from sellerpolicy.engine.store.migrations.schema import audit_table

__all__ = ["AuditEntry", "record_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what, when: an upload, an activation, a key created or revoked..."""

    at: datetime
    actor: str
    action: str
    subject: str
    from_version: str | None = None
    to_version: str | None = None
    detail: str | None = None


def record_audit(connection: Connection, entry: AuditEntry) -> None:
    """Append an audit entry inside the caller's transaction."""
    row = {
        "at": entry.at.astimezone(UTC).replace(tzinfo=None),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "from_version": entry.from_version,
        "to_version": entry.to_version,
        "detail": entry.detail,
    }
    connection.execute(insert(audit_table), row)
