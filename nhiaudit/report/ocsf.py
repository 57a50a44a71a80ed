"""OCSF Detection Finding events (class 2004, OCSF 1.5.0) for SIEMs and security data lakes.

One JSON array of events, one per finding:

* ``finding_info.uid`` is the finding fingerprint (stable across scans), ``analytic`` the rule;
* ``resources[0]`` is the identity, ``cloud`` its provider and account / project / tenant;
* ``evidences[0].data`` the finding's evidence, ``remediation.desc`` what to do;
* ``status_id`` is New, or Suppressed (with the reason in ``status_detail``);
* with a baseline, findings known before are ``activity_id`` Update (2) and the baseline's
  fixed findings are added as Close (3) events with status Resolved, so a data lake can close
  them.

The events are plain dictionaries; the tests validate them against ``py-ocsf-models``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, TextIO

from nhiaudit.model import Finding, FindingsDocument
from nhiaudit.report.helpers import TOOL_URL, provider_name, rule_url, scope_name
from nhiaudit.report.interface import Reporter, ReportOptions

OCSF_VERSION = "1.5.0"
CLASS_UID = 2004
CATEGORY_UID = 2
ACTIVITY = {1: "Create", 2: "Update", 3: "Close"}
SEVERITY_ID = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAME = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
CONFIDENCE_ID = {"low": 1, "medium": 2, "high": 3}
STATUS_NEW, STATUS_SUPPRESSED, STATUS_RESOLVED = 1, 3, 4
STATUS_NAME = {STATUS_NEW: "New", STATUS_SUPPRESSED: "Suppressed", STATUS_RESOLVED: "Resolved"}
ACCOUNT_TYPE = {"aws": (10, "AWS Account"), "gcp": (5, "GCP Account"), "azure": (6, "Azure AD Account")}
"""OCSF account type ids for the account / project / tenant that holds an identity."""


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def detection_finding(f: Finding, doc: FindingsDocument, *, activity_id: int | None = None) -> dict[str, Any]:
    if activity_id is None:
        activity_id = 2 if f.baseline is not None and f.baseline.state != "new" else 1
    if activity_id == 3:
        status_id = STATUS_RESOLVED
    elif f.suppression is not None:
        status_id = STATUS_SUPPRESSED
    else:
        status_id = STATUS_NEW
    severity_id = SEVERITY_ID[f.severity.value]
    account_type_id, account_type = ACCOUNT_TYPE.get(
        f.provider, (99, f"{provider_name(f.provider)} {scope_name(f.provider)}")
    )
    time = doc.scan.finished_at
    event: dict[str, Any] = {
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "nhiaudit",
                "vendor_name": "nhiaudit",
                "version": doc.tool_version,
                "url_string": TOOL_URL,
            },
            "event_code": f.rule_id,
            "uid": f"{f.fingerprint}-{_ms(time)}",
            "profiles": ["cloud"],
            "labels": ["nhiaudit", f.rule_id, *f.references.owasp_nhi],
        },
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "activity_id": activity_id,
        "activity_name": ACTIVITY[activity_id],
        "type_uid": CLASS_UID * 100 + activity_id,
        "type_name": f"Detection Finding: {ACTIVITY[activity_id]}",
        "time": _ms(time),
        "time_dt": _iso(time),
        "severity_id": severity_id,
        "severity": SEVERITY_NAME[severity_id],
        "confidence_id": CONFIDENCE_ID[f.confidence.value],
        "confidence": f.confidence.value.capitalize(),
        "status_id": status_id,
        "status": STATUS_NAME[status_id],
        "message": f.description,
        "finding_info": {
            "uid": f.fingerprint,
            "title": f.title,
            "desc": f.description,
            "types": [*f.references.owasp_nhi, *f.references.nist_800_207],
            "first_seen_time": _ms(f.first_seen),
            "first_seen_time_dt": _iso(f.first_seen),
            "last_seen_time": _ms(doc.scan.as_of),
            "last_seen_time_dt": _iso(doc.scan.as_of),
            "src_url": rule_url(f.rule_id),
            "analytic": {"uid": f.rule_id, "name": f.rule_id, "type_id": 1, "type": "Rule", "desc": f.title},
        },
        "cloud": {
            "provider": provider_name(f.provider),
            "account": {"uid": f.scope, "name": f.scope, "type_id": account_type_id, "type": account_type},
        },
        "resources": [
            {
                "uid": f.identity_id,
                "name": f.identity_name,
                "type": f.identity_kind,
                "labels": [f"{scope_name(f.provider)}:{f.scope}"],
                "data": {"credential_id": f.credential_id} if f.credential_id else None,
            }
        ],
        "evidences": [{"name": f.rule_id, "data": f.evidence}] if f.evidence else None,
        "remediation": {"desc": f.remediation, "references": [rule_url(f.rule_id)]},
        "unmapped": {
            "fingerprint": f.fingerprint,
            "references": f.references.model_dump(),
            "suppression": f.suppression,
            "baseline_state": f.baseline.state if f.baseline else None,
        },
    }
    if f.suppression is not None:
        event["status_detail"] = f"suppressed: {f.suppression.get('reason', '')}"
    if activity_id == 3:
        event["status_detail"] = "not found by the latest scan of this scope (fixed)"
    return _drop_none(event)


RAW_KEYS = frozenset({"data", "unmapped"})
"""Objects passed through as they are: a None in evidence is information (e.g. never used)."""


def _drop_none(value: Any) -> Any:
    """Leave out unset OCSF attributes (OCSF omits rather than nulls them)."""
    if isinstance(value, dict):
        return {k: v if k in RAW_KEYS else _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def ocsf_events(doc: FindingsDocument) -> list[dict[str, Any]]:
    events = [detection_finding(f, doc) for f in doc.findings]
    if doc.scan.baseline is not None:
        events += [detection_finding(f, doc, activity_id=3) for f in doc.scan.baseline.fixed]
    return events


class OcsfReporter(Reporter):
    name = "ocsf"
    extension = "ocsf.json"
    description = "OCSF 1.5.0 Detection Finding events (JSON array) for SIEMs and data lakes"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        json.dump(ocsf_events(doc), out, indent=2, default=str)
        out.write("\n")
