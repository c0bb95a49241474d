"""sellerpolicy.engine: sources, metrics, evaluation back ends, decisions, store, CLI."""
