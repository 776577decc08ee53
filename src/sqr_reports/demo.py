"""Demo data: one org, one client and users with varied outcomes, so a newcomer can call the API
at once. Running it again keeps the same ids and gives the demo client a new secret."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sqr_reports.auth import repository as clients
from sqr_reports.auth import scopes
from sqr_reports.auth.credentials import SecretHasher
from sqr_reports.auth.service import create_client, rotate_secret
from sqr_reports.db.clock import SessionClock
from sqr_reports.orgs import repository as orgs
from sqr_reports.orgs.service import create_org
from sqr_reports.users.schemas import UserRecord
from sqr_reports.users.service import upsert_user

DEMO_ORG_ID = "0d3e6f1c-2a9e-4c57-9a8e-5d2f7b1e4c01"
DEMO_ORG_NAME = "Demo Casino Ltd"
DEMO_CLIENT_ID = "sqr_demo_client"


@dataclass(frozen=True)
class DemoUser:
    id: str
    name: str
    outcome: str


@dataclass(frozen=True)
class DemoCredentials:
    org_id: str
    client_id: str
    client_secret: str
    users: list[DemoUser]


def _connected(since: str = "2025-03-01T10:15:00Z", agreed: bool = True) -> list[dict[str, Any]]:
    status = "CONNECTED" if agreed else "REVOKED"
    return [{"org_id": DEMO_ORG_ID, "connection_status": status, "data_sharing_agreed": agreed,
             "connected_at": since, "connection_status_updated_at": since}]  # fmt: skip


def _clear(at: str = "2026-10-01T06:00:00Z") -> list[dict[str, Any]]:
    return [{"kind": kind, "status": "CLEAR", "recorded_at": at}
            for kind in ("PEP", "SANCTION", "ADVERSE_MEDIA")]  # fmt: skip


_VERIFIED: dict[str, Any] = {
    "registration_status": "active", "registration_submitted": True,
    "mobile_registration_status": "VERIFIED", "document_overall_validation": "PASSED",
    "high_level_result": "PASS", "gbg_high_level_result": "PASS", "id3_match_status": "MATCH",
    "id3_pep_sanction_result": "CLEAR", "selfie_liveness_score": 97.2, "fmc_score": 93.4,
}  # fmt: skip

USERS: list[tuple[str, dict[str, Any]]] = [
    ("Clean pass: every check passes", {
        "id": "US7K2M9Q4X8B1N5C", "first_name": "Amelia", "middle_name": "Jane",
        "last_name": "Clarke", "email": "amelia.clarke@example.co.uk", "phone": "+44 7700 900123",
        "dob": "1990-04-12", "address1": "14 Wellington Road", "city": "Manchester",
        "postcode": "M14 6EL", "country": "GB",
        "full_address": "14 Wellington Road, Manchester M14 6EL, United Kingdom",
        "created_at": "2025-02-27T18:02:11Z", **_VERIFIED,
        "connections": _connected(), "monitoring": _clear(),
    }),
    ("PEP hit: referred for enhanced due diligence", {
        "id": "US3P8E4R2T6Y9U1I", "first_name": "Marek", "last_name": "Nowak",
        "email": "m.nowak@example.pl", "phone": "+48 601 234 567", "dob": "1968-11-03",
        "address1": "ul. Marszałkowska 84", "city": "Warszawa", "postcode": "00-514",
        "country": "PL", "created_at": "2025-01-14T09:30:00Z", **_VERIFIED,
        "id3_pep_sanction_result": "PEP_MATCH", "connections": _connected(),
        "monitoring": [*_clear("2025-06-01T06:00:00Z"),
                       {"kind": "PEP", "status": "HIT", "recorded_at": "2026-09-12T06:00:00Z",
                        "detail": "Domestic PEP: member of a regional assembly since 2019"}],
    }),
    ("Sanctions hit: fails", {
        "id": "US5S9N4C2T7I8O3N", "first_name": "Rafael", "last_name": "Ortega Díaz",
        "email": "rortega@example.es", "dob": "1975-02-20", "address1": "Calle de Alcalá 120",
        "city": "Madrid", "postcode": "28009", "country": "ES",
        "created_at": "2025-04-02T12:00:00Z", **_VERIFIED, "id3_pep_sanction_result": "CLEAR",
        "connections": _connected("2025-04-03T08:00:00Z"),
        "monitoring": [*_clear("2025-04-03T06:00:00Z"),
                       {"kind": "SANCTION", "status": "HIT", "recorded_at": "2026-11-02T06:00:00Z",
                        "detail": "Name and date of birth match a consolidated sanctions list"}],
    }),
    ("Failed face match: fails biometrics", {
        "id": "US2F4A6C8E1M3A5T", "first_name": "Sophie", "last_name": "Müller",
        "email": "sophie.mueller@example.de", "phone": "+49 151 23456789", "dob": "1996-07-30",
        "address1": "Schönhauser Allee 36", "city": "Berlin", "postcode": "10435",
        "country": "DE", "created_at": "2025-05-19T15:45:00Z", **_VERIFIED,
        "selfie_liveness_score": 88.0, "fmc_score": 41.5, "high_level_result": "REFER",
        "connections": _connected("2025-05-20T10:00:00Z"), "monitoring": _clear(),
    }),
    ("Withdrawn consent: the job fails with USER_NOT_CONNECTED", {
        "id": "US9W1T2H3D4R5A6W", "first_name": "Liam", "last_name": "O'Connor",
        "email": "liam.oconnor@example.ie", "dob": "1988-01-09", "city": "Dublin",
        "country": "IE", "created_at": "2025-03-05T11:00:00Z", **_VERIFIED,
        "connections": _connected(agreed=False), "monitoring": _clear(),
    }),
    ("Non-Latin names (Cyrillic, Greek): clean pass", {
        "id": "US4C6Y8R1L2I3C7G", "first_name": "Анастасия", "middle_name": "Ελένη",
        "last_name": "Смирнова", "email": "a.smirnova@example.com", "dob": "1993-09-21",
        "address1": "Οδός Ερμού 25", "city": "Αθήνα", "postcode": "105 63", "country": "GR",
        "created_at": "2025-06-11T07:20:00Z", **_VERIFIED,
        "connections": _connected("2025-06-12T09:00:00Z"), "monitoring": _clear(),
    }),
    ("Chinese name: clean pass", {
        "id": "US6Z3H4O5N6G7W8X", "first_name": "小明", "last_name": "王",
        "email": "xiaoming.wang@example.cn", "dob": "1992-06-18", "address1": "南京东路 100 号",
        "city": "上海", "postcode": "200001", "country": "CN",
        "created_at": "2025-07-07T02:00:00Z", **_VERIFIED,
        "connections": _connected("2025-07-08T03:00:00Z"), "monitoring": _clear(),
    }),
    ("Arabic name, minor (17) with a guardian: referred, under the minimum age of 18", {
        "id": "US8A1R2B3I4C5N6M", "first_name": "ليلى", "last_name": "حداد",
        "email": "layla.haddad@example.ae", "dob": "2009-05-14", "city": "Dubai",
        "country": "AE", "guardian_name": "Karim Haddad", "guardian_dob": "1979-12-02",
        "created_at": "2025-08-01T13:00:00Z", **_VERIFIED,
        "connections": _connected("2025-08-02T10:00:00Z"), "monitoring": _clear(),
    }),
    ("Sanctions screening errored: referred for re-screening", {
        "id": "US1E2R3R4O5R6S7X", "first_name": "Noah", "last_name": "Fischer",
        "email": "noah.fischer@example.ch", "dob": "1985-10-02", "city": "Zürich",
        "country": "CH", "created_at": "2025-09-15T08:30:00Z", **_VERIFIED,
        "connections": _connected("2025-09-16T08:00:00Z"),
        "monitoring": [*_clear("2026-10-01T06:00:00Z")[::2],
                       {"kind": "SANCTION", "status": "ERROR", "detail": "Provider timed out",
                        "recorded_at": "2026-11-20T06:00:00Z"}],
    }),
    ("Verified three years ago: referred for a refreshed verification", {
        "id": "US7O8L9D1V2E3R4F", "first_name": "Chloé", "last_name": "Lefèvre",
        "email": "chloe.lefevre@example.fr", "dob": "1979-03-08", "city": "Lyon",
        "country": "FR", "created_at": "2023-10-02T09:00:00Z", **_VERIFIED,
        "connections": _connected("2023-10-03T09:00:00Z"),
        "monitoring": [*_clear("2026-11-01T06:00:00Z"), *_clear("2024-04-03T06:00:00Z")],
    }),
]  # fmt: skip

#: The day the demo data above was written for: seeding shifts every date by the time since,
#: so the demo subjects keep their ages (a minor stays 17) and their verifications stay as
#: recent as written, whenever the demo is run.
DEMO_EPOCH = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
_DATES = ("dob", "guardian_dob")
_TIMES = ("created_at", "connected_at", "connection_status_updated_at", "recorded_at")


def _shifted(value: Any, delta: timedelta) -> Any:
    """`value` with every demo date and timestamp moved by `delta`."""
    if isinstance(value, list):
        return [_shifted(item, delta) for item in value]
    if not isinstance(value, dict):
        return value
    moved = {key: _shifted(item, delta) for key, item in value.items()}
    for key in _DATES:
        if isinstance(moved.get(key), str):
            moved[key] = (date.fromisoformat(moved[key]) + delta).isoformat()
    for key in _TIMES:
        if isinstance(moved.get(key), str):
            at = datetime.fromisoformat(moved[key]) + delta
            moved[key] = at.isoformat()
    return moved


async def seed(session: AsyncSession, hasher: SecretHasher, clock: SessionClock) -> DemoCredentials:
    """Create (or refresh) the demo org, client and users; returns a fresh client secret."""
    if await orgs.get(session, DEMO_ORG_ID) is None:
        await create_org(session, clock, DEMO_ORG_NAME, org_id=DEMO_ORG_ID)
    if await clients.get_client(session, DEMO_CLIENT_ID) is None:
        _, secret = await create_client(
            session,
            DEMO_ORG_ID,
            list(scopes.ALL),
            hasher=hasher,
            clock=clock,
            client_id=DEMO_CLIENT_ID,
        )
    else:
        secret = await rotate_secret(session, hasher, DEMO_CLIENT_ID)
    users = []
    delta = timedelta(days=(await clock.now(session) - DEMO_EPOCH).days)
    for outcome, fields in USERS:
        record = UserRecord.model_validate(_shifted(fields, delta))
        user = await upsert_user(session, clock, record)
        name = " ".join(p for p in (user.first_name, user.last_name) if p)
        users.append(DemoUser(id=record.id, name=name, outcome=outcome))
    return DemoCredentials(DEMO_ORG_ID, DEMO_CLIENT_ID, secret, users)


def walkthrough(credentials: DemoCredentials, base_url: str) -> str:
    """The copy-paste tour printed by `sqr-reports demo` and `serve --demo`."""
    users = "\n".join(f"    {u.id}  {u.name:<22} {u.outcome}" for u in credentials.users)
    first = credentials.users[0].id
    return f"""
