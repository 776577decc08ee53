"""`sqr-reports keys list|rotate|retire`, and running processes following the key directory."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from sqr_reports.auth.key_directory import KeyDirectory
from sqr_reports.auth.keys import REFRESH_SECONDS, KeyRing, load_pem, new_pem
from sqr_reports.auth.token_cache import VerifiedTokenCache
from sqr_reports.auth.tokens import InvalidToken, TokenCodec
from sqr_reports.config import Settings
from tests.conftest import Run

KEYS_ENV = "SQR_REPORTS_AUTH__PRIVATE_KEY_FILES"


class Clocks:
    """The wall clock a ring signs by and the monotonic one it refreshes by, moved by hand."""

    def __init__(self) -> None:
        self.wall, self.mono = time.time(), 0.0

    def tick(self) -> None:
        """Past the ring's next look at its directory."""
        self.mono += REFRESH_SECONDS + 0.1


def _json(run: Run, *args: str) -> dict[str, Any]:
    code, out, err = run(*args, "--json")
    assert (code, err) == (0, ""), err
    record: dict[str, Any] = json.loads(out)
    return record


def _ring(settings: Settings, clocks: Clocks) -> tuple[KeyRing, VerifiedTokenCache, TokenCodec]:
    """What a running process holds: a ring following the data directory, a codec, a cache."""
    directory = KeyDirectory(settings.data_dir / "keys")
    ring = KeyRing(directory.load(), source=directory, now=lambda: clocks.wall,
                   monotonic=lambda: clocks.mono)  # fmt: skip
    codec = TokenCodec(ring, issuer="iss", audience="aud", ttl=3600, leeway=0,
                       now=lambda: clocks.wall)  # fmt: skip
    return ring, VerifiedTokenCache(codec, max_entries=10), codec


def _token(codec: TokenCodec, clocks: Clocks) -> str:
    now = datetime.fromtimestamp(clocks.wall, UTC)
    return codec.issue(client_id="c", org_id="o", scopes=["read:reports"], now=now)


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def test_rotate_publishes_at_once_and_signs_from_the_time_it_names(
    run: Run, settings: Settings
) -> None:
    clocks = Clocks()
    ring, cache, codec = _ring(settings, clocks)
    old_token = _token(codec, clocks)
    cache.verify(old_token)

    rotated = _json(run, "keys", "rotate")
    clocks.tick()
    published = [k["kid"] for k in ring.jwks()["keys"]]
    still_old = _kid(_token(codec, clocks))
    clocks.wall += 301
    listed = _json(run, "keys", "list")

    assert published == [rotated["kid"], _kid(old_token)]
    assert still_old == _kid(old_token)  # published for the JWKS's cache lifetime first
    assert _kid(_token(codec, clocks)) == rotated["kid"]
    assert cache.verify(old_token).client_id == "c"  # the previous key verifies on
    assert [k["role"] for k in listed["keys"]] == ["next", "signing"]  # by the real clock
    assert listed["source"] == "data_dir"
    assert (Path(rotated["file"]).stat().st_mode & 0o777) == 0o600


def test_retire_waits_for_the_tokens_a_key_signed_unless_forced(
    run: Run, settings: Settings
) -> None:
    clocks = Clocks()
    ring, cache, codec = _ring(settings, clocks)
    old_token = _token(codec, clocks)
    cache.verify(old_token)
    new = _json(run, "keys", "rotate", "--signs-in", "0")
    clocks.tick()
    old_file = _json(run, "keys", "list")["keys"][1]["file"]

    # By file name: a kid may begin with "-", which the command line takes for an option.
    refused = run("keys", "retire", Path(old_file).name)
    signing = run("keys", "retire", Path(new["file"]).name)
    forced = _json(run, "keys", "retire", Path(old_file).name, "--force")
    clocks.tick()

    assert refused[0] == 1
    assert "may still verify live tokens until" in refused[2]
    assert signing[0] == 1
    assert "signs tokens now: rotate first" in signing[2]
    assert forced["retired"] is True
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new["kid"]]
    with pytest.raises(InvalidToken):
        cache.verify(old_token)  # cached, but its key is gone


def test_a_key_retires_without_force_once_its_tokens_have_expired(
    run: Run, settings: Settings
) -> None:
    directory = KeyDirectory(settings.data_dir / "keys")
    [first] = directory.files()
    directory.rotate(now=time.time() - 2 * 3600, signs_in=0)  # took over two hours ago
    listed = _json(run, "keys", "list")

    code, out, _ = run("keys", "retire", first.path.name)

    assert [k["role"] for k in listed["keys"]] == ["signing", "previous"]
    assert listed["keys"][1]["file"] == str(first.path)
    assert code == 0
    assert "retired" in out
    assert not first.path.exists()
    assert run("keys", "retire", "no-such-kid")[0] == 1


def test_a_key_is_named_by_its_kid_too(run: Run, settings: Settings) -> None:
    directory = KeyDirectory(settings.data_dir / "keys")
    pem = next(p for p in iter(new_pem, None) if not load_pem(p).kid.startswith("-"))
    (directory.path / "signing-key-20300101T000000Z-next.pem").write_bytes(pem)

    code, out, _ = run("keys", "retire", load_pem(pem).kid)  # a key not signing yet: no wait

    assert (code, out.startswith(f"key {load_pem(pem).kid} retired")) == (0, True)
    assert len(directory.files()) == 1


def test_with_configured_key_files_rotate_writes_where_told_and_retire_explains(
    run: Run, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [configured] = KeyDirectory(settings.data_dir / "keys").files()
    monkeypatch.setenv(KEYS_ENV, json.dumps([str(configured.path)]))
    out = tmp_path / "next.pem"

    without_out = run("keys", "rotate")
    made = _json(run, "keys", "rotate", "--out", str(out))
    again = run("keys", "rotate", "--out", str(out))
    listed = _json(run, "keys", "list")
    retire = run("keys", "retire", out.name)  # by file name: a kid may begin with "-"

    assert without_out[0] == 1
    assert "give --out FILE" in without_out[2]
    assert (out.stat().st_mode & 0o777) == 0o600
    assert KeyRing.from_pem_files([out]).signing_key.kid == made["kid"]
    assert again[0] == 1
    assert listed["source"] == "settings"
    assert [k["role"] for k in listed["keys"]] == ["signing"]
    assert retire[0] == 1
    assert "remove the file from that list" in retire[2]


def test_a_broken_key_file_keeps_the_running_keys_and_is_named_by_the_commands(
    run: Run, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    clocks = Clocks()
    _, _, codec = _ring(settings, clocks)
    before = _kid(_token(codec, clocks))
    broken = settings.data_dir / "keys" / "signing-key-20300101T000000Z-broken.pem"
    broken.write_bytes(b"not a key")

    clocks.tick()
    after = _kid(_token(codec, clocks))
    code, out, err = run("keys", "list")

    assert after == before
    assert "signing keys not reloaded" in caplog.text
    assert (code, out) == (1, "")
    assert f"{broken} is not an RSA private key in PEM" in err
