"""Service: the HTTP API (FastAPI).

Owns the application (``app``), its state and dependencies (``state``),
middleware, large requests off the event loop (``offload``), the
one-seller fast path (``fast``), routes (``evaluate``,
``decisions``, ``packs``, ``events``), request and response models
(``models``), problem+json errors (``problems``) and Prometheus metrics
(``metrics``).

May import: ``engine.batch`` and every layer below it. Not ``engine.cli``.
"""
