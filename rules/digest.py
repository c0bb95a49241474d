"""The digest of a pack: ``sha256:`` over a canonical JSON form of its document.

Comments, key order, quoting and layout do not change the digest; neither
does writing a threshold as ``1%`` rather than ``0.01`` (or ``1`` rather
than ``1.0``). Any change of meaning does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from .thresholds import to_fraction

_THRESHOLD_KEYS = frozenset({"gt", "gte", "lt", "lte", "eq"})


def _normalize_condition(cond: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cond.items():
        if key in _THRESHOLD_KEYS:
            out[key] = to_fraction(value)
        elif key in ("all", "any"):
            out[key] = [_normalize_condition(child) for child in value]
        elif key == "not":
            out[key] = _normalize_condition(value)
        else:
            out[key] = value
    return out


def _normalize_bounds(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_fraction(v) if k in ("gte", "lt") else v for k, v in item.items()}


def canonical_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a pack document with every threshold as a float fraction."""
    spec = dict(data.get("spec", {}))
    if "rules" in spec:
        spec["rules"] = [
            {**rule, "when": _normalize_condition(rule["when"])} for rule in spec["rules"]
        ]
    if "scores" in spec:
        spec["scores"] = [
            {
                **score,
                "dimensions": [
                    {**dim, "bands": [_normalize_bounds(b) for b in dim["bands"]]}
                    for dim in score["dimensions"]
                ],
                "grades": [_normalize_bounds(g) for g in score["grades"]],
            }
            for score in spec["scores"]
        ]
    return {**data, "spec": spec}


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def pack_digest(data: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical form of a schema-valid pack document."""
    text = canonical_json(canonical_document(data))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
