"""A real Cloud Storage emulator (gcp-storage-emulator) over HTTP on 127.0.0.1, one per test process.

Each pytest-xdist worker has its own session, so each starts its own emulator on its own free port.
Tests get a fresh folder in one bucket and ``STORAGE_EMULATOR_HOST`` set for their duration.
Use it by importing the fixtures (``gcs_fixture``, ``gcs_emulator_fixture``) into a test module.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from transforms.gcs import EMULATOR_ENV

HOST = "127.0.0.1"
BUCKET = "dumpmatch-test"
START_SECONDS = 20.0
POLL_SECONDS = 0.05
REQUEST_SECONDS = 5.0
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Emulator:
    url: str
    bucket: str


@dataclass(frozen=True)
class GcsFolder:
    """A test's own gs:// folder on the running emulator."""

    url: str
    root: str


def free_port() -> int:
    """A port nothing listens on once this returns (the kernel does not hand it out again at once)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _wait_until_answers(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=REQUEST_SECONDS):
                return
        except OSError:
            time.sleep(POLL_SECONDS)
    raise RuntimeError(f"gcp-storage-emulator did not answer at {url} within {START_SECONDS} s: {log.read_text()}")


def _create_bucket(url: str, bucket: str) -> None:
    request = urllib.request.Request(
        f"{url}/storage/v1/b?project=test",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=REQUEST_SECONDS):
        pass


@pytest.fixture(scope="session", name="gcs_emulator")
def gcs_emulator_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """Starts the emulator (in-memory store), waits until it answers, creates the bucket, stops it after."""
    folder = tmp_path_factory.mktemp("gcs-emulator")
    log = folder / "emulator.log"
    port = free_port()
    url = f"http://{HOST}:{port}"
    command = [sys.executable, "-m", "gcp_storage_emulator", "start", "--host", HOST, f"--port={port}", "--in-memory"]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink, cwd=folder)
    try:
        _wait_until_answers(url, process, log)
        _create_bucket(url, BUCKET)
        yield Emulator(url, BUCKET)
    finally:
        process.terminate()
        process.wait(timeout=STOP_SECONDS)


@pytest.fixture(name="gcs")
def gcs_fixture(gcs_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> GcsFolder:
    """``STORAGE_EMULATOR_HOST`` set for this test, and a folder of its own in the bucket."""
    monkeypatch.setenv(EMULATOR_ENV, gcs_emulator.url)
    return GcsFolder(gcs_emulator.url, f"gs://{gcs_emulator.bucket}/{uuid.uuid4().hex}")
