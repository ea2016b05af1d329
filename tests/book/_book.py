"""What the book tests share: where the book is built, headless Chromium, and how a page is read."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import select
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# what myst-nb renders for a cell that raised: a traceback block
ERROR_MARKERS = ("Traceback (most recent call last)", 'class="output traceback', "output error")


def executed(html_root: Path) -> Path:
    """The executed notebooks of the book whose HTML is ``html_root`` (``<tree>/_build/html``)."""
    return html_root.parents[1] / "book" / "executed"


def pages(html_root: Path) -> list[Path]:
    """The book's pages (not the index and search pages, not the theme's files)."""
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in html_root.rglob("*.html") if p.name not in skip and "_static" not in p.parts)


#: the virtual time a page's scripts get (what ``--virtual-time-budget=5000`` gave each ``--dump-dom`` process)
VIRTUAL_TIME_MS = 5000


class Browser:
    """One headless Chromium that loads page after page and returns each page's DOM, as ``--dump-dom`` would, over the
    DevTools protocol on a pipe (``--remote-debugging-pipe``: the browser reads commands on fd 3 and writes replies
    and events on fd 4, JSON messages ended by NUL). Each page gets a fresh tab, the same virtual-time budget as
    ``--virtual-time-budget`` (its scripts, MathJax's typesetting included, run until the page is idle or the
    budget is spent) and is read as ``document.documentElement.outerHTML``.

    Why: a Chromium start costs more than a page (a trivial page took 2.9 s with ``--dump-dom`` on the loaded 2-core
    machine); the book tests read ~38 pages per book. Measured there under the same load, 10 pages: 50.8 s with one
    ``--dump-dom`` process per page, 20.9 s with one :class:`Browser` (same DOM up to the doctype line)."""

    def __init__(self, profile: Path, timeout: float = 120.0):
        assert CHROMIUM, "headless Chromium is required (Debian package 'chromium'; `make test` installs it)"
        cmd_r, cmd_w = os.pipe()  # we write commands, the browser reads them on its fd 3
        out_r, out_w = os.pipe()  # the browser writes on its fd 4, we read
        # above the numbers 3 and 4 so that the dup2 onto them cannot clobber one another in the child
        hi_r, hi_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 100), fcntl.fcntl(out_w, fcntl.F_DUPFD, 100)
        for fd in (cmd_r, out_w):
            os.close(fd)

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        self.proc = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
                                     pass_fds=(3, 4), preexec_fn=child_fds, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(hi_r)
        os.close(hi_w)
        self._w, self._r = os.fdopen(cmd_w, "wb", buffering=0), os.fdopen(out_r, "rb", buffering=0)
        self._ids, self._buf, self._events, self.timeout = itertools.count(1), b"", [], timeout

    def _read(self) -> dict:
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._r], [], [], self.timeout)
            chunk = self._r.read(1 << 16) if ready else None
            if not chunk:
                self.proc.kill()
                err = self.proc.communicate()[1].decode(errors="replace")[-2000:]
                raise AssertionError(f"chromium {'timed out' if not ready else 'closed its pipe'}: {err}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        i = next(self._ids)
        self._w.write(json.dumps({"id": i, "method": method, "params": params or {},
                                  **({"sessionId": session} if session else {})}).encode() + b"\0")
        while True:
            msg = self._read()
            if msg.get("id") == i:
                assert "error" not in msg, f"chromium: {method}: {msg['error']}"
                return msg.get("result", {})
            self._events.append(msg)

    def _wait_for(self, method: str, session: str) -> dict:
        while True:
            for k, e in enumerate(self._events):
                if e.get("method") == method and e.get("sessionId") == session:
                    del self._events[: k + 1]
                    return e
            self._events.append(self._read())

    def dom(self, page: Path) -> str:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Emulation.setVirtualTimePolicy", {"policy": "pause"}, session=s)
        self.send("Page.navigate", {"url": page.as_uri()}, session=s)
        self.send("Emulation.setVirtualTimePolicy", {"policy": "pauseIfNetworkFetchesPending",
                                                     "budget": VIRTUAL_TIME_MS}, session=s)
        self._wait_for("Emulation.virtualTimeBudgetExpired", s)
        html = self.send("Runtime.evaluate", {"expression": "document.documentElement.outerHTML",
                                              "returnByValue": True}, session=s)["result"]["value"]
        self.send("Target.closeTarget", {"targetId": target})
        return html

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.proc.wait(30)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._w.close()
            self._r.close()
            if self.proc.stderr:
                self.proc.stderr.close()

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
