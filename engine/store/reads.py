"""Decisions read back from the store: rows to :class:`StoredDecision`, pages and cursors.

Owns the read side of :class:`~sellerpolicy.engine.store.decisions.DecisionStore`
that needs no store state: turning ``decisions`` rows (and, for decisions
written before migration 0002, their ``decision_rules`` rows) into
:class:`StoredDecision` values, the query of one page of a seller's
decisions, newest first, and the opaque cursor that continues it.
"""

from __future__ import annotations

import base64
import binascii
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.engine import Connection

from sellerpolicy.engine.store.migrations.schema import decision_rules_table, decisions_table

from .records import DecisionPage, RuleRecord, StoredDecision, aware_utc, naive_utc

__all__ = ["ID_CHUNK", "page_of", "page_query", "read_decisions"]

ID_CHUNK = 2_000  # bound parameters per query stay well under driver limits

_D = decisions_table.c
_R = decision_rules_table.c


def read_decisions(connection: Connection, query: Any) -> list[StoredDecision]:
    """The decisions a query of ``decisions`` rows selects, in its order, with their rules."""
    rows = connection.execute(query).all()
    rules: dict[str, list[RuleRecord]] = defaultdict(list)
    for row in rows:
        for rule_id, outcome, fired, actions in row.rules or ():
            rules[row.decision_id].append(RuleRecord(rule_id, outcome, fired, tuple(actions)))
    ids = [row.decision_id for row in rows if row.rules is None]  # written before 0002
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        rule_query = (
            select(decision_rules_table)
            .where(_R.decision_id.in_(chunk))
            .order_by(_R.decision_id, _R.rule_id)
        )
        for rule in connection.execute(rule_query):
            rules[rule.decision_id].append(
                RuleRecord(rule.rule_id, rule.outcome, rule.fired, tuple(rule.actions))
            )
    return [
        StoredDecision(
            decision_id=row.decision_id,
            run_id=row.run_id,
            seller_id=row.seller_id,
            pack_id=row.pack_id,
            pack_version=row.pack_version,
            pack_digest=row.pack_digest,
            as_of=aware_utc(row.as_of),
            status=row.status,
            evaluated_at=aware_utc(row.evaluated_at),
            document=row.decision,
            rules=tuple(sorted(rules[row.decision_id], key=lambda r: r.rule_id)),
        )
        for row in rows
    ]


def page_query(
    seller_id: str,
    *,
    pack_id: str | None,
    as_of_from: date | None,
    as_of_to: date | None,
    cursor: str | None,
) -> Select[Any]:
    """A seller's decisions newest first (``as_of``, evaluation time, id), after ``cursor``.

    ``as_of_from`` and ``as_of_to`` are inclusive days; ValueError when
    ``cursor`` is not one :func:`page_of` returned.
    """
    query = select(decisions_table).where(_D.seller_id == seller_id)
    if pack_id is not None:
        query = query.where(_D.pack_id == pack_id)
    if as_of_from is not None:
        query = query.where(_D.as_of >= datetime.combine(as_of_from, time.min))
    if as_of_to is not None:
        query = query.where(_D.as_of < datetime.combine(as_of_to + timedelta(days=1), time.min))
    if cursor is not None:
        as_of, evaluated_at, last_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                _D.as_of < as_of,
                and_(_D.as_of == as_of, _D.evaluated_at < evaluated_at),
                and_(_D.as_of == as_of, _D.evaluated_at == evaluated_at, _D.decision_id < last_id),
            )
        )
    return query.order_by(_D.as_of.desc(), _D.evaluated_at.desc(), _D.decision_id.desc())


def page_of(found: list[StoredDecision], limit: int) -> DecisionPage:
    """The page of the first ``limit`` decisions of ``found`` (read with one more, to
    tell whether a next page exists)."""
    more = len(found) > limit
    found = found[:limit]
    last = found[-1] if more else None
    next_cursor = _encode_cursor(last) if last is not None else None
    return DecisionPage(tuple(found), next_cursor)


def _encode_cursor(last: StoredDecision) -> str:
    as_of, evaluated_at = naive_utc(last.as_of), naive_utc(last.evaluated_at)
    raw = "|".join((as_of.isoformat(), evaluated_at.isoformat(), last.decision_id))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        as_of, evaluated_at, decision_id = raw.split("|")
        return datetime.fromisoformat(as_of), datetime.fromisoformat(evaluated_at), decision_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError(f"cursor {cursor!r} is not a cursor this API returned") from exc
