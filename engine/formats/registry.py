"""The shipped mapping files, by id, and loading one (shipped or a user's file).

Every command that reads a report takes the shipped mapping of its format by
default and another file with ``--mapping`` (a newer report version, say):
:func:`load_mapping` reads either and checks its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, TypeVar

from sellerpolicy.engine.formats.document import MappingError, MappingInfo, Node, read_document
from sellerpolicy.engine.formats.flat import FlatFileMapping, read_flat_mapping
from sellerpolicy.engine.formats.json_reports import (
    AmazonHealthMapping,
    EbayServiceMapping,
    EbayStandardsMapping,
    read_amazon_health,
    read_ebay_service,
    read_ebay_standards,
)

__all__ = [
    "MAPPINGS_DIR",
    "SHIPPED",
    "amazon_health_mapping",
    "ebay_service_mapping",
    "ebay_standards_mapping",
    "flat_mapping",
    "shipped_mappings",
]

MAPPINGS_DIR = Path(__file__).with_name("mappings")

#: Mapping id -> the shipped file (the current version of each format).
SHIPPED: Mapping[str, str] = MappingProxyType(
    {
        "amazon-all-orders": "amazon-all-orders-2021-06-30.yaml",
        "amazon-seller-feedback": "amazon-seller-feedback-2021-06-30.yaml",
        "amazon-returns": "amazon-returns-2021-06-30.yaml",
        "amazon-account-health": "amazon-account-health-2020-11-18.yaml",
        "ebay-seller-standards": "ebay-seller-standards-v1.yaml",
        "ebay-customer-service-metric": "ebay-customer-service-metric-v1.yaml",
    }
)


class _Mapping(Protocol):
    @property
    def info(self) -> MappingInfo: ...


_M = TypeVar("_M", bound=_Mapping)


def _load(
    shipped_id: str, path: Path | None, read: Callable[[Node], _M], expected_id: str | None
) -> _M:
    if path is None:
        return _shipped(shipped_id, read)
    if not path.is_file():
        raise MappingError.missing(path)
    mapping = read(read_document(path))
    found = mapping.info.id
    if expected_id is not None and found != expected_id:
        raise MappingError.wrong_id(path, found, expected_id)
    return mapping


@cache
def _shipped_document(shipped_id: str) -> Node:
    return read_document(MAPPINGS_DIR / SHIPPED[shipped_id])


def _shipped(shipped_id: str, read: Callable[[Node], _M]) -> _M:
    return read(_shipped_document(shipped_id))


def flat_mapping(shipped_id: str, path: Path | None = None) -> FlatFileMapping:
    """The flat-file mapping ``shipped_id``, or the file at ``path`` for the same report."""
    return _load(shipped_id, path, read_flat_mapping, shipped_id)


def amazon_health_mapping(path: Path | None = None) -> AmazonHealthMapping:
    """The Account Health mapping (shipped, or the file at ``path``)."""
    return _load("amazon-account-health", path, read_amazon_health, "amazon-account-health")


def ebay_standards_mapping(path: Path | None = None) -> EbayStandardsMapping:
    """The seller standards profile mapping (shipped, or the file at ``path``)."""
    return _load("ebay-seller-standards", path, read_ebay_standards, "ebay-seller-standards")


def ebay_service_mapping(path: Path | None = None) -> EbayServiceMapping:
    """The customer service metric mapping (shipped, or the file at ``path``)."""
    return _load(
        "ebay-customer-service-metric", path, read_ebay_service, "ebay-customer-service-metric"
    )


def shipped_mappings() -> dict[str, _Mapping]:
    """Every shipped mapping, loaded (each file checked), by id."""
    readers: dict[str, Callable[[Node], _Mapping]] = {
        "amazon-all-orders": read_flat_mapping,
        "amazon-seller-feedback": read_flat_mapping,
        "amazon-returns": read_flat_mapping,
        "amazon-account-health": read_amazon_health,
        "ebay-seller-standards": read_ebay_standards,
        "ebay-customer-service-metric": read_ebay_service,
    }
    return {key: _shipped(key, readers[key]) for key in SHIPPED}
