"""A throwaway PostgreSQL server for tests: a temporary data directory, a free localhost port.

The server is the real one (Debian: ``apt-get install -y postgresql``), started with ``pg_ctl``
as an unprivileged user (PostgreSQL refuses to run as root), with its unix socket in the
temporary directory. Local socket connections are trusted (test set-up as the superuser); TCP
connections need a SCRAM password, so tests see real authentication. Durability is switched
off: the data is thrown away, and start-up stays around a second.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from tests.conftest import SYSTEM_TEMP

SUPERUSER = "dumpmatch_admin"
UNPRIVILEGED_USERS = ("postgres", "nobody")  # PostgreSQL refuses root; the Debian package makes "postgres"
START_TIMEOUT_S = 30
INSTALL_HINT = "apt-get install -y postgresql"
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
}


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb``/``pg_ctl``/``postgres``: PATH first, then Debian's layout."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: [int(n) for n in re.findall(r"\d+", p.parts[-3])],
    )
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PostgresServer:
    """A running server: admin access over the socket, password-protected URIs over TCP."""

    root: Path
    port: int
    bin_dir: Path
    run_as: pwd.struct_passwd | None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def admin(self, dbname: str = "postgres", user: str = SUPERUSER) -> psycopg.Connection:
        """An autocommit connection over the unix socket (trusted: no password)."""
        return psycopg.connect(host=str(self.root), port=self.port, dbname=dbname, user=user, autocommit=True)

    def uri(self, user: str, dbname: str, **params: str) -> str:
        """A ``postgresql://`` URI over TCP, without a password."""
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}" + (f"?{query}" if query else "")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.run_as is not None:
            kwargs = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], cwd=self.root, capture_output=True, text=True, **kwargs
        )

    def start(self) -> None:
        initdb = self._run(
            "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync",
            "--auth-local=trust", "--auth-host=scram-sha-256",
        )  # fmt: skip
        if initdb.returncode:
            raise RuntimeError(f"initdb failed: {initdb.stderr.strip()}")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in {**_SETTINGS, "port": str(self.port)}.items())
            conf.write(f"unix_socket_directories = '{self.root}'\n")
        started = self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w",
            "-t", str(START_TIMEOUT_S), "start",
        )  # fmt: skip
        if started.returncode:
            log = (self.root / "server.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()}\n{log}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd:
    for name in UNPRIVILEGED_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"running as root and none of the users {UNPRIVILEGED_USERS} exists to run PostgreSQL")


def start_server(parent: Path | None = None) -> PostgresServer:
    """Starts a fresh server in a new folder of ``parent`` (default: the temp folder), which the server's
    user must reach; skips the calling test when no server binary is installed."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(f"no PostgreSQL server binaries (initdb, pg_ctl) found: {INSTALL_HINT}")
    run_as = _unprivileged_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="dumpmatch-pg-", dir=parent))
    if run_as is not None:
        os.chown(root, run_as.pw_uid, run_as.pw_gid)
    server = PostgresServer(root, free_port(), bin_dir, run_as)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


def server_fixture(scope: str = "session") -> Callable[[], Iterator[PostgresServer]]:
    """A pytest fixture (assign it to a name in a test module) yielding a running server."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def fixture() -> Iterator[PostgresServer]:
        server = start_server(SYSTEM_TEMP)
        try:
            yield server
        finally:
            server.stop()

    return fixture
