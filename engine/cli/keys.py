"""``sellerpolicy keys create|list|revoke``: API keys of the HTTP service.

A key is printed once, by ``create``, and stored only as a SHA-256 digest.
Roles: reader < evaluator < editor < admin.
"""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from sellerpolicy.engine.cli.root import app, err_console, out_console
from sellerpolicy.engine.store import DEFAULT_STORE_URL

if TYPE_CHECKING:
    from sellerpolicy.engine.store.keys import Role

keys_app = typer.Typer(
    help="Create, list and revoke API keys of the HTTP service.",
    epilog=(
        "Examples:\n\n"
        "  sellerpolicy keys create --role evaluator --store sellerpolicy.db\n\n"
        "  sellerpolicy keys list --store postgresql+psycopg://sp@db/sellerpolicy\n\n"
        "  sellerpolicy keys revoke 3f9a1c07 --store sellerpolicy.db"
    ),
)
app.add_typer(keys_app, name="keys")

StoreOption = Annotated[
    str, typer.Option(help="Decision store: SQLAlchemy URL or SQLite file path.")
]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _role(text: str) -> Role:
    from sellerpolicy.engine.store.keys import Role

    try:
        return Role.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


@keys_app.command(
    "create",
    epilog="Example:\n\n  sellerpolicy keys create --role evaluator --store sellerpolicy.db",
)
def create_command(
    role: Annotated[
        str, typer.Option(help="reader, evaluator, editor or admin.", show_default=False)
    ],
    store: StoreOption = DEFAULT_STORE_URL,
) -> None:
    """Create a key and print it (once: only its hash is stored)."""
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.engine.store.keys import KeyStore

    chosen = _role(role)
    with DecisionStore(store) as opened:
        record, key = KeyStore(opened.engine, opened.where).create(chosen, actor=_actor())
    typer.echo(key)
    err_console().print(
        f"created key {record.id} ({record.role.label}); store it now, it is not shown again",
        markup=False,
        highlight=False,
    )


@keys_app.command("list", epilog="Example:\n\n  sellerpolicy keys list --store sellerpolicy.db")
def list_command(store: StoreOption = DEFAULT_STORE_URL) -> None:
    """List keys: id, prefix, role, created, revoked (never the key)."""
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.engine.store.keys import KeyStore

    with DecisionStore(store) as opened:
        keys = KeyStore(opened.engine, opened.where).list()
    table = Table("id", "prefix", "role", "created_at", "revoked_at")
    for key in keys:
        revoked = key.revoked_at.isoformat() if key.revoked_at else ""
        table.add_row(key.id, key.prefix, key.role.label, key.created_at.isoformat(), revoked)
    out_console().print(table)


@keys_app.command(
    "revoke", epilog="Example:\n\n  sellerpolicy keys revoke 3f9a1c07 --store sellerpolicy.db"
)
def revoke_command(
    key_id: Annotated[str, typer.Argument(help="The key id (from keys list).")],
    store: StoreOption = DEFAULT_STORE_URL,
) -> None:
    """Revoke a key: it stops authenticating at once."""
    from sellerpolicy.engine.store.decisions import DecisionStore
    from sellerpolicy.engine.store.keys import KeyStore

    with DecisionStore(store) as opened:
        record = KeyStore(opened.engine, opened.where).revoke(key_id, actor=_actor())
    typer.echo(f"revoked key {record.id} ({record.role.label})")
