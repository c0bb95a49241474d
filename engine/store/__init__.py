"""Store: everything kept in the database (SQLite or PostgreSQL).

Owns the decision store (``decisions``), escalation-history queries
(``history``), SQLite specifics (``sqlite``), the pack store and audit log
(``packs``), API keys and roles (``keys``) and the Alembic migrations
(``migrations``).

May import: ``engine.evaluation`` and the layers below it. Not ``engine.columnar``.
"""
