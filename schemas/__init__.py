"""JSON Schemas (draft 2020-12) for packs, fixtures, input tables, facts and decisions."""
