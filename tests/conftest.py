"""Shared fixtures: keys, small generated inputs, and an in-process Beam runner."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.common import make_pipeline


def write_csv(path: Path, table: pa.Table) -> Path:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    path.write_bytes(sink.getvalue())
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "test.key"
    path.write_text(secrets.token_hex(32) + "\n")
    return path


@pytest.fixture
def other_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "other.key"
    path.write_text(secrets.token_hex(32) + "\n")
    return path


@pytest.fixture
def test_pipeline() -> Callable[[], beam.Pipeline]:
    """A TestPipeline on the in-process runner (the default DirectRunner may try Prism)."""

    def make() -> beam.Pipeline:
        runner = make_pipeline(PipelineOptions([])).runner
        return TestPipeline(runner=runner, options=PipelineOptions([]), argv=[])

    return make
