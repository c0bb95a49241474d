"""Choosing the evaluation back end by name (``--backend``).

Kept apart from the pipeline so that choosing a back end imports neither
DuckDB nor Arrow: ``sellerpolicy test``, the service and the Python API pick
one without loading the batch machinery. Each back end is imported when
chosen.
"""

from __future__ import annotations

from sellerpolicy.engine.evaluation.backends.protocol import Backend, BackendName
from sellerpolicy.engine.evaluation.backends.python import PythonBackend

__all__ = ["select_backend"]


def select_backend(name: BackendName, *, small: bool = False) -> Backend:
    """The back end for ``--backend``: ``auto`` is the vectorized one for batches.

    The back ends agree exactly (a differential test over every shipped pack
    proves it); the vectorized one evaluates every rule over a whole batch's
    columns at once, so batches use it unless told otherwise. With ``small``
    (a handful of sellers: pack fixtures, one-seller requests) ``auto`` is the
    pure-Python one, which needs neither NumPy nor Arrow and starts at once.
    """
    if name is BackendName.AUTO and small:
        name = BackendName.PYTHON
    if name is BackendName.DURABLE:
        from sellerpolicy.engine.evaluation.backends.durable import DurableBackend  # noqa: PLC0415 (loads the C engine on demand)

        return DurableBackend()
    if name is BackendName.PYTHON:
        return PythonBackend()
    from sellerpolicy.engine.columnar.backend import VectorBackend  # noqa: PLC0415 (NumPy kernels: load on demand)

    return VectorBackend()
