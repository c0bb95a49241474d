"""Batch: a whole population evaluated from a source or a facts file to outputs.

Owns the pipeline (``run``), its columnar leg (``columnar``), a run's
summary and counts (``summary``), record sinks (``sinks``), facts-file
reading (``facts_file``) and the Dask runner: its driver (``distributed``) and
what runs on a worker for one partition (``partition``).

May import: ``engine.columnar``, ``engine.store`` and the layers below them.
"""
