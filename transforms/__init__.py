"""Reusable Beam transforms and the pure functions they wrap."""

__version__ = "0.1.0"
