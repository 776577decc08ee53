"""Check in a real browser that /docs and /redoc render offline: nothing loaded from elsewhere.

Starts `sqr-reports serve` on a free port with a fresh data directory, then opens each page in
headless Chromium (Debian's: `apt-get install chromium`) and checks that

* the rendered DOM (`--dump-dom`) lists the summary of every operation in /openapi.json;
* the browser asked no other host for anything: Chromium's proxy is a local recorder that
  refuses every request, and only loopback addresses bypass it;
* the console shows no Content-Security-Policy violation but the known one (Redoc's sidebar
  footer tries Redocly's logo from their CDN: the policy blocks it, which is the point);

and takes a screenshot of each page into --out (look at them). Then, driven by Playwright in the
same Chromium behind the same recorder, /docs's Authorize button gets a token from the service
with the demo client (the OAuth2 client-credentials flow the OpenAPI document declares), and
"Try it out" on the create operation, authorized so, answers 202. Run from the repository root:

    .venv/bin/python scripts/check_docs_pages.py [--out /tmp/docs-pages]

Exit status 0: both pages rendered, the page authorized and created a job, with no outside
request. tests/test_api_docs.py runs it where /usr/bin/chromium exists.
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
from typing import Any

from playwright.sync_api import Page, sync_playwright

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
        _Server(Path(scratch)) as server,
    ):
        base = server.base
        spec = json.loads(_get(base + "/openapi.json"))
        summaries = [
            operation["summary"] for path in spec["paths"].values() for operation in path.values()
        ]
        problems: list[str] = []
        chromium_own: dict[str, int] = {}
        for page in PAGES:
            problems += _check(args.chromium, base, page, summaries, outside, args.out)
        problems += _authorize_and_create(args.chromium, server, outside.port, args.out)
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
    print("ok: both pages rendered, /docs authorized and created a job, nothing requested from "
          "elsewhere" if not problems else "")  # fmt: skip
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


#: The create operation's block in Swagger UI.
CREATE_OPERATION = '.opblock-post:has(.opblock-summary-path[data-path="/v1/document/api"])'


def _authorize_and_create(chromium: Path, server: _Server, proxy_port: int, out: Path) -> list[str]:
    """Authorize on /docs with the demo client's id and secret, then create a job from the page.

    Swagger UI asks the document's `tokenUrl` for a token (HTTP Basic client authentication,
    `grant_type=client_credentials`), and sends it as a bearer token on "Try it out".
    """
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium),
            args=[flag for flag in FLAGS if flag.startswith(("--disable-", "--no-"))],
            # Playwright sends loopback through the proxy too unless told: the service is there.
            proxy={"server": f"http://127.0.0.1:{proxy_port}", "bypass": "127.0.0.1"},
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        token_answers: list[int] = []
        page.on(
            "response",
            lambda r: token_answers.append(r.status) if r.url.endswith("/oauth2/token") else None,
        )
        try:
            status = _create_through_the_page(page, server.base + "/docs", server.demo)
        finally:
            page.screenshot(path=str(out / "docs-authorized.png"), full_page=False)
            browser.close()
    if token_answers != [200]:
        problems.append(f"/docs: Authorize's token requests answered {token_answers}")
    if status != "202":
        problems.append(f"/docs: Try it out on create answered {status!r}, not 202")
    problems += [f"/docs: console: {message}" for message in console if "Refused" in message]
    print(
        f"/docs: authorized with the demo client (token {token_answers}), create answered {status}"
    )
    return problems


def _create_through_the_page(page: Page, url: str, demo: dict[str, Any]) -> str:
    """The status "Try it out" on the create operation shows, once authorized on the page."""
    page.goto(url)
    page.locator(".scheme-container button.authorize").click()
    # The dialog lists each scheme: OAuth2's (its flow named), and the token endpoint's Basic.
    modal = page.locator(".modal-ux")
    oauth2 = modal.locator(".auth-container", has_text="clientCredentials")
    oauth2.locator("[data-name=clientId]").fill(demo["client_id"])
    oauth2.locator("[data-name=clientSecret]").fill(demo["client_secret"])
    oauth2.locator("button.authorize").click()
    oauth2.locator("button", has_text="Logout").wait_for()  # shown once authorized
    modal.locator("button.close-modal").click()
    operation = page.locator(CREATE_OPERATION)
    operation.locator(".opblock-summary").first.click()
    operation.locator("button.try-out__btn").click()
    operation.locator("textarea.body-param__text").fill(
        json.dumps({"userId": demo["users"][0]["id"]})
    )
    operation.locator("button.execute").click()
    answer = operation.locator(".live-responses-table tr.response .response-col_status").first
    answer.wait_for()
    return answer.inner_text().strip()


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
    """`sqr-reports serve` on a free port, on a data directory of its own with the demo data
    (`demo`: the demo client's id and secret, and the demo users)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.base = ""
        self.demo: dict[str, Any] = {}

    def __enter__(self) -> _Server:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQR_REPORTS_")}
        env["SQR_REPORTS_DATA_DIR"] = str(self.scratch / "data")
        command = Path(sys.executable).parent / "sqr-reports"
        seeded = subprocess.run(  # noqa: S603 (our arguments only)
            [str(command), "demo", "--json"], env=env, capture_output=True, text=True, check=True
        )
        self.demo = json.loads(seeded.stdout)
        self.log = (self.scratch / "serve.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 (our arguments only)
            [str(command), "serve", "--port", str(port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(self.base + "/healthz")
                return self
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
