"""sellerpolicy.engine: the runtime, in layers along the data flow.

order events -> metric facts -> pack evaluation -> decisions -> sinks:

=============  ================================================================
``sources``    reading sources, row and event validation, rejects
``formats``    the marketplaces' report formats: mapping files and their loader
``metrics``    metric SQL (DuckDB) and the facts it produces
``generate``   the synthetic marketplace
``evaluation`` ``evaluate()``, decisions, explanations, history, pack tests,
               row-wise back ends
``importers``  marketplace reports to sources and facts; reconciliation
``columnar``   the bulk columnar layout and the vectorized back end
``store``      decision store, history, pack store, API keys, migrations
``batch``      the batch run, sinks, facts files, the Dask runner
``change``     policy change: impact of a new pack, backtest, threshold sweep
``service``    the HTTP service
``api``        the Python API (``Policy``)
``cli``        the command line
``client``     a typed client of the HTTP service (httpx only, no engine import)
=============  ================================================================

Each layer imports only from the layers above it in this table (``columnar``
and ``store`` not from each other); ``errors`` and ``logs`` serve every layer.
``tests/layers/test_engine_layers.py`` keeps it so.
"""
