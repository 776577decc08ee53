"""RS256 signing keys: loaded once as key objects, published as a JWKS.

Keys are parsed once (parsing a PEM on every signature cost 28 ms when measured). The newest
key that is due signs; every key verifies and is published, so a rotated-out key keeps its
tokens valid until they expire, and a rotated-in key is published before it signs. A ring can
follow a `KeySource` (the embedded data directory, `auth.key_directory`): it looks for changes
at most once a second, so that `sqr-reports keys rotate` and `keys retire` reach running
processes without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_log = logging.getLogger(__name__)
#: How often a ring that follows a source looks for changes: a directory listing and a stat per
#: key, a few microseconds, so the hot path barely notices it.
REFRESH_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey
    #: Unix seconds from which the key may sign; until then it is only published (0: always).
    signs_from: float = 0.0

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


class KeySource(Protocol):
    """Where a ring's keys live, when they may change while the process runs."""

    def fingerprint(self) -> Hashable:
        """Cheap to read; changes whenever `load` would answer differently."""

    def load(self) -> list[SigningKey]:
        """The keys, newest first."""


class KeyRing:
    def __init__(
        self,
        keys: list[SigningKey],
        *,
        source: KeySource | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._now, self._monotonic, self._source = now, monotonic, source
        self._use(keys, source.fingerprint() if source else None)

    @property
    def signing_key(self) -> SigningKey:
        """The newest key that is due; the oldest if none is (a clock set far back)."""
        keys = self._current()
        now = self._now()
        return next((key for key in keys if key.signs_from <= now), keys[-1])

    @property
    def keys(self) -> list[SigningKey]:
        return list(self._current())

    def verification_key(self, kid: str) -> rsa.RSAPublicKey | None:
        self._current()
        return self._public_keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self._current()]}

    @classmethod
    def from_pem_files(cls, paths: list[Path]) -> KeyRing:
        """Keys from settings, in the order given: the first signs."""
        return cls([load_pem(path.read_bytes()) for path in paths])

    def _use(self, keys: list[SigningKey], fingerprint: Hashable) -> None:
        # Public keys derived once: every request with a remembered token asks whether its key
        # still verifies, and deriving one costs more than the rest of that check.
        self._keys, self._public_keys = keys, {key.kid: key.public_key for key in keys}
        self._fingerprint, self._checked = fingerprint, self._monotonic()

    def _current(self) -> list[SigningKey]:
        """The keys, re-read from the source when it changed (looked at once a second)."""
        source = self._source
        if source is None or self._monotonic() - self._checked < REFRESH_SECONDS:
            return self._keys
        self._checked = self._monotonic()
        try:
            fingerprint = source.fingerprint()
            if fingerprint != self._fingerprint:
                keys = source.load()
                if keys:
                    self._use(keys, fingerprint)
        except (OSError, ValueError) as exc:  # keep the keys we have; say why
            _log.warning("signing keys not reloaded: %s", exc)
        return self._keys


def load_pem(pem: bytes, *, signs_from: float = 0.0) -> SigningKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("signing keys must be RSA private keys")
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")
    return SigningKey(kid=kid, private_key=key, signs_from=signs_from)


def new_pem() -> bytes:
    """A new 2048-bit RSA private key, PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