Demo org      {DEMO_ORG_NAME} ({credentials.org_id})
Client id     {credentials.client_id}
Client secret {credentials.client_secret}   (shown once; run `sqr-reports demo` for a new one)

Demo users and what their reports show:
{users}

Try it: one command creates a report, waits, downloads and verifies it (the Python SDK's):
  export SQR_API_URL={base_url} SQR_CLIENT_ID={credentials.client_id} \\
    SQR_CLIENT_SECRET={credentials.client_secret}
  sqr-reports fetch {first} -o report.pdf

Or step by step (bash; needs curl and python3):
  TOKEN=$(curl -s {base_url}/oauth2/token -H 'Content-Type: application/json' \\
    -d '{{"client_id":"{credentials.client_id}","client_secret":"{credentials.client_secret}","grant_type":"client_credentials"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  JOB=$(curl -s {base_url}/v1/document/api -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{{"userId":"{first}"}}' \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["jobId"])')
  while :; do
    STATUS=$(curl -s {base_url}/v1/document/api/$JOB -H "Authorization: Bearer $TOKEN" \\
      | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["status"], j["errorCode"] or "")')
    echo "$STATUS"
    case $STATUS in PENDING*|PROCESSING*) sleep 3 ;; *) break ;; esac
  done
  case $STATUS in
    COMPLETE*) URL=$(curl -s {base_url}/v1/document/api/$JOB/url -H "Authorization: Bearer $TOKEN" \\
                 | python3 -c 'import json,sys; print(json.load(sys.stdin)["url"])')
               curl -s -f -o report.pdf "$URL" && echo "saved report.pdf" ;;
    *) echo "no report: the job ended $STATUS" >&2 ;;
  esac

API docs: {base_url}/docs
"""  # noqa: E501
