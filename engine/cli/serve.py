"""``sellerpolicy serve``: run the HTTP service (uvicorn) on a decision store.

On first start with an empty store the shipped packs are imported and
activated (author ``system``). Create a key first: ``sellerpolicy keys
create --role admin --store URL``. By default activating an uploaded pack
version needs an approval by an admin other than its uploader;
``--no-require-approval`` lets any admin activate directly. The service's
packages (FastAPI, uvicorn, prometheus-client) are imported only when the
command runs, so the rest of the CLI works without them.

``--workers N`` runs N processes sharing the port (uvicorn's supervisor),
on PostgreSQL only: SQLite takes one writer at a time, and its fast path
stores small evaluations on the event loop by only *trying* the write lock,
which several processes would take from each other; one SQLite worker uses
its core fully. The store is migrated (and the shipped packs imported) once
before the workers start; each worker then reads active versions and keys
from the store within ``pack_cache_seconds`` / ``key_cache_seconds`` (see
:mod:`sellerpolicy.engine.service.state`), and ``/metrics`` reports the sum
over the workers (prometheus_client's multiprocess mode, in a fresh folder).
Rate limits (``--rate-limit``) are kept per worker: each gets 1/N of them.

Load (:mod:`sellerpolicy.engine.service.load`): ``--max-in-flight``
requests per worker, more are answered 503 at once; ``--request-timeout``
answers a slower evaluation 504 and stores nothing of it. On ``SIGTERM``
``/readyz`` turns 503 for ``--drain-seconds`` while requests are still
served, then the listeners close, in-flight requests get up to
``--shutdown-timeout`` to finish, and the store is closed.

``--log-format json`` makes every line on stderr one JSON object: uvicorn's
access lines (``http_request`` with ``method``, ``path``, ``status``...) and
error log, and the service's own events, each request's carrying its
``correlation_id`` (the ``X-Request-ID`` the client sent when it is a sane
token, else a fresh id; echoed in the answer's ``X-Request-ID``). The default,
``console``, keeps uvicorn's own lines (see :mod:`sellerpolicy.engine.logs`).

Before serving, everything loaded so far (the app, the compiled shipped
packs, pandas, DuckDB, SQLAlchemy...: over 100,000 objects) is moved out of
the garbage collector's reach with :func:`gc.freeze`: a full collection of
that heap takes about 70 ms, which otherwise lands on whichever requests are
in flight when it runs (the p99 latency). Cycles among objects created
later are still collected as usual.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import tempfile
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sellerpolicy.engine.cli.root import EXIT_INPUT, app, err_console
from sellerpolicy.engine.logs import (
    configure_logging,
    configure_stdlib_logging,
    service_log_config,
)
from sellerpolicy.engine.store import DEFAULT_STORE_URL

if TYPE_CHECKING:
    from fastapi import FastAPI

    from sellerpolicy.engine.service.state import Settings

#: The environment variable handing the settings to worker processes (JSON).
SETTINGS_VARIABLE = "SELLERPOLICY_SERVE_SETTINGS"
#: The environment variable handing ``--log-format`` to worker processes.
LOG_FORMAT_VARIABLE = "SELLERPOLICY_SERVE_LOG_FORMAT"


class ServeLogFormat(StrEnum):
    """How ``serve`` writes its logs on stderr (``--log-format``)."""

    CONSOLE = "console"  # uvicorn's own lines; the service's events as other commands do
    JSON = "json"  # one JSON object per line, everything, with each request's correlation id


EPILOG = """\
Examples:

  # the API and the workbench on a SQLite file (http://127.0.0.1:8080, /docs, /)
  sellerpolicy keys create --role admin --store sellerpolicy.db
  sellerpolicy serve --store sellerpolicy.db

  # two workers on PostgreSQL, shedding past 32 requests in flight per worker
  sellerpolicy serve --host 0.0.0.0 --workers 2 --max-in-flight 32 \\
      --store postgresql+psycopg://app@db.internal/sellerpolicy

  # evaluators limited to 200 requests/s (bursts of 50); activation without approval
  sellerpolicy serve --store sellerpolicy.db --rate-limit evaluator=200:50 \\
      --no-require-approval

  # JSON logs on stderr (access lines included), one object per line
  sellerpolicy serve --store sellerpolicy.db --log-format json 2>> service.jsonl
