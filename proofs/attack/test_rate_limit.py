"""The per-org limit holds under a race: 50 simultaneous creations admit exactly 10."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from proofs.attack.conftest import assert_envelope
from proofs.live import JOBS, LiveServer, bearer, token

RACERS = 50
LIMIT = 10


def test_fifty_simultaneous_creations_admit_exactly_ten(
    http: httpx.Client, server: LiveServer
) -> None:
    racer, bystander = server.org("Attack Org Racer"), server.org("Attack Org Bystander")
    server.connect_user("USATTACKR0000001", racer.org_id, bystander.org_id)
    headers = bearer(token(server, racer))

    def create(_: int) -> httpx.Response:
        return http.post(JOBS, json={"userId": "USATTACKR0000001"}, headers=headers)

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        responses = list(pool.map(create, range(RACERS)))

    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code != 202]
    assert len(accepted) == LIMIT
    assert len({r.json()["jobId"] for r in accepted}) == LIMIT
    for response in refused:
        assert_envelope(response, 429, "TOO_MANY_REQUESTS")
        assert int(response.headers["Retry-After"]) > 0
        assert "RateLimit-Policy" in response.headers
        assert "RateLimit" in response.headers
    other = http.post(
        JOBS, json={"userId": "USATTACKR0000001"}, headers=bearer(token(server, bystander))
    )
    assert other.status_code == 202  # another org's budget is its own
