"""The engine's version: one place, read by pyproject.toml, claims.json and the run-cache key."""

__version__ = "0.1.0"
