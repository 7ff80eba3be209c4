"""Shared fixtures: keys, small generated inputs, and an in-process Beam runner."""

from __future__ import annotations

import io
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.pipeline import PipelineVisitor
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines import sketch
from pipelines.common import make_pipeline
from transforms import synthetic

# The machine's temp folder as the tests started, before ``temp_folder`` moves theirs into pytest's (0700):
# for what another user must reach, or a socket path that must stay short (a PostgreSQL server's folder).
SYSTEM_TEMP = Path(tempfile.gettempdir())


def write_csv(path: Path, table: pa.Table) -> Path:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink)
    path.write_bytes(sink.getvalue())
    return path


def write_key(path: Path) -> Path:
    """A fresh random key file, private as the commands expect (they warn about one others can read)."""
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


def sketched_base(folder: Path, customers: int, *sketch_args: str) -> tuple[Path, pa.Table]:
    """A generated customer base in ``folder``, a key, and its bundle in ``folder/bundle``."""
    key = write_key(folder / "k.key")
    base = synthetic.customers(customers)
    write_csv(folder / "customers.csv", base)
    args = ["--customers", str(folder / "customers.csv"), "--out", str(folder / "bundle"), "--key-file", str(key)]
    sketch.run([*args, *sketch_args])
    return key, base


def applied_transforms(pipeline: beam.Pipeline) -> dict[str, Any]:
    """Every applied transform of a pipeline by its full label (a ParDo step's DoFn is its ``fn``)."""
    found: dict[str, Any] = {}

    class Collect(PipelineVisitor):
        def enter_composite_transform(self, node: Any) -> None:
            found[node.full_label] = node.transform

        def visit_transform(self, node: Any) -> None:
            found[node.full_label] = node.transform

    pipeline.visit(Collect())
    return found


@pytest.fixture(scope="session", autouse=True)
def temp_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """This session's temp folder, for this process and every one it starts, inside pytest's own (which
    pytest rotates) rather than /tmp (which nobody cleans). Beam leaves a folder there for each pipeline
    built but never run (graphs only checked or translated) and each Dataflow job translated
    (``apache_beam.transforms.environments`` stages into a folder it never removes), Chromium its own:
    some 40 a test run."""
    folder = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(folder))
        patch.setattr(tempfile, "tempdir", str(folder))
        yield folder


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return write_key(tmp_path / "test.key")


@pytest.fixture
def other_key_file(tmp_path: Path) -> Path:
    return write_key(tmp_path / "other.key")


@pytest.fixture
def test_pipeline() -> Callable[[], beam.Pipeline]:
    """A TestPipeline on the in-process runner (the default DirectRunner may try Prism)."""

    def make() -> beam.Pipeline:
        runner = make_pipeline(PipelineOptions([])).runner
        return TestPipeline(runner=runner, options=PipelineOptions([]), argv=[])

    return make
