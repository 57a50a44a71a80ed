"""GCP trust rules end to end: gcloud exports through the GCP collector and the CLI."""

from __future__ import annotations

import json

import pytest

from nhiaudit.model import FindingsDocument
from tests.conftest import FIXTURES, run_cli

EXPORT = FIXTURES / "gcp" / "trust" / "export"


@pytest.fixture(scope="module")
def doc() -> FindingsDocument:
    result = run_cli("scan", "gcp", "--from-dir", str(EXPORT), "--format", "json")
    assert result.returncode == 0, result.stderr
    return FindingsDocument.model_validate_json(result.stdout)


def _by_rule(doc: FindingsDocument, rule: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in doc.findings:
        if f.rule_id == rule:
            out.setdefault(f.identity_name, []).append(f)
    return out


def test_impersonation_by_people(doc: FindingsDocument) -> None:
    found = _by_rule(doc, "gcp-human-sa-impersonation")
    assert set(found) == {"reporting", "deployer"}
    assert found["reporting"][0].severity == "critical"  # allAuthenticatedUsers
    assert found["deployer"][0].severity == "high"  # one person, but deployer holds Owner
    assert "auditor@acme.example" not in found["deployer"][0].description  # Service Account Viewer


def test_cross_boundary(doc: FindingsDocument) -> None:
    found = _by_rule(doc, "gcp-cross-boundary-impersonation")
    assert set(found) == {"ci-runner", "etl", "reporting"}
    ci = found["ci-runner"][0]  # one finding for the project-level binding, on the member
    assert len(ci.evidence["service_accounts"]) == 7 and ci.severity == "high"
    assert ci.evidence["admin_equivalent_service_accounts"] == ["deployer@acme-trust-prod.iam.gserviceaccount.com"]
    assert found["etl"][0].severity == "high" and "freelance.example" in found["etl"][0].description
    partner = found["reporting"][0]
    assert partner.confidence == "medium" and "not listed" in partner.description
    assert "etl@acme-trust-prod" not in partner.description  # same project
    assert "api" not in found  # GKE workload of the same project


def test_workload_identity_federation(doc: FindingsDocument) -> None:
    found = _by_rule(doc, "gcp-wif-provider-unconstrained")
    assert set(found) == {"github/actions", "github/actions-main", "aws/account", "gh-deploy"}
    assert found["github/actions"][0].severity == "critical"
    assert found["github/actions"][0].scope == "acme-trust-prod"
    assert found["aws/account"][0].severity == "high"
    assert len(found["gh-deploy"]) == 2  # bound to the whole pool: both of its live providers are open
    assert "github/retired" not in found  # a deleted provider
    assert "gh-scoped" not in found and "aws-sync" not in found  # owner pinned; one AWS role


def test_chains_and_environments(doc: FindingsDocument) -> None:
    admin = _by_rule(doc, "admin-equivalent")
    path = admin["ci-runner"][0].evidence["path"]
    assert [hop["kind"] for hop in path] == ["act-as"] and not path[0]["conditional"]  # run.admin deploys
    assert "sandbox" not in admin
    crossing = _by_rule(doc, "environment-crossing")
    assert set(crossing) == {"ci-runner"}


def test_config_lists_the_partner_project(tmp_path) -> None:
    config = tmp_path / "nhiaudit.toml"
    config.write_text('[organization]\naccounts = ["acme-trust-prod", "acme-trust-dev"]\n')
    result = run_cli("scan", "gcp", "--from-dir", str(EXPORT), "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    partner = next(
        f
        for f in doc["findings"]
        if f["rule_id"] == "gcp-cross-boundary-impersonation" and f["identity_name"] == "reporting"
    )
    assert partner["severity"] == "high" and partner["confidence"] == "high"
    assert "outside the organization" in partner["description"]
