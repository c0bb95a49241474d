"""Policy change: what a new pack version would do before it goes live.

Owns the impact analysis of one pack against another on the same population
(``impact``, its report as values, JSON and HTML), the populations it runs on
(``population``: a source, a facts file, or the facts replayed from the
decision log), the backtest over a range of dates with escalation history
(``backtest``), the threshold sweep of one rule (``sweep``) and their charts
(``charts``).

May import: ``engine.batch`` and the layers below it.
"""
