"""The stages in one place: load -> validate -> check -> compile.

Each stage returns diagnostics, and one run reports them all: the schema's
findings, then the calendar and semantic checks of the parts the schema
accepted (a rule with a schema error is skipped, the others are checked).
Only a document that YAML could not read stops early, and any error stops
compilation. Only :func:`load_pack`, :func:`load_exemption` and
:func:`load_packtest` raise, once, with every diagnostic.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from .build import build_exemption, build_pack
from .check import check_semantics
from .dates import calendar_date_errors
from .diagnostics import Diagnostic, PackError, PackNotFoundError, errors
from .digest import pack_digest
from .loader import LoadedDocument, load_yaml
from .model import CompiledPack, Exemption
from .packtest_doc import PackTestDoc, build_packtest
from .schema import SCHEMA_FILES, validate_schema
from .suggest import did_you_mean

PACK_KIND = "PolicyPack"
EXEMPTION_KIND = "PolicyExemption"
PACKTEST_KIND = "PackTest"

Document = CompiledPack | Exemption | PackTestDoc


def document_kind(document: LoadedDocument, default: str = PACK_KIND) -> str:
    """The document's ``kind`` when it is a known one, else ``default``."""
    data = document.data
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) and kind in SCHEMA_FILES else default


def _run(path: Path, kind: str | None, default: str) -> tuple[Document | None, list[Diagnostic]]:
    document, found = load_yaml(path)
    if document is None:
        return None, sorted(found)
    kind = kind or document_kind(document, default)
    schema_found = validate_schema(document, kind)
    found += schema_found
    refused = frozenset(d.json_path for d in schema_found)
    found += calendar_date_errors(document, refused)
    if kind == PACK_KIND:
        found += check_semantics(document, refused)
    if errors(found):
        return None, sorted(found)
    if kind == PACK_KIND:
        return build_pack(document, pack_digest(document.data)), sorted(found)
    if kind == EXEMPTION_KIND:
        return build_exemption(document), sorted(found)
    return build_packtest(document), sorted(found)


def check_document(
    path: str | Path, default_kind: str = PACK_KIND
) -> tuple[Document | None, list[Diagnostic]]:
    """Check any document, by its ``kind`` (``default_kind`` when it has none)."""
    return _run(Path(path), None, default_kind)


def check_pack(path: str | Path) -> tuple[CompiledPack | None, list[Diagnostic]]:
    """The compiled pack (None on any error) and every diagnostic, sorted."""
    result, found = _run(Path(path), PACK_KIND, PACK_KIND)
    return (result if isinstance(result, CompiledPack) else None), found


def _raise_on_errors(found: list[Diagnostic]) -> None:
    if errors(found):
        raise PackError(found)


def load_pack(ref: str | Path) -> CompiledPack:
    """Resolve, load and compile a pack; raise :class:`PackError` with all diagnostics."""
    pack, found = check_pack(resolve_pack(ref))
    _raise_on_errors(found)
    if pack is None:  # pragma: no cover - errors() above always explains a None
        raise PackError(found)
    return pack


def load_exemption(path: str | Path, pack: CompiledPack | None = None) -> Exemption:
    """Load an exemption document; raise :class:`PackError` with all diagnostics.

    With the ``pack`` it is used with, also the cross-checks of
    :func:`exemption_diagnostics` (a pack or rule that does not exist).
    """
    result, found = _run(Path(path), EXEMPTION_KIND, EXEMPTION_KIND)
    _raise_on_errors(found)
    if not isinstance(result, Exemption):  # pragma: no cover - see load_pack
        raise PackError(found)
    if pack is not None:
        _raise_on_errors(exemption_diagnostics(path, result, [pack]))
    return result


def load_packtest(path: str | Path) -> PackTestDoc:
    """Load a pack test fixture file; raise :class:`PackError` with all diagnostics."""
    result, found = _run(Path(path), PACKTEST_KIND, PACKTEST_KIND)
    _raise_on_errors(found)
    if not isinstance(result, PackTestDoc):  # pragma: no cover - see load_pack
        raise PackError(found)
    return result


def _policies_root() -> Path:
    return Path(str(resources.files("sellerpolicy.policies")))


def shipped_packs() -> list[Path]:
    """The ``pack.yaml`` of every pack shipped in ``sellerpolicy.policies``, sorted."""
    return sorted(_policies_root().glob("*/pack.yaml"))


def resolve_pack(ref: str | Path) -> Path:
    """A pack file from a file path, a folder holding ``pack.yaml``, or a shipped name.

    ``amazon`` resolves to the shipped ``policies/amazon/pack.yaml``.
    """
    path = Path(ref)
    if path.is_file():
        return path
    if path.is_dir() and (path / "pack.yaml").is_file():
        return path / "pack.yaml"
    if isinstance(ref, str) and "/" not in ref and "\\" not in ref:
        shipped = _policies_root() / ref / "pack.yaml"
        if shipped.is_file():
            return shipped
    names = [p.parent.name for p in shipped_packs()]
    hint = did_you_mean(str(ref), names) or (
        f"shipped packs: {', '.join(names)}" if names else None
    )
    message = f"no pack {str(ref)!r}: not a file, a folder with pack.yaml, or a shipped pack"
    raise PackNotFoundError([Diagnostic(str(ref), 1, 1, "pack_not_found", "$", message, hint)])


def exemption_diagnostics(
    path: str | Path, exemption: Exemption, packs: Sequence[CompiledPack]
) -> list[Diagnostic]:
    """Cross-checks of an exemption against the packs at hand, located in its file.

    Its ``pack`` must be one of ``packs`` or a shipped pack, and each of its
    ``rules`` a rule of that pack when the pack is at hand. An exemption naming
    a pack or rule that does not exist would silently exempt nothing.
    """
    by_id = {p.id: p for p in packs}
    known = sorted({*by_id, *_shipped_ids()})
    document, _ = load_yaml(Path(path))
    file = str(path)

    def at(json_path: str, code: str, message: str, hint: str | None) -> Diagnostic:
        where = document.locate(json_path) if document is not None else None
        line, column = (where.line, where.column) if where is not None else (1, 1)
        return Diagnostic(file, line, column, code, json_path, message, hint)

    pack = by_id.get(exemption.pack)
    if pack is None:
        if exemption.pack in known:
            return []  # a shipped pack that is not the one at hand: nothing to check here
        hint = did_you_mean(exemption.pack, known) or f"packs: {', '.join(known)}"
        return [at("$.spec.pack", "unknown_pack", f"no pack {exemption.pack!r}", hint)]
    rule_ids = [r.id for r in pack.rules]
    found = []
    for index, rule in enumerate(exemption.rules):
        if rule not in rule_ids:
            hint = did_you_mean(rule, rule_ids) or f"rules of {pack.id}: {', '.join(rule_ids)}"
            message = f"pack {pack.id!r} has no rule {rule!r}"
            found.append(at(f"$.spec.rules[{index}]", "unknown_rule", message, hint))
    return found


def _shipped_ids() -> list[str]:
    ids = []
    for path in shipped_packs():
        document, _ = load_yaml(path)
        data = document.data if document is not None else None
        metadata = data.get("metadata") if isinstance(data, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("id"), str):
            ids.append(metadata["id"])
    return ids
