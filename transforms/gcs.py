"""Cloud Storage set-up: ``STORAGE_EMULATOR_HOST`` alone points every process at an emulator.

Beam 2.77 builds each GCS client through ``gcsio.create_storage_client``, which first calls
``google.auth.default()`` and, finding no credentials, retries with back-off (2 + 4 + 8 + 16 s,
fuzzed to 15-30 s) in every process, workers included, before it connects anonymously. An
emulator needs no credentials, so while the variable is set we take Beam's own anonymous branch
at once; google-cloud-storage then sends every request to the emulator.
"""

from __future__ import annotations

import functools
import os
import socket
from typing import Any
from urllib.parse import urlsplit

from apache_beam.io.gcp import gcsio

SCHEME = "gs"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
CONNECT_SECONDS = 2.0
_DEFAULT_PORTS = {"http": 80, "https": 443}
_beam_storage_client = gcsio.create_storage_client


class EmulatorUnreachable(Exception):
    """Nothing answers at the emulator address (the client would retry it for two minutes).

    Not an OSError on purpose: code that reads OSError as "file missing" must not swallow it.
    """


def use_emulator_when_set() -> None:
    """Routes Beam's GCS client factory through ours; idempotent, needed once per process."""
    gcsio.create_storage_client = _storage_client


def _storage_client(pipeline_options: Any, use_credentials: bool = True) -> Any:
    """Beam's factory, anonymous and checked first while the emulator variable is set."""
    endpoint = os.environ.get(EMULATOR_ENV)
    if not endpoint:
        return _beam_storage_client(pipeline_options, use_credentials)
    _check_reachable(endpoint)
    return _beam_storage_client(pipeline_options, use_credentials=False)


@functools.cache
def _check_reachable(endpoint: str) -> None:
    """One TCP connect per endpoint and process: success is cached, a failure (an exception) is not."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EmulatorUnreachable(f"{EMULATOR_ENV}={endpoint} is not a URL: write it as http://HOST:PORT")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
        socket.create_connection((parts.hostname, port), timeout=CONNECT_SECONDS).close()
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise EmulatorUnreachable(
            f"nothing answers at {EMULATOR_ENV}={endpoint} ({reason}): start the emulator or unset {EMULATOR_ENV}"
        ) from None
