"""SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning, Azure DevOps, ...).

* ``tool.driver.rules``: every registered rule, with its rationale, remediation and framework
  references as help text and markdown, and ``security-severity`` for GitHub's ranking.
* ``results``: one per finding; ``partialFingerprints["nhiaudit/v1"]`` is the finding's stable
  fingerprint, so dashboards follow a finding across scans instead of opening a new alert.
* Locations: a logical location per identity, nested under its cloud and account / project /
  tenant (``run.logicalLocations``), and a physical location with a stable virtual path
  (``nhiaudit/aws/111122223333/aws.role/ci-deploy``) because code-scanning services reject
  results without one. The path names no file in the repository.
* Suppressed findings carry a SARIF ``suppressions`` entry with the reason; with a baseline,
  results carry ``baselineState`` (new / unchanged / updated).
"""

from __future__ import annotations

import json
from typing import Any, TextIO
from urllib.parse import quote

from nhiaudit.frameworks import load_framework
from nhiaudit.model import Finding, FindingsDocument
from nhiaudit.report.helpers import TOOL_URL, provider_name, rule_url, scope_name
from nhiaudit.report.interface import Reporter, ReportOptions

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "nhiaudit/v1"

LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0"}
"""GitHub ranks security alerts by this CVSS-like score: >=9 critical, 7-8.9 high, 4-6.9 medium, <4 low."""

BASELINE_STATE = {"new": "new", "unchanged": "unchanged", "severity_changed": "updated"}

FRAMEWORK_TITLES = {
    "owasp_nhi": "OWASP NHI Top 10 (2025)",
    "nist_800_207": "NIST SP 800-207",
    "nist_800_53": "NIST SP 800-53 Rev. 5",
    "cis": "CIS",
}


def _pascal(rule_id: str) -> str:
    return "".join(part.capitalize() for part in rule_id.split("-"))


def _reference_rows(refs: dict[str, list[str]]) -> list[str]:
    rows = []
    for key, title in FRAMEWORK_TITLES.items():
        ids = refs.get(key) or []
        if ids:
            fw = load_framework(key)
            rows.append(f"| {title} | {'; '.join(fw.label(i) for i in ids)} |")
    return rows


def _rule_descriptor(rule_id: str, meta: Any | None, sample: Finding | None) -> dict[str, Any]:
    """A reportingDescriptor from the rule registry, or from a finding for a rule this version lacks."""
    if meta is not None:
        title, severity, rationale, remediation = meta.title, meta.severity.value, meta.rationale, meta.remediation
        refs = {k: list(getattr(meta, k)) for k in FRAMEWORK_TITLES}
        providers = ", ".join(provider_name(p) for p in meta.providers)
    else:
        assert sample is not None
        title, severity = sample.title, sample.severity.value
        rationale, remediation = sample.description, sample.remediation
        refs = sample.references.model_dump()
        providers = provider_name(sample.provider)
    ref_rows = _reference_rows(refs)
    markdown = "\n".join(
        [
            f"**{title}** (default severity: {severity}; providers: {providers})",
            "",
            rationale,
            "",
            f"**Remediation.** {remediation}",
            *(["", "| Framework | References |", "|---|---|", *ref_rows] if ref_rows else []),
            "",
            f"[Rule reference]({rule_url(rule_id)})",
        ]
    )
    tags = ["security", "non-human-identity", *refs["owasp_nhi"], *refs["nist_800_207"]]
    properties: dict[str, Any] = {"tags": list(dict.fromkeys(tags)), "precision": "high"}
    if severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[severity]
    properties["references"] = refs
    return {
        "id": rule_id,
        "name": _pascal(rule_id),
        "shortDescription": {"text": title},
        "fullDescription": {"text": rationale},
        "help": {"text": f"{rationale}\n\nRemediation: {remediation}", "markdown": markdown},
        "helpUri": rule_url(rule_id),
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": properties,
    }


def virtual_path(f: Finding) -> str:
    """A stable, readable artifact path for a cloud finding (no such file exists)."""
    parts = ["nhiaudit", f.provider, f.scope, f.identity_kind, f.identity_name]
    return "/".join(quote(p, safe="@+=,._-") for p in parts)


