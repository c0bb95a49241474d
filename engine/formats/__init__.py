"""Formats: the marketplaces' report formats, as mapping files and their typed form.

A *mapping* says how one report format, in one version, becomes the data
contract's tables or metric facts: the public documentation it was taken
from (URL and the date it was checked), the report's columns or JSON keys,
which of them map to which contract column or catalog metric, the value
vocabularies, and notes where the documentation is silent. Mappings are data:
one YAML file per format and version in ``mappings/`` (a new report version is
a new file, not new code), loaded and checked here (``document``: reading
YAML with positions into checked values; ``flat``: tab-separated reports;
``json_reports``: JSON reports; ``registry``: the shipped files, by id).

Both the importers (``engine.importers``) and the generator of report-shaped
marketplaces (``engine.generate``) read mappings, so they live on the lowest
layer, beside ``sources``.

May import: the shared modules (``errors``, ``logs``) and ``sellerpolicy.rules``.
"""
