"""Azure trust rules end to end: an az / Graph export through the Azure collector and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhiaudit.model import FindingsDocument
from tests.conftest import FIXTURES, run_cli

EXPORT = FIXTURES / "azure" / "trust" / "export"
SISTER_TENANT = "7e9a1c3d-5f7b-4d9e-a1c3-5e7a9c1e3a5b"


def _scan(*extra: str) -> FindingsDocument:
    result = run_cli("scan", "azure", "--from-dir", str(EXPORT), "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    return FindingsDocument.model_validate_json(result.stdout)


@pytest.fixture(scope="module")
def doc() -> FindingsDocument:
    return _scan()


def _names(doc: FindingsDocument, rule: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in doc.findings:
        if f.rule_id == rule:
            out.setdefault(f.identity_name, []).append(f)
    return out


def test_federated_credentials(doc: FindingsDocument) -> None:
    found = _names(doc, "azure-federated-credential-broad")
    assert set(found) == {"infra-deploy", "ci-platform", "flex-ci", "aws-bridge"}
    assert len(found["infra-deploy"]) == 1 and "pull request" in found["infra-deploy"][0].description  # not production
    assert found["ci-platform"][0].severity == "high" and found["flex-ci"][0].evidence["breadth"] == "owner"
    assert "sts.amazonaws.com" in found["aws-bridge"][0].description
    assert "terraform-apply" not in found


def test_owners(doc: FindingsDocument) -> None:
    found = _names(doc, "azure-app-owners-inactive")
    assert set(found) == {"legacy-importer", "old-report"}  # billing-sync has an active member
    assert found["legacy-importer"][0].evidence["guests"] == 1


def test_owner_of_an_administrator_is_admin_equivalent(doc: FindingsDocument) -> None:
    admin = _names(doc, "admin-equivalent")
    path = admin["automation"][0].evidence["path"]
    assert [hop["kind"] for hop in path] == ["owner"]
    assert path[0]["to"] == admin["tenant-admin"][0].identity_id


def test_third_party_apps(doc: FindingsDocument) -> None:
    found = _names(doc, "third-party-privileged-app")
    assert set(found) == {"VendorSync", "trustlab-emea-connector"}  # not the read-only dashboard
    assert found["VendorSync"][0].severity == "critical"


def test_own_tenant_listed_in_the_config_is_not_a_third_party(tmp_path: Path) -> None:
    config = tmp_path / "nhiaudit.toml"
    config.write_text(f'[organization]\naccounts = ["{SISTER_TENANT}"]\n')
    found = _names(_scan("--config", str(config)), "third-party-privileged-app")
    assert set(found) == {"VendorSync"}


def test_environment_crossing_from_subscription_names(doc: FindingsDocument) -> None:
    found = _names(doc, "environment-crossing")
    assert set(found) == {"shared-mi"}  # prod-only-mi holds grants in production only
    assert "subscription trust-prod" in found["shared-mi"][0].description