class _Locations:
    """run.logicalLocations: cloud > account / project / tenant > identity."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._index: dict[str, int] = {}

    def _add(self, fqn: str, item: dict[str, Any]) -> int:
        if fqn not in self._index:
            self._index[fqn] = len(self.items)
            self.items.append({**item, "fullyQualifiedName": fqn})
        return self._index[fqn]

    def identity(self, f: Finding) -> dict[str, Any]:
        cloud = self._add(f.provider, {"name": f.provider, "kind": "namespace"})
        scope_fqn = f"{f.provider}/{f.scope}"
        scope = self._add(
            scope_fqn,
            {
                "name": f.scope,
                "kind": "namespace",
                "parentIndex": cloud,
                "properties": {"scope": scope_name(f.provider)},
            },
        )
        fqn = f"{scope_fqn}/{f.identity_id}"
        index = self._add(
            fqn,
            {
                "name": f.identity_name,
                "kind": "resource",
                "parentIndex": scope,
                "properties": {"identityKind": f.identity_kind, "identityId": f.identity_id},
            },
        )
        return {"index": index, "fullyQualifiedName": fqn, "name": f.identity_name, "kind": "resource"}


def _result(f: Finding, rule_index: int, locations: _Locations) -> dict[str, Any]:
    scope = scope_name(f.provider)
    properties: dict[str, Any] = {
        "severity": f.severity.value,
        "confidence": f.confidence.value,
        "cloud": f.provider,
        scope: f.scope,
        "identity": f.identity_id,
        "identityKind": f.identity_kind,
        "firstSeen": f.first_seen.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "references": f.references.model_dump(),
        "evidence": f.evidence,
        "remediation": f.remediation,
    }
    if f.credential_id:
        properties["credential"] = f.credential_id
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity.value],
        "message": {
            "text": f.description,
            "markdown": f"{f.description}\n\n**Fix.** {f.remediation}",
        },
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": virtual_path(f)}},
                "logicalLocations": [locations.identity(f)],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
        "properties": properties,
    }
    if f.baseline is not None:
        result["baselineState"] = BASELINE_STATE[f.baseline.state]
    if f.suppression is not None:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f.suppression.get("reason", ""),
                "properties": {k: v for k, v in f.suppression.items() if v is not None and k != "reason"},
            }
        ]
    return result


def sarif_log(doc: FindingsDocument) -> dict[str, Any]:
    from nhiaudit.rules import all_rules

    metas = {r.meta.id: r.meta for r in all_rules()}
    samples = {f.rule_id: f for f in doc.findings}
    rule_ids = [*metas, *sorted(set(samples) - set(metas))]
    rules = [_rule_descriptor(rid, metas.get(rid), samples.get(rid)) for rid in rule_ids]
    index = {rid: i for i, rid in enumerate(rule_ids)}

    locations = _Locations()
    results = [_result(f, index[f.rule_id], locations) for f in doc.findings]

    scan = doc.scan
    notifications = [
        {
            "level": "warning",
            "message": {"text": f"{gap.provider} {gap.scope}: {gap.source} {gap.status}: {gap.detail}"},
            "descriptor": {"id": f"coverage/{gap.source}"},
        }
        for gap in scan.coverage
    ] + [{"level": "warning", "message": {"text": w}} for w in scan.warnings]
    run_properties: dict[str, Any] = {
        "asOf": scan.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sources": [s.model_dump(mode="json", include={"provider", "scope", "method"}) for s in scan.sources],
        "identities": scan.identities,
        "summary": {
            "total": doc.summary.total,
            "bySeverity": doc.summary.by_severity,
            "suppressed": doc.summary.suppressed,
        },
    }
    if scan.baseline is not None:
        b = scan.baseline
        run_properties["baseline"] = {
            "file": b.file,
            "asOf": b.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "new": b.new,
            "unchanged": b.unchanged,
            "fixed": len(b.fixed),
            "notRescanned": len(b.not_rescanned),
            "fixedFingerprints": [f.fingerprint for f in b.fixed],
        }
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nhiaudit",
                        "fullName": "nhiaudit: non-human identity audit for AWS, GCP and Azure",
                        "version": doc.tool_version,
                        "semanticVersion": doc.tool_version,
                        "informationUri": TOOL_URL,
                        "rules": rules,
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": scan.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "endTimeUtc": scan.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "toolExecutionNotifications": notifications,
                    }
                ],
                "logicalLocations": locations.items,
                "results": results,
                "properties": run_properties,
            }
        ],
    }


class SarifReporter(Reporter):
    name = "sarif"
    extension = "sarif"
    description = "SARIF 2.1.0 for code-scanning dashboards (GitHub code scanning upload)"

    def render(self, doc: FindingsDocument, out: TextIO, options: ReportOptions) -> None:
        json.dump(sarif_log(doc), out, indent=2)
        out.write("\n")
