"""Secrets by reference: one registry of secret-manager providers, keyed by URI scheme.

A secret (the hashing key, a database password) travels through a job only as its reference, e.g.
``gcpsm://projects/P/secrets/S/versions/V``; every process that needs it reads it from the provider
itself (the launcher at launch, each worker in ``DoFn.setup``), so Dataflow's UI, the job graph and
the pickled DoFns hold the name, never the value. Google Secret Manager is built in; another manager
(Vault, AWS, a test double) is one ``register`` call with an object that has ``read(name) -> bytes``.
"""

from __future__ import annotations

import re
from typing import Protocol

from transforms.errors import InputError

GCP_SCHEME = "gcpsm"
GCP_SECRET_NAME = re.compile(r"projects/[^/]+/secrets/[^/]+/versions/[^/]+")
SEPARATOR = "://"


class SecretError(Exception):
    """A provider could not give the secret; the message says why, without the secret."""


class SecretProvider(Protocol):
    def read(self, name: str) -> bytes:
        """The secret named ``name`` (the reference without ``scheme://``); raises SecretError."""
        ...


class GoogleSecretManager:
    """``gcpsm://projects/P/secrets/S/versions/V``, read with the ambient Google credentials."""

    def read(self, name: str) -> bytes:
        if not GCP_SECRET_NAME.fullmatch(name):
            raise SecretError("expected projects/P/secrets/S/versions/V")
        from google.api_core.exceptions import GoogleAPIError
        from google.auth.exceptions import GoogleAuthError
        from google.cloud import secretmanager

        try:
            response = secretmanager.SecretManagerServiceClient().access_secret_version(name=name)
        except (GoogleAPIError, GoogleAuthError) as err:
            raise SecretError(
                f"cannot read the secret ({type(err).__name__}): check the name and that this account may access it"
            ) from None
        return bytes(response.payload.data)


_PROVIDERS: dict[str, SecretProvider] = {GCP_SCHEME: GoogleSecretManager()}


def register(scheme: str, provider: SecretProvider) -> None:
    """Makes ``scheme://name`` references readable through ``provider`` in this process."""
    if not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) or scheme in ("gs", "file"):
        raise ValueError(f"secret scheme {scheme!r}: lowercase letters, digits, + . -; not a storage scheme")
    _PROVIDERS[scheme] = provider


def unregister(scheme: str) -> None:
    _PROVIDERS.pop(scheme, None)


def is_reference(text: str) -> bool:
    """Whether ``text`` names a secret of a registered provider (otherwise it is a path)."""
    scheme, separator, _ = text.partition(SEPARATOR)
    return bool(separator) and scheme in _PROVIDERS


def read(reference: str) -> bytes:
    """The secret's bytes; a provider's failure stops the run with one line naming the reference."""
    scheme, _, name = reference.partition(SEPARATOR)
    try:
        return _PROVIDERS[scheme].read(name)
    except SecretError as err:
        raise InputError(f"{reference}: {err}") from None
