"""The listing against the live service: every page followed, newest first, with filters."""

from __future__ import annotations

import pytest

from sdk_doubles import RequestLog
from sdk_live import Org, Service, open_client, unknown_user_id
from sqr_reports_client import AsyncClient, Job, JobStatus, ValidationError

JOBS = 5


@pytest.fixture(scope="module")
def listed(service: Service) -> tuple[Org, list[Job]]:
    """An org with five finished jobs of its own, as `wait` left them, newest first."""
    org = service.new_org(connected_user=False)
    with open_client(service, org) as client:
        created = [client.create(unknown_user_id()) for _ in range(JOBS)]
        finished = [client.wait(job.job_id) for job in created]
    return org, finished[::-1]


def test_every_page_is_followed_newest_first(
    service: Service, listed: tuple[Org, list[Job]], log: RequestLog
) -> None:
    org, jobs = listed
    with open_client(service, org, log) as client:
        seen = list(client.list(page_size=2))
    assert [job.job_id for job in seen] == [job.job_id for job in jobs]
    assert seen == jobs
    pages = log.sent("GET", "/v1/document/api")
    assert len(pages) == 3
    assert [page.url.params.get("cursor") is None for page in pages] == [True, False, False]
    assert all(page.url.params["limit"] == "2" for page in pages)


def test_limit_caps_the_jobs_and_the_pages_fetched(
    service: Service, listed: tuple[Org, list[Job]], log: RequestLog
) -> None:
    org, jobs = listed
    with open_client(service, org, log) as client:
        seen = list(client.list(page_size=2, limit=3))
    assert seen == jobs[:3]
    assert len(log.sent("GET", "/v1/document/api")) == 2


def test_filters_by_status_and_user(service: Service, listed: tuple[Org, list[Job]]) -> None:
    org, jobs = listed
    with open_client(service, org) as client:
        assert list(client.list(status=JobStatus.FAILED)) == jobs
        assert list(client.list(status="COMPLETE")) == []
        assert list(client.list(user_id=jobs[2].user_id)) == [jobs[2]]


def test_time_bounds_are_exclusive(
    service: Service, listed: tuple[Org, list[Job]], log: RequestLog
) -> None:
    org, jobs = listed
    middle = jobs[2].created_at
    with open_client(service, org, log) as client:
        after = list(client.list(created_after=middle, page_size=1))
        pages_for_after = len(log.sent("GET", "/v1/document/api"))
        before = list(client.list(created_before=middle))
    assert after == [job for job in jobs if job.created_at > middle]
    assert jobs[2] not in after
    assert before == [job for job in jobs if job.created_at < middle]
    assert jobs[2] not in before
    # Newest first: the page with the first job not after the bound is the last one asked for.
    assert pages_for_after == len(after) + 1


async def test_the_async_listing_follows_pages_too(
    service: Service, listed: tuple[Org, list[Job]]
) -> None:
    org, jobs = listed
    async with AsyncClient(service.url, org.client_id, org.client_secret) as client:
        seen = [job async for job in client.list(page_size=2)]
    assert seen == jobs


def test_a_page_size_beyond_the_services_maximum_is_a_validation_error(
    service: Service, listed: tuple[Org, list[Job]]
) -> None:
    org, _ = listed
    with open_client(service, org) as client, pytest.raises(ValidationError) as raised:
        next(client.list(page_size=101))
    assert raised.value.errors[0].field == "limit"
    assert raised.value.errors[0].code == "maximum"
