"""sellerpolicy.rules: the rule-pack language (load, validate, check, compile).

Pure: no database, no HTTP, no durable-rules import, and nothing from
``sellerpolicy.engine`` (a test checks this).
"""
