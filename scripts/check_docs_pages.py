"""Check in a real browser that /docs and /redoc render offline: nothing loaded from elsewhere.

Starts `sqr-reports serve` on a free port with a fresh data directory, then opens each page in
headless Chromium (Debian's: `apt-get install chromium`) and checks that

* the rendered DOM (`--dump-dom`) lists the summary of every operation in /openapi.json;
* the browser asked no other host for anything: Chromium's proxy is a local recorder that
  refuses every request, and only loopback addresses bypass it;
* the console shows no Content-Security-Policy violation but the known one (Redoc's sidebar
  footer tries Redocly's logo from their CDN: the policy blocks it, which is the point);

and takes a screenshot of each page into --out (look at them). Run from the repository root:

    .venv/bin/python scripts/check_docs_pages.py [--out /tmp/docs-pages]

Exit status 0: both pages rendered with no outside request. tests/test_api_docs.py runs it
where /usr/bin/chromium exists.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    *("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"),
    # Fewer of Chromium's own calls home (updates, sign-in, sync, autofill, network time).
    *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
    *("--disable-extensions", "--disable-default-apps", "--disable-domain-reliability"),
    *("--no-pings", "--disable-client-side-phishing-detection", "--metrics-recording-only"),
    "--disable-features="
    + ",".join(
        [
            "Translate",
            "OptimizationHints",
            "OptimizationGuideModelDownloading",
            "MediaRouter",
            "DialMediaRouteProvider",
            "AutofillServerCommunication",
            "NetworkTimeServiceQuerying",
            "CertificateTransparencyComponentUpdater",
        ]
    ),
    # The console (and so Content-Security-Policy violations) on stderr.
    *("--enable-logging=stderr", "--log-level=0"),
    # Let the page fetch /openapi.json and render before the DOM or screenshot is taken.
    "--virtual-time-budget=15000",
]
PAGES = ("/docs", "/redoc")
#: Chromium's own services, which it calls whatever the page (about:blank too) and despite the
#: flags above; the recorder refuses them too. Any other host recorded fails the check.
CHROMIUM_OWN = {
    "accounts.google.com",
    "android.clients.google.com",
    "clients2.google.com",
    "content-autofill.googleapis.com",
    "redirector.gvt1.com",
    "update.googleapis.com",
}
#: Console messages that are expected: the policy blocking something, as it should.
EXPECTED_VIOLATIONS = {"/redoc": ["https://cdn.redoc.ly/redoc/logo-mini.svg"]}
#: A page's error text, should the UI fail to load the OpenAPI document.
FAILURES = {"/docs": "Failed to load API definition", "/redoc": "Something went wrong"}
_CONSOLE = re.compile(r':CONSOLE[:(]\d*\)?\] "(?P<message>.*)", source: (?P<source>\S*)')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/docs-pages"))  # noqa: S108
    parser.add_argument("--chromium", type=Path, default=CHROMIUM)
    args = parser.parse_args(argv)
    if not args.chromium.exists():
        print(f"{args.chromium} is missing: apt-get install chromium")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="check-docs-") as scratch,
        _Recorder() as outside,
        _Server(Path(scratch)) as base,
    ):
        spec = json.loads(_get(base + "/openapi.json"))
        summaries = [
            operation["summary"] for path in spec["paths"].values() for operation in path.values()
        ]
        problems: list[str] = []
        chromium_own: dict[str, int] = {}
        for page in PAGES:
            problems += _check(args.chromium, base, page, summaries, outside, args.out)
        for line in outside.requests:
            host = _host(line)
            if host in CHROMIUM_OWN:
                chromium_own[host] = chromium_own.get(host, 0) + 1
            else:
                problems.append(f"a page asked another host for something: {line}")
    if chromium_own:
        calls = ", ".join(f"{host} x{count}" for host, count in sorted(chromium_own.items()))
        print(f"Chromium's own background calls, refused by the recorder: {calls}")
    for problem in problems:
        print(f"FAIL {problem}")
    print("ok: both pages rendered, nothing requested from elsewhere" if not problems else "")
    return 1 if problems else 0


def _check(
    chromium: Path, base: str, page: str, summaries: list[str], outside: _Recorder, out: Path
) -> list[str]:
    url = base + page
    dom, log = _chromium(chromium, outside.port, "--dump-dom", url)
    problems = [f"{page}: {summary!r} not rendered" for summary in summaries if summary not in dom]
    if FAILURES[page] in dom:
        problems.append(f"{page}: shows {FAILURES[page]!r}")
    console = [match["message"] for match in _CONSOLE.finditer(log)]
    expected = EXPECTED_VIOLATIONS.get(page, [])
    for message in console:
        blocked = "Content Security Policy" in message
        if blocked and any(f"'{what}'" in message for what in expected):
            print(f"{page}: blocked, as intended: {message[:160]}")
        else:
            problems.append(f"{page}: console: {message}")
    shot = out / f"{page.strip('/')}.png"
    _chromium(chromium, outside.port, f"--screenshot={shot}", "--window-size=1280,1600", url)
    rendered = len(summaries) - sum(summary not in dom for summary in summaries)
    print(
        f"{page}: DOM {len(dom)} characters, {rendered}/{len(summaries)} operation summaries, "
        f"{len(console)} console message(s); screenshot {shot}"
    )
    return problems


def _chromium(chromium: Path, proxy_port: int, *args: str) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(  # noqa: S603 (our arguments only)
            [
                str(chromium),
                *FLAGS,
                f"--user-data-dir={profile}",
                # Every request to a non-loopback host goes to the recorder (and fails there).
                f"--proxy-server=http://127.0.0.1:{proxy_port}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return done.stdout, done.stderr


class _Recorder(socketserver.ThreadingTCPServer):
    """A stand-in proxy that answers 403 to everything and keeps each request's first line."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), _RecordRequest)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> _Recorder:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _RecordRequest(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1").strip()
        assert isinstance(self.server, _Recorder)
        if line:
            self.server.requests.append(line)
        self.wfile.write(
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )


class _Server:
    """`sqr-reports serve` on a free port, on a data directory of its own."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def __enter__(self) -> str:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
        env["SQR_REPORTS_DATA_DIR"] = str(self.scratch / "data")
        command = Path(sys.executable).parent / "sqr-reports"
        self.log = (self.scratch / "serve.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our arguments only)
            [str(command), "serve", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(base + "/healthz")
                return base
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    sys.exit(f"the server did not start: {self.scratch / 'serve.log'}")
                time.sleep(0.25)

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _host(request_line: str) -> str:
    """`CONNECT host:443 HTTP/1.1` or `GET http://host/path HTTP/1.1`: the host."""
    target = request_line.split()[1] if len(request_line.split()) > 1 else request_line
    return urllib.parse.urlsplit(target if "://" in target else "//" + target).hostname or target


def _get(url: str) -> str:
    # No proxy from the environment: the server is on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as answer:
        return str(answer.read().decode())


if __name__ == "__main__":
    sys.exit(main())
