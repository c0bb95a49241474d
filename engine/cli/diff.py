"""``sellerpolicy diff OLD NEW``: what changed between two packs, in words."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from sellerpolicy.engine.cli.root import EXIT_FINDINGS, app

if TYPE_CHECKING:
    from sellerpolicy.rules.model import CompiledPack

EPILOG = """\
Examples:

  sellerpolicy diff amazon-2015 amazon
  sellerpolicy diff policies/amazon my-pack/ --format markdown > CHANGES.md
  sellerpolicy diff policies/amazon my-pack/pack.yaml --exit-code   # 1 when they differ
  sellerpolicy diff amazon-seller-performance@2026.11.0 \\
      amazon-seller-performance@2026.12.0 --store sellerpolicy.db   # versions in a pack store

The comparison is of the compiled packs: reformatting or reordering the YAML
changes nothing.
"""


class DiffFormat(StrEnum):
    """How ``diff`` prints the changes."""

    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"


_SECTIONS = {
    "metadata": "Metadata",
    "metrics": "Metric uses",
    "rules": "Rules",
    "status": "Status map",
    "scores": "Scores",
}


@app.command("diff", epilog=EPILOG)
def diff_command(
    old: Annotated[
        str, typer.Argument(help="The old pack: shipped name, folder, pack.yaml or id@version.")
    ],
    new: Annotated[
        str, typer.Argument(help="The new pack: shipped name, folder, pack.yaml or id@version.")
    ],
    output_format: Annotated[
        DiffFormat, typer.Option("--format", help="text, json or markdown.")
    ] = DiffFormat.TEXT,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the packs differ (like git diff).")
    ] = False,
    store: Annotated[
        str | None,
        typer.Option(help="Pack store (SQLAlchemy URL or SQLite file) holding id@version packs."),
    ] = None,
) -> None:
    """What changed between two packs: rules, thresholds, actions, metric uses, metadata."""
    from sellerpolicy.rules.diff import diff_packs

    before, after = _load(old, new, store)
    changes = diff_packs(before, after)
    title = f"{before.id} {before.version} -> {after.id} {after.version}"
    if output_format is DiffFormat.JSON:
        document = {
            "old": {"id": before.id, "version": before.version, "digest": before.digest},
            "new": {"id": after.id, "version": after.version, "digest": after.digest},
            "changes": [c.to_json() for c in changes],
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    elif output_format is DiffFormat.MARKDOWN:
        lines = [f"# {title}", ""]
        for section, heading in _SECTIONS.items():
            mine = [c for c in changes if c.section == section]
            if mine:
                lines += [f"## {heading}", "", *(f"- {c.text()}" for c in mine), ""]
        if not changes:
            lines.append("No changes.")
        typer.echo("\n".join(lines).rstrip())
    else:
        typer.echo(f"{title}: {len(changes)} change(s)" if changes else f"{title}: no changes")
        for section, heading in _SECTIONS.items():
            mine = [c for c in changes if c.section == section]
            if mine:
                typer.echo(f"\n{heading}:")
                for change in mine:
                    typer.echo(f"  - {change.text()}")
    if exit_code and changes:
        raise typer.Exit(EXIT_FINDINGS)


def _load(old: str, new: str, store: str | None) -> tuple[CompiledPack, CompiledPack]:
    """The two packs; a store is opened only when one of them is ``id@version``."""
    from sellerpolicy.engine.change.refs import is_stored_ref, resolve_pack

    if store is None or not (is_stored_ref(old) or is_stored_ref(new)):
        return resolve_pack(old), resolve_pack(new)
    from sellerpolicy.engine.store.decisions import DecisionStore

    with DecisionStore(store) as opened:
        return resolve_pack(old, opened), resolve_pack(new, opened)
