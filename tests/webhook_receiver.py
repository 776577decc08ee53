"""A real webhook receiver for the webhook tests: an HTTP/1.1 server on 127.0.0.1 (TLS optional)
that records every request and answers as the test tells it, plus the certificates, DNS and
README snippet those tests share."""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import re
import socket
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sqr_reports.webhooks.targets import IPAddress

README = Path(__file__).parent.parent / "README.md"


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    #: Header names lower-cased, as a receiver's framework would give them.
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    #: Never answer (until the receiver closes).
    hang: bool = False
    #: Announce and stream this many bytes of body instead of `body`.
    stream_bytes: int = 0


class Receiver:
    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.reply = Reply()
        self.requests: list[Received] = []
        #: Server names (SNI) TLS clients asked for.
        self.server_names: list[str | None] = []
        #: Connections accepted, whatever came over them.
        self.connections = 0
        #: Bytes of a streamed body written before the client hung up.
        self.streamed = 0
        #: One item per connection handled to the end (answered, failed or hung up on).
        self.handled: asyncio.Queue[None] = asyncio.Queue()
        #: Set once a request has been read (also while the reply hangs).
        self.arrived = asyncio.Event()
        self._release = asyncio.Event()
        self._server: asyncio.Server | None = None
        self.port = 0
        if tls is not None:
            tls.sni_callback = self._record_sni

    def _record_sni(self, _sock: Any, name: str | None, _context: ssl.SSLContext) -> None:
        self.server_names.append(name)

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self._release.set()  # hanging handlers return
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            received = await _read_request(reader)
            self.requests.append(received)
            self.arrived.set()
            if self.reply.hang:
                await self._release.wait()
                return
            await self._answer(writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()
            self.handled.put_nowait(None)

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        reply = self.reply
        length = reply.stream_bytes or len(reply.body)
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {length}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not reply.stream_bytes:
            writer.write(reply.body)
            await writer.drain()
            return
        chunk = b"x" * 65536
        while self.streamed < reply.stream_bytes:
            writer.write(chunk)
            await writer.drain()  # raises once the client has hung up
            self.streamed += len(chunk)


async def _read_request(reader: asyncio.StreamReader) -> Received:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *lines = head.rstrip("\r\n").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(method, path, headers, body)


class Dns:
    """A resolver from a table, counting lookups; unknown names fail as NXDOMAIN does."""

    def __init__(self, table: Mapping[str, Sequence[str]]):
        self.table = {name: list(addresses) for name, addresses in table.items()}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ip_address(address) for address in self.table[host]]


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


@dataclass(frozen=True)
class Certificates:
    """A throw-away CA and a server certificate it signed for `host`."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def certificates(host: str, directory: Path) -> Certificates:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test CA")])
    # The key identifiers and usages are what Python 3.13's strict verification requires.
    ca = (
        _builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _builder(x509.Name([]), ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return Certificates(server, client)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
    )


_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def readme_verifier() -> dict[str, Callable[..., Any]]:
    """The README's verification snippet, run exactly as printed, after checking that it
    imports nothing but the standard library: its `verify` and `signatures_of`."""
    blocks = [b for b in _PYTHON_BLOCK.findall(README.read_text()) if "def verify(" in b]
    assert len(blocks) == 1, "README.md must have exactly one python block defining verify()"
    tree = ast.parse(blocks[0])
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
    }
    assert imported <= sys.stdlib_module_names, imported - sys.stdlib_module_names
    namespace: dict[str, Any] = {}
    exec(compile(tree, "README.md", "exec"), namespace)  # noqa: S102 (our own README)
    return {"verify": namespace["verify"], "signatures_of": namespace["signatures_of"]}
