"""Headless Chromium from the system's package, driven over the Chrome DevTools Protocol (a websocket on
127.0.0.1), for tests that look at a page the way a person's browser shows it.

No browser download: the binary is Debian's ``chromium`` (``make test`` installs it). Chromium prints its
DevTools websocket address on stderr when started with ``--remote-debugging-port=0``; one flattened
session on that socket drives one tab.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_SECONDS = 30.0
CALL_SECONDS = 30.0
DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class Tab:
    """One tab: send a command and wait for its answer; events that arrive meanwhile are kept."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._next = 0
        self.session: str | None = None
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + CALL_SECONDS
        while True:
            reply = json.loads(self._socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
            if reply.get("id") != self._next:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply.get("result", {})

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + CALL_SECONDS
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self._socket.recv(timeout=max(deadline - time.monotonic(), 0.01))))
        return next(e for e in self.events if e.get("method") == event)

    def open(self, path: Path, width: int, height: int) -> None:
        """Loads a local file in a window of the given size; console, log and exceptions are recorded."""
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")

    def errors(self) -> list[dict[str, Any]]:
        """Uncaught exceptions, console.error calls, error log entries (a CSP violation is one), dialogs."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if (
                method in ("Runtime.exceptionThrown", "Page.javascriptDialogOpening")
                or (method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"))
                or (method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error")
            ):
                found.append(event)
        return found

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """The whole page, not just the window, as PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def pdf(self) -> bytes:
        """The page as its print stylesheet lays it out."""
        return base64.b64decode(self.call("Page.printToPDF", printBackground=True)["data"])


@contextmanager
def chromium(browser: str, profile: Path) -> Iterator[Tab]:
    """A headless Chromium with a fresh profile, and one tab attached to it."""
    command = [
        browser,
        "--headless=new",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        "about:blank",
    ]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        """Reads stderr to its end, so Chromium never blocks on a full pipe; notes the DevTools address."""
        assert process.stderr is not None
        for raw in process.stderr:
            if not found and (hit := DEVTOOLS.search(raw.decode("utf-8", "replace"))):
                found.append(hit.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(START_SECONDS) or not found:
            raise RuntimeError(f"{browser} printed no DevTools address within {START_SECONDS:.0f} s")
        with connect(found[0], max_size=None, open_timeout=START_SECONDS) as socket:
            tab = Tab(socket)
            target = tab.call("Target.createTarget", url="about:blank")["targetId"]
            tab.session = tab.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            yield tab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
