"""Azure trust rules on an inventory shaped as the Azure collector emits it (docs/architecture.md)."""

from __future__ import annotations

import uuid

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.model import Inventory, Severity, load_inventory
from tests.conftest import FIXTURES
from tests.trust_support import admin, by_identity, context, run

INVENTORY = FIXTURES / "azure" / "trust" / "inventory.json"
SISTER_TENANT = "2e4c6a8b-0d1f-4e3a-b5c7-d9e1f3a5b7c9"


def oid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "nhiaudit-fixture/" + name))


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


def test_federated_credentials(inventory: Inventory) -> None:
    findings = run(context(inventory), "azure-federated-credential-broad")
    found = {(f.identity_name, f.evidence["credential"]): f for f in findings}
    assert set(found) == {
        ("infra-deploy", "pr-builds"),
        ("ci-platform", "org-wide"),
        ("flex-ci", "any-repo"),
        ("aws-bridge", "from-aws-audience"),
    }
    assert found[("infra-deploy", "pr-builds")].severity == Severity.MEDIUM
    assert "any pull request of acme/infra" in found[("infra-deploy", "pr-builds")].description
    assert found[("ci-platform", "org-wide")].severity == Severity.HIGH
    assert found[("flex-ci", "any-repo")].evidence["breadth"] == "owner"
    audience = found[("aws-bridge", "from-aws-audience")]
    assert audience.severity == Severity.MEDIUM and "sts.amazonaws.com" in audience.description
    # near-misses: a pinned environment, an AKS service account, a Terraform workspace
    names = {f.identity_name for f in findings}
    assert "payments-mi" not in names and "terraform-apply" not in names
    assert ("infra-deploy", "production") not in found


def test_owners_guests_or_disabled(inventory: Inventory) -> None:
    ctx = context(inventory)
    found = by_identity(run(ctx, "azure-app-owners-inactive"), "azure-app-owners-inactive")
    assert set(found) == {"legacy-importer", "old-report"}
    assert found["legacy-importer"].evidence["guests"] == 1 and found["legacy-importer"].evidence["disabled"] == 1
    assert "Guests from other organizations" in found["legacy-importer"].description
    assert "Guests" not in found["old-report"].description
    assert any("without owner details" in w for w in ctx.warnings)


def test_raw_graph_owner_objects_are_read(inventory: Inventory) -> None:
    app = next(i for i in inventory.identities if i.name == "billing-sync")
    app.attributes["owner_details"] = [
        {
            "@odata.type": "#microsoft.graph.user",
            "id": "u1",
            "displayName": "Pat",
            "userType": "Guest",
            "accountEnabled": True,
        },
        {
            "@odata.type": "#microsoft.graph.user",
            "id": "u2",
            "userPrincipalName": "x_y.example#EXT#@acme.onmicrosoft.com",
        },
    ]
    found = by_identity(run(context(inventory), "azure-app-owners-inactive"), "azure-app-owners-inactive")
    assert found["billing-sync"].evidence["guests"] == 2


def test_owner_of_an_admin_app_is_admin_equivalent(inventory: Inventory) -> None:
    sp = oid("tenant-admin-sp")
    access = {sp: admin("azure", sp, "Global Administrator (via RoleManagement.ReadWrite.Directory)")}
    found = by_identity(run(context(inventory, access=access), "admin-equivalent"), "admin-equivalent")
    assert set(found) == {"tenant-admin-sp", "automation-sp", "tenant-admin-app"}
    path = found["automation-sp"].evidence["path"]
    assert [hop["kind"] for hop in path] == ["owner", "application"]
    assert "through 2 steps" in found["automation-sp"].description


def test_disabled_identities_break_paths(inventory: Inventory) -> None:
    sp = oid("tenant-admin-sp")
    for identity in inventory.identities:
        if identity.name == "tenant-admin-app":
            identity.disabled = True
    access = {sp: admin("azure", sp)}
    found = by_identity(run(context(inventory, access=access), "admin-equivalent"), "admin-equivalent")
    assert "automation-sp" not in found


def test_environment_crossing_between_subscriptions(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "environment-crossing"), "environment-crossing")
    assert set(found) == {"shared-mi"}
    text = found["shared-mi"].description
    assert "subscription acme-prod" in text and "subscription acme-dev" in text


def test_full_analysis_runs_on_the_fixture() -> None:
    doc = analyze(load_inventory(INVENTORY))
    rules = {f.rule_id for f in doc.findings}
    assert {"azure-federated-credential-broad", "azure-app-owners-inactive", "environment-crossing"} <= rules
