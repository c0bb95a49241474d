"""Importers: the marketplaces' own reports in, and reconciliation with their numbers.

Owns reading report files into DuckDB with every line numbered and malformed
lines rejected (``report_files``), turning report lines into contract rows by
a mapping (``contract_rows``), Amazon's flat-file reports to a source folder
(``amazon_reports``), Amazon's Account Health report and eBay's Analytics API
responses to metric facts (``amazon_health``, ``ebay``, with ``reported``:
metrics as a report states them, checked and assigned to a pack's metric
uses, and ``json_input``: JSON read with located errors), and the comparison
of the metrics sellerpolicy computes with those a marketplace reported
(``reconcile``).

Its layer is that of ``evaluation``: reports become sources (``sources``) and
facts (``metrics``), read through the mappings of ``formats``, and
reconciliation computes metrics; nothing here evaluates a pack. The writer of
report-shaped marketplaces lives in ``generate`` (a lower layer), so both read
the mappings from ``formats``.

May import: ``engine.sources``, ``engine.formats``, ``engine.metrics`` and the
shared modules (``errors``, ``logs``), and ``sellerpolicy.rules``.
"""
