"""Store: everything kept in the database (SQLite or PostgreSQL).

Owns the decision store (``decisions``), escalation-history queries
(``history``), SQLite specifics (``sqlite``), the pack store and audit log
(``packs``), API keys and roles (``keys``) and the Alembic migrations
(``migrations``).

May import: ``engine.evaluation`` and the layers below it. Not ``engine.columnar``.
"""

# Here rather than in ``decisions`` so that the CLI can show it in --help
# without importing SQLAlchemy.
DEFAULT_STORE_URL = "sqlite:///sellerpolicy.db"
