"""The report data as the HTML twin reads it: the same lookups and derived values as the top
of `templates/v2/report.typ` (every access tolerates missing keys and nulls)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from report_html_parts import fmt_day, fmt_num, norm, outcome_colour, pill, present, tone

_CHECK_IDS = {
    "Identity document": "document",
    "Selfie liveness": "liveness",
    "Face match": "face_match",
    "Database checks": "database",
    "Sanctions": "sanctions",
    "PEP": "pep",
    "PEP & sanctions": "pep_sanctions",
    "Adverse media": "adverse_media",
    "Onboarding screening": "id3_screening",
    "Overall SQR result": "overall",
    "SQR account": "registration",
    "Age": "age",
    "Verification age": "verification_age",
}
#: Which section explains a check.
CHECK_SECTION = {
    "document": "sec-document",
    "overall": "sec-document",
    "liveness": "sec-biometrics",
    "face_match": "sec-biometrics",
    "database": "sec-database",
    "sanctions": "sec-screening",
    "pep": "sec-screening",
    "adverse_media": "sec-screening",
    "id3_screening": "sec-screening",
    "pep_sanctions": "sec-screening",
    "registration": "sec-subject",
    "age": "sec-subject",
    "verification_age": "sec-subject",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


class Report:
    """One report's data, with what the sections derive from it."""

    def __init__(self, data: Mapping[str, Any], pages: Mapping[str, int] | None):
        self.pages = pages
        self.meta = _dict(data.get("meta"))
        self.org = _dict(self.meta.get("org"))
        self.verdict = _dict(data.get("verdict"))
        self.checks = _dicts(data.get("checks"))
        self.subject = _dict(data.get("subject"))
        self.address = _dict(self.subject.get("address"))
        self.verification = _dict(data.get("verification"))
        self.screening = _dict(data.get("screening"))
        self.current = _dicts(self.screening.get("current"))
        self.history = _dicts(self.screening.get("history"))
        self.connection = _dict(data.get("connection"))
        self.guardian = data.get("guardian")
        self.flags = _dicts(data.get("flags"))
        self.policy = _dict(data.get("policy"))
        self._outcomes = {
            f"{norm(e.get('kind'))}/{norm(e.get('status'))}": e["outcome"]
            for e in self.current
            if isinstance(e.get("outcome"), str) and norm(e.get("kind")) and norm(e.get("status"))
        }

    @property
    def subject_name(self) -> Any:
        full = self.subject.get("full_name")
        if present(full):
            return full
        parts = [self.subject.get(k) for k in ("first_name", "middle_name", "last_name")]
        return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip()) or None

    @property
    def policy_label(self) -> str | None:
        version, source = self.policy.get("version"), norm(self.policy.get("source"))
        if isinstance(version, int) and version > 0:
            return f"Organisation policy v{fmt_num(version)}"
        if version == 0 or source == "DEPLOYMENT_DEFAULT":
            return "Deployment default"
        return "Organisation policy" if source == "ORGANISATION" else None

    def check_id(self, check: Mapping[str, Any]) -> str | None:
        given = check.get("id")
        if isinstance(given, str):
            return given
        name = check.get("name")
        return _CHECK_IDS.get(name) if isinstance(name, str) else None

    def checks_for(self, *ids: str) -> list[dict[str, Any]]:
        return [c for c in self.checks if self.check_id(c) in ids]

    def result_of(self, check_id: str) -> Any:
        found = self.checks_for(check_id)
        return found[0].get("result") if found else None

    def section_titles(self) -> list[tuple[str, str]]:
        """The numbered sections, in order: (anchor, title)."""
        titles = [
            ("sec-subject", "Subject details"),
            ("sec-document", "Identity document verification"),
            ("sec-biometrics", "Biometrics"),
            ("sec-database", "Database checks"),
            ("sec-screening", "PEP, sanctions &amp; adverse-media screening"),
            ("sec-monitoring", "Ongoing monitoring"),
            ("sec-consent", "Consent &amp; connection"),
        ]
        if self.guardian is not None:
            titles.append(("sec-guardian", "Guardian"))
        return [
            *titles,
            ("sec-verdict", "Verdict and policy"),
            ("sec-integrity", "Report integrity"),
        ]

    def page_ref(self, check_id: str | None) -> str:
        """ "→ p. 2": the page of the section that explains a check (a link), or ""."""
        anchor = CHECK_SECTION.get(check_id or "")
        if anchor is None:
            return ""
        if self.pages is None:
            return f'<a class="pref pref-auto" href="#{anchor}">→\u00a0</a>'
        page = self.pages.get(anchor)
        return "" if page is None else f'<a class="pref" href="#{anchor}">→\u00a0p.\u00a0{page}</a>'

    # --- screening states --------------------------------------------------------------------

    @staticmethod
    def is_hit(event: Mapping[str, Any]) -> bool:
        hit = event.get("hit")
        return hit if isinstance(hit, bool) else tone(event.get("status")) == "#b3261e"

    def outcome_of(self, event: Mapping[str, Any]) -> Any:
        if isinstance(event.get("outcome"), str):
            return event["outcome"]
        return self._outcomes.get(f"{norm(event.get('kind'))}/{norm(event.get('status'))}")

    def state_pill(self, event: Mapping[str, Any]) -> str:
        return pill(event.get("status"), hit=self.is_hit(event), outcome=self.outcome_of(event))

    def flag_colour(self, event: Mapping[str, Any]) -> str:
        decided = outcome_colour(event.get("outcome"))
        if decided is not None:
            return decided
        if self.is_hit(event):
            return "#b3261e"
        guess = tone(event.get("status"))
        return "#6b7480" if guess is None else "#1f7a45" if guess == "#b3261e" else guess

    @staticmethod
    def since(event: Mapping[str, Any]) -> str | None:
        return fmt_day(event.get("since")) or fmt_day(event.get("recorded_at"))
