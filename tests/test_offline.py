"""The whole demo runs with the network cut off, and tries no connection or name lookup beyond loopback.

The cut is real where the kernel allows it: ``unshare -rn`` runs the command in a new user and network
namespace whose only interface is loopback, so nothing can leave whatever the code does. On top of that,
and alone where user namespaces are forbidden (some container runtimes), a ``sitecustomize`` on PYTHONPATH
refuses and records every non-loopback ``connect`` and ``getaddrinfo``: an attempt fails the test even
when the namespace would have stopped it quietly.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

COMMAND_SECONDS = 180
UNROUTABLE = ("192.0.2.1", 80)  # TEST-NET-1: never a real host
ATTEMPTS_ENV = "DUMPMATCH_TEST_NETWORK_ATTEMPTS"
SITECUSTOMIZE = f'''"""Refuses and records network attempts that leave this machine (tests/test_offline.py)."""
import ipaddress
import os
import socket

_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _local(host):
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host in (None, "localhost")


def _refuse(what):
    with open(os.environ["{ATTEMPTS_ENV}"], "a", encoding="utf-8") as log:
        log.write(what + "\\n")
    raise OSError({errno.ENETUNREACH}, "network blocked by tests/test_offline.py: " + what)


def _guarded(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
            _refuse(f"connect {{address!r}}")
        return real(self, address)

    return connect


def getaddrinfo(host, *args, **kwargs):
    if not _local(host):
        _refuse(f"getaddrinfo {{host!r}}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded(_connect)
socket.socket.connect_ex = _guarded(_connect_ex)
socket.getaddrinfo = getaddrinfo
'''
# Inside the namespace: outbound fails at once (no route), loopback works once it is up.
PROBE = f"""
import errno, socket
try:
    socket.create_connection({UNROUTABLE!r}, timeout=5)
    raise SystemExit("connected out")
except OSError as err:
    assert err.errno == errno.ENETUNREACH, err
server = socket.create_server(("127.0.0.1", 0))
socket.create_connection(server.getsockname(), timeout=5).close()
"""


def _namespace() -> list[str]:
    """The prefix that runs a command without network, or [] where user namespaces are not allowed."""
    if shutil.which("unshare") is None:
        return []
    prefix = [
        "unshare",
        "--user",
        "--map-root-user",
        "--net",
        "sh",
        "-c",
        'ip link set lo up 2>/dev/null; exec "$@"',
        "-",
    ]
    if subprocess.run([*prefix, "true"], capture_output=True, timeout=30).returncode != 0:
        return []
    return prefix


def _run(prefix: list[str], argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *argv], capture_output=True, text=True, env=env, timeout=COMMAND_SECONDS)


def test_the_demo_runs_offline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    attempts = tmp_path / "attempts.txt"
    env = {**os.environ, "PYTHONPATH": str(site), ATTEMPTS_ENV: str(attempts)}
    prefix = _namespace()
    if prefix:
        bare = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        probe = _run(prefix, [sys.executable, "-c", PROBE], bare)
        assert probe.returncode == 0, f"the namespace does not cut the network: {probe.stderr}"

    guard = _run(prefix, [sys.executable, "-c", f"import socket; socket.socket().connect({UNROUTABLE!r})"], env)
    assert guard.returncode != 0 and "network blocked by tests/test_offline.py" in guard.stderr
    assert attempts.read_text() == f"connect {UNROUTABLE!r}\n", "the guard is loaded and records attempts"
    attempts.unlink()

    demo = _run(
        prefix,
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "demo",
            "--out",
            str(tmp_path / "demo"),
            "--customers",
            "500",
            "--dump-rows",
            "300",
        ],
        env,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "verdict: genuine" in demo.stdout
    assert not attempts.exists(), f"network attempts: {attempts.read_text()}"
    print("network cut by", "unshare -rn (real namespace) and the guard" if prefix else "the sitecustomize guard alone")
