"""Reusable Beam transforms and the pure functions they wrap."""

from transforms import logs as _logs

__version__ = "0.1.0"

# Every process that runs our code imports this package first: none of them may log elements.
_logs.drop_element_logs()
