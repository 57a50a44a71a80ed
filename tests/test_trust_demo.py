"""The demo shows every AWS trust finding kind and keeps one clean near-miss per kind."""

from __future__ import annotations

import json

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.demo import load_demo
from nhiaudit.model import FindingsDocument
from tests.conftest import ROOT, run_cli


@pytest.fixture(scope="module")
def demo() -> FindingsDocument:
    return analyze(load_demo())


def _names(doc: FindingsDocument, rule: str, provider: str = "aws") -> set[str]:
    return {f.identity_name for f in doc.findings if f.rule_id == rule and f.provider == provider}


def test_planted_trust_findings(demo: FindingsDocument) -> None:
    assert _names(demo, "aws-third-party-trust-no-external-id") == {"partner-billing-export"}
    assert _names(demo, "aws-trust-any-principal") == {"public-support-access"}
    assert _names(demo, "aws-oidc-trust-unconstrained") == {"github-actions-deploy", "gh-actions-org-wide"}
    assert _names(demo, "aws-service-trust-confused-deputy") == {"sfn-orchestrator"}
    assert _names(demo, "environment-crossing") == {"prod-data-sync"}
    chained = {
        f.identity_name
        for f in demo.findings
        if f.rule_id == "admin-equivalent" and f.evidence.get("via") == "path" and f.provider == "aws"
    }
    assert chained == {"release-runner", "build-agent"}


def test_gcp_trust_findings_in_the_demo(demo: FindingsDocument) -> None:
    assert _names(demo, "gcp-wif-provider-unconstrained", "gcp") == {"gitlab-runner", "legacy-ci-pool/gitlab"}
    assert "github-pool/github-actions" not in {f.identity_name for f in demo.findings}  # owner and branch pinned
    assert _names(demo, "gcp-cross-boundary-impersonation", "gcp") == {"deploy-bot", "web-frontend"}
    assert _names(demo, "environment-crossing", "gcp") == {"build", "web-frontend"}
    assert "etl-runner" in _names(demo, "admin-equivalent", "gcp")  # acts as the default compute account


def test_near_misses_stay_clean(demo: FindingsDocument) -> None:
    flagged = {f.identity_name for f in demo.findings if f.rule_id != "privilege-escalation"}
    # external account with sts:ExternalId; "*" pinned to the organization; GitHub pinned to repo and branch;
    # service trust with aws:SourceAccount; assuming a read-only role; a trust from a production sibling account
    for name in ("vendor-monitoring", "org-audit-reader", "config-recorder", "report-runner", "analytics-reader"):
        assert name not in flagged
    ci_admin = {f.rule_id for f in demo.findings if f.identity_name == "ci-deploy-admin"}
    assert not {r for r in ci_admin if r.startswith("aws-")}  # its GitHub trust is pinned to a repo and branch


def test_earlier_demo_findings_still_fire(demo: FindingsDocument) -> None:
    pairs = {(f.rule_id, f.identity_name) for f in demo.findings}
    for expected in [
        ("admin-equivalent", "ci-deploy-admin"),
        ("admin-equivalent", "legacy-etl"),
        ("admin-equivalent", "svc-admin-bot"),
        ("privilege-escalation", "lambda-orchestrator"),
        ("privilege-escalation", "ops-automation"),
        ("privilege-escalation", "jenkins"),
        ("privilege-escalation", "batch-launcher"),
        ("human-usable-nhi", "jenkins"),
        ("identity-unused", "old-migration-2024"),
    ]:
        assert expected in pairs


def test_demo_cli_shows_trust_findings() -> None:
    result = run_cli("scan", "--demo", "--max-rows", "0")
    assert result.returncode == 0, result.stderr
    for text in ("aws-oidc-trust-unconstrained", "aws-trust-any-principal", "partner-billing-export", "build-agent"):
        assert text in result.stdout
    doc = json.loads(run_cli("scan", "--demo", "--format", "json").stdout)
    assert doc["summary"]["by_owasp_nhi"].get("NHI3:2025", 0) >= 3


def test_rules_reference_is_generated_from_metadata() -> None:
    result = run_cli("rules", "--format", "markdown")
    assert result.returncode == 0
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == result.stdout
