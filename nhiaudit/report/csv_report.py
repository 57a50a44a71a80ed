"""CSV: one row per finding, with the columns a ticketing import maps directly.

``fingerprint`` is the stable id (the same finding keeps it across scans, so an import can
update instead of duplicating); ``summary``, ``description``, ``priority`` and ``labels`` map
onto ticket fields; ``account`` is the account / project / tenant.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TextIO

from nhiaudit.model import Finding, FindingsDocument
from nhiaudit.report.interface import Reporter, ReportOptions

COLUMNS = [
    "fingerprint",
    "summary",
    "severity",
    "priority",
    "confidence",
    "rule_id",
    "title",
    "provider",
    "account",
    "identity",
    "identity_name",
    "identity_kind",
    "credential",
    "description",
    "remediation",
    "owasp_nhi",
    "nist_800_207",
    "nist_800_53",
    "cis",
    "labels",
    "first_seen",
    "status",
    "suppression_reason",
    "due_date",
    "baseline_state",
]

PRIORITY = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low", "info": "Lowest"}
"""Severity -> the default priority names of common trackers (Jira)."""

DUE_DAYS = {"critical": 7, "high": 30, "medium": 90, "low": 180}
"""Days from first seen to the ``due_date`` column, by severity (info: no due date). Because
``first_seen`` is carried forward from the baseline, a ticket's due date does not move."""


def finding_row(f: Finding) -> dict[str, str]:
    refs = f.references
    days = DUE_DAYS.get(f.severity.value)
    due = f.first_seen + timedelta(days=days) if days is not None else None
    return {
        "fingerprint": f.fingerprint,
        "summary": f"[{f.severity.value.upper()}] {f.title}: {f.identity_name} ({f.provider} {f.scope})",
        "severity": f.severity.value,
        "priority": PRIORITY[f.severity.value],
        "confidence": f.confidence.value,
        "rule_id": f.rule_id,
        "title": f.title,
        "provider": f.provider,
        "account": f.scope,
        "identity": f.identity_id,
        "identity_name": f.identity_name,
        "identity_kind": f.identity_kind,
        "credential": f.credential_id or "",
        "description": f.description,
        "remediation": f.remediation,
        "owasp_nhi": "; ".join(refs.owasp_nhi),
        "nist_800_207": "; ".join(refs.nist_800_207),
        "nist_800_53": "; ".join(refs.nist_800_53),
        "cis": "; ".join(refs.cis),
        "labels": " ".join(["nhiaudit", f.rule_id, f.provider, *refs.owasp_nhi]),
        "first_seen": f.first_seen.strftime("%Y-%m-%d"),
        "status": "suppressed" if f.suppression else "open",
        "suppression_reason": (f.suppression or {}).get("reason", ""),
        "due_date": due.strftime("%Y-%m-%d") if due else "",
        "baseline_state": f.baseline.state if f.baseline else "",
    }


class CsvReporter(Reporter):
    name = "csv"
    extension = "csv"
    description = "one row per finding for ticketing imports (stable fingerprint column)"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        import pandas as pd

        frame = pd.DataFrame([finding_row(f) for f in doc.findings], columns=COLUMNS)
        frame.to_csv(out, index=False, lineterminator="\n")
