"""Runnable pipelines: option parsing and graph wiring only."""