"""


@app.command("serve", epilog=EPILOG)
def serve_command(
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    store: Annotated[
        str,
        typer.Option(help="Decision store: SQLAlchemy URL or SQLite file path."),
    ] = DEFAULT_STORE_URL,
    max_body: Annotated[
        int | None,
        typer.Option(min=1024, help="Largest request body accepted, in bytes (default 32 MiB)."),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log one line per request.")] = True,
    log_format: Annotated[
        ServeLogFormat,
        typer.Option(
            help="Logs on stderr: console (uvicorn's lines), json (one JSON object per line, "
            "access lines included, with each request's correlation_id)."
        ),
    ] = ServeLogFormat.CONSOLE,
    require_approval: Annotated[
        bool,
        typer.Option(
            help="Activating a pack version (now or scheduled) needs an approval by an "
            "admin other than its uploader; --no-require-approval: any admin activates."
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(min=1, max=64, help="Processes sharing the port (PostgreSQL stores only)."),
    ] = 1,
    max_in_flight: Annotated[
        int,
        typer.Option(min=0, help="Requests a worker handles at once; more get 503 (0: no bound)."),
    ] = 16,
    request_timeout: Annotated[
        float,
        typer.Option(min=0.01, help="Seconds an evaluation or read may take; then 504."),
    ] = 30.0,
    drain_seconds: Annotated[
        float,
        typer.Option(min=0, help="After SIGTERM: seconds /readyz says 503 while still serving."),
    ] = 1.0,
    shutdown_timeout: Annotated[
        float,
        typer.Option(min=0, help="After draining: seconds in-flight requests get to finish."),
    ] = 30.0,
    rate_limit: Annotated[
        list[str] | None,
        typer.Option(
            help="SUBJECT=RATE[:BURST]: requests/s per key of a role (evaluator...) or a key "
            "id; repeat for several."
        ),
    ] = None,
) -> None:
    """Serve the evaluation API (OpenAPI at /openapi.json, docs at /docs)."""
    try:
        import uvicorn

        from sellerpolicy.engine.service.load import RateLimit
        from sellerpolicy.engine.service.state import ServiceState, Settings
    except ImportError as exc:
        _fail(f"the HTTP service needs {exc.name}: pip install 'sellerpolicy[service]'", exc)
    try:
        limits = tuple(RateLimit.parse(text) for text in rate_limit or ())
    except ValueError as exc:
        _fail(f"--rate-limit {exc}", exc)
    settings = Settings(
        store_url=store,
        require_approval=require_approval,
        max_in_flight=max_in_flight,
        request_timeout_seconds=request_timeout,
        drain_seconds=drain_seconds,
        rate_limits=limits,
    )
    if max_body is not None:
        settings = dataclasses.replace(settings, max_body_bytes=max_body)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": access_log,
        "log_level": "info",
        "timeout_graceful_shutdown": shutdown_timeout,
    }
    options.update(_configure_logs(log_format))
    if workers == 1:
        from sellerpolicy.engine.service.app import create_app

        service = create_app(settings)
        _freeze_heap()
        uvicorn.run(service, **options)
        return
    if not _postgres(store):
        _fail(
            "--workers needs a PostgreSQL store: SQLite takes one writer at a time, and "
            "workers would take its write lock from each other (one worker on SQLite "
            "uses its core fully; run replicas on PostgreSQL to scale)"
        )
    ServiceState(settings).close()  # migrate and import the shipped packs once, not per worker
    per_worker = tuple(
        dataclasses.replace(
            limit, per_second=limit.per_second / workers, burst=max(1.0, limit.burst / workers)
        )
        if limit.burst
        else dataclasses.replace(limit, per_second=limit.per_second / workers)
        for limit in limits
    )
    settings = dataclasses.replace(settings, import_shipped=False, rate_limits=per_worker)
    folder = tempfile.mkdtemp(prefix="sellerpolicy-metrics-")
    os.environ[SETTINGS_VARIABLE] = json.dumps(dataclasses.asdict(settings))
    os.environ[LOG_FORMAT_VARIABLE] = log_format.value
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder  # read by each worker's prometheus_client
    try:
        target = "sellerpolicy.engine.cli.serve:worker_app"
        uvicorn.run(target, factory=True, workers=workers, **options)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def worker_app() -> FastAPI:
    """The app of one worker process (``--workers N``): settings from the environment."""
    from sellerpolicy.engine.service.app import create_app
    from sellerpolicy.engine.service.load import RateLimit
    from sellerpolicy.engine.service.state import Settings

    if os.environ.get(LOG_FORMAT_VARIABLE) == ServeLogFormat.JSON:
        import logging

        logging.captureWarnings(True)
        configure_stdlib_logging()  # uvicorn configured the handlers in this process already
    else:
        configure_logging()
    given = json.loads(os.environ[SETTINGS_VARIABLE])
    given["rate_limits"] = tuple(RateLimit(**limit) for limit in given["rate_limits"])
    settings: Settings = Settings(**given)
    service = create_app(settings)
    _freeze_heap()
    return service


def _configure_logs(log_format: ServeLogFormat) -> dict[str, Any]:
    """Configure this process's logs; the options that tell uvicorn to do the same."""
    if log_format is ServeLogFormat.CONSOLE:
        configure_logging()
        return {}
    import logging.config

    config = service_log_config()
    logging.config.dictConfig(config)  # now: the service logs while it starts, before uvicorn
    logging.captureWarnings(True)  # warnings too become JSON lines (through the root logger)
    configure_stdlib_logging()
    return {"log_config": config}


def _postgres(store: str) -> bool:
    return store.startswith(("postgresql:", "postgresql+", "postgres:"))


def _fail(message: str, cause: BaseException | None = None) -> Any:
    err_console().print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(EXIT_INPUT) from cause


def _freeze_heap() -> None:
    """Collect once, then exempt every surviving object from later collections."""
    gc.collect()
    gc.freeze()
