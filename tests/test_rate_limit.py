"""At most 10 accepted creations per org in any 600 s window, exact under concurrency."""

from __future__ import annotations

import asyncio
import re

from tests.support import Api, MovableClock, assert_envelope


async def test_eleventh_creation_is_429_with_retry_after_and_ratelimit_fields(
    api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    accepted = []
    for _ in range(10):
        accepted.append(await api.create(token_a, alice))
        clock.advance(1)

    refused = await api.create(token_a, alice)

    assert [r.status_code for r in accepted] == [202] * 10
    assert accepted[0].headers["RateLimit"] == '"report-creations";r=9;t=600'
    assert accepted[-1].headers["RateLimit"].startswith('"report-creations";r=0;')
    assert_envelope(refused, 429, "TOO_MANY_REQUESTS")
    # The oldest creation was 10 s ago, so its slot frees in 590 s.
    assert refused.headers["Retry-After"] == "590"
    assert refused.headers["RateLimit-Policy"] == '"report-creations";q=10;w=600'
    assert refused.headers["RateLimit"] == '"report-creations";r=0;t=590'


async def test_a_slot_frees_when_the_oldest_creation_leaves_the_window(
    api: Api, token_a: str, alice: str, clock: MovableClock
) -> None:
    for _ in range(10):
        assert (await api.create(token_a, alice)).status_code == 202
    assert (await api.create(token_a, alice)).status_code == 429

    clock.advance(600.5)

    assert (await api.create(token_a, alice)).status_code == 202


async def test_other_orgs_are_unaffected(api: Api, token_a: str, token_b: str, alice: str) -> None:
    for _ in range(10):
        await api.create(token_a, alice)
    assert (await api.create(token_a, alice)).status_code == 429

    assert (await api.create(token_b, alice)).status_code == 202


async def test_fifty_simultaneous_creations_admit_exactly_ten(
    api: Api, token_a: str, alice: str
) -> None:
    responses = await asyncio.gather(*(api.create(token_a, alice) for _ in range(50)))

    codes = [r.status_code for r in responses]
    assert codes.count(202) == 10
    assert codes.count(429) == 40
    remaining = sorted(
        int(m.group(1))
        for r in responses
        if r.status_code == 202 and (m := re.search(r";r=(\d+);", r.headers["RateLimit"]))
    )
    assert remaining == list(range(10))
