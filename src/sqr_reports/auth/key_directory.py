"""The embedded mode's signing keys: PEM files in `<data_dir>/keys`, rotated and retired there.

A key made by `rotate` is named for the second it starts signing
(`signing-key-20261206T101500Z-<kid>.pem`): it is published at once and signs from then on, so
every process (each looks at the directory once a second) and every verifier that caches the
JWKS (for up to `PUBLISH_AHEAD_SECONDS`) knows it before any token it signed reaches them.
Files without a time in their name (the first key, `signing-key-1.pem`, or ones an operator
copied in) sign before none of the named ones and, among themselves, newest file first.

A key that no longer signs keeps verifying until every token it signed has expired; only then
may it be retired (its file deleted). The time it stopped signing is when its successor started.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqr_reports.auth.keys import KeyRing, SigningKey, load_pem, new_pem
from sqr_reports.clock import isoformat_ms
from sqr_reports.errors import Conflict, NotFound
from sqr_reports.keyfiles import make_private_dir, write_private_file

#: The JWKS's `Cache-Control: max-age`: how long a verifier may not see a newly published key.
PUBLISH_AHEAD_SECONDS = 300
#: Added to a token's lifetime before its key may be retired: a process looks at the directory
#: once a second, so the previous key may sign for a moment after its successor took over.
RETIRE_MARGIN_SECONDS = 60
FIRST_KEY = "signing-key-1.pem"
_STAMP = "%Y%m%dT%H%M%SZ"
_NAMED = re.compile(r"^signing-key-(\d{8}T\d{6}Z)-[A-Za-z0-9_-]+\.pem$")


@dataclass(frozen=True, slots=True)
class KeyFile:
    path: Path
    #: When the name says it starts signing (Unix seconds); None for a file without one.
    stamp: float | None
    mtime: float

    @property
    def since(self) -> float:
        """When it started (or starts) signing, as well as the directory can tell."""
        return self.stamp if self.stamp is not None else self.mtime

    def load(self) -> SigningKey:
        return load_pem(self.path.read_bytes(), signs_from=self.stamp or 0.0)


@dataclass(frozen=True, slots=True)
class KeyState:
    """One key as `keys list` shows it."""

    key: KeyFile
    kid: str
    #: "next" (published, not signing yet), "signing", or "previous" (verifying only).
    role: str
    #: When a previous key's tokens have all expired (Unix seconds); None for the others.
    retirable_at: float | None


class KeyDirectory:
    """A `KeySource` over `<data_dir>/keys/*.pem`."""

    def __init__(self, path: Path):
        self.path = path

    def files(self) -> list[KeyFile]:
        """Every key file, newest (in signing order) first."""
        found = []
        for path in self.path.glob("*.pem"):
            named = _NAMED.match(path.name)
            stamp = _parse_stamp(named.group(1)) if named else None
            found.append(KeyFile(path, stamp, path.stat().st_mtime))
        found.sort(key=lambda f: (f.stamp is not None, f.since, f.path.name), reverse=True)
        return found

    def fingerprint(self) -> Hashable:
        return tuple(sorted((f.path.name, f.mtime) for f in self.files()))

    def load(self) -> list[SigningKey]:
        return [key.load() for key in self.files()]

    def load_or_generate(self) -> KeyRing:
        """The ring of this directory, following its changes; a first key is made if none."""
        make_private_dir(self.path)
        if not self.files():
            write_private_file(self.path / FIRST_KEY, new_pem())  # the first writer wins
        return KeyRing(self.load(), source=self)

    def rotate(self, *, now: float, signs_in: float) -> KeyFile:
        """A new key, published now, signing from `now + signs_in` (to the second)."""
        make_private_dir(self.path)
        pem = new_pem()
        starts = math.floor(now + signs_in)
        stamp = datetime.fromtimestamp(starts, UTC).strftime(_STAMP)
        path = self.path / f"signing-key-{stamp}-{load_pem(pem).kid[:12]}.pem"
        write_private_file(path, pem)
        return KeyFile(path, float(starts), path.stat().st_mtime)

    def states(self, *, now: float, token_lifetime: float) -> list[KeyState]:
        files = self.files()
        signing = next((i for i, f in enumerate(files) if f.since <= now), len(files) - 1)
        states = []
        for index, key in enumerate(files):
            role = "next" if index < signing else "signing" if index == signing else "previous"
            retirable = None
            if role == "previous":  # it stopped signing when the key before it in the list began
                retirable = files[index - 1].since + token_lifetime + RETIRE_MARGIN_SECONDS
            states.append(KeyState(key, _kid(key), role, retirable))
        return states

    def retire(self, key: str, *, now: float, token_lifetime: float, force: bool) -> KeyState:
        """Delete a key's file, named by its kid or its file name (a kid may begin with `-`,
        which a command line takes for an option): the processes stop publishing and accepting
        it within a second."""
        state = next((s for s in self.states(now=now, token_lifetime=token_lifetime)
                      if key in (s.kid, s.key.path.name)), None)  # fmt: skip
        if state is None:
            raise NotFound(f"No signing key with kid or file name {key} in {self.path}")
        kid = state.kid
        if state.role == "signing":
            raise Conflict(f"Key {kid} signs tokens now: rotate first, then retire it once "
                           "the tokens it signed have expired")  # fmt: skip
        if state.retirable_at is not None and now < state.retirable_at and not force:
            until = isoformat_ms(datetime.fromtimestamp(state.retirable_at, UTC))
            raise Conflict(f"Key {kid} may still verify live tokens until {until}; retire it "
                           "then, or now with --force (those tokens stop working)")  # fmt: skip
        state.key.path.unlink()
        return state


def _kid(key: KeyFile) -> str:
    try:
        return key.load().kid
    except ValueError as exc:  # the service would refuse to start on it, too
        raise Conflict(
            f"{key.path} is not an RSA private key in PEM ({exc}): fix or remove it"
        ) from None


def _parse_stamp(text: str) -> float:
    return datetime.strptime(text, _STAMP).replace(tzinfo=UTC).timestamp()
