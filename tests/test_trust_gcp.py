"""GCP trust rules on an inventory shaped as the GCP collector emits it (docs/architecture.md)."""

from __future__ import annotations

import pytest
from conftest import FIXTURES
from trust_support import FixedAccess, admin, by_identity, context, run

from nhiaudit.analyzer import analyze
from nhiaudit.model import Confidence, Inventory, Policy, Severity, load_inventory
from nhiaudit.settings import Settings
from nhiaudit.trust.context import graph

INVENTORY = FIXTURES / "gcp" / "trust" / "inventory.json"
PROD = "acme-prod-data.iam.gserviceaccount.com"
DEPLOYER = f"deployer@{PROD}"
CI = "ci-builder@acme-dev-tools.iam.gserviceaccount.com"


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


def test_people_who_can_impersonate(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    # the project-level Service Account User grant covers every service account of the project
    assert set(found) == {
        "deployer",
        "etl-runner",
        "reporting",
        "github-deployer",
        "gitlab-deployer",
        "aws-bridge",
        "web-app",
    }
    assert found["web-app"].severity == Severity.HIGH
    assert "A binding above the service account" in found["web-app"].description
    assert found["reporting"].severity == Severity.CRITICAL  # allAuthenticatedUsers
    deployer = {m["member"]: m for m in found["deployer"].evidence["members"]}
    assert deployer["user:bob@acme.example"]["level"] == "service_account"
    assert "user:dave@acme.example" not in deployer  # Service Account Viewer does not impersonate
    etl = {m["member"]: m for m in found["etl-runner"].evidence["members"]}
    assert etl["user:carol@acme.example"]["condition"].startswith("temporary-access")
    # an outside contractor is reported by the cross-boundary rule, not here
    assert "user:contractor@partner-corp.example" not in etl


def test_service_account_level_grant_alone_is_low(inventory: Inventory) -> None:
    inventory.trusts = [t for t in inventory.trusts if not (t.source or "").startswith("projects/")]
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    assert found["deployer"].severity == Severity.LOW
    assert found["etl-runner"].confidence == Confidence.MEDIUM  # its only human binding is conditional
    assert "web-app" not in found


def test_cross_boundary_impersonation(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert set(found) == {"deployer", "etl-runner", "reporting"}
    assert found["deployer"].severity == Severity.MEDIUM  # another project of the organization
    assert "acme-dev-tools" in found["deployer"].description
    assert found["etl-runner"].severity == Severity.HIGH  # outside domain
    assert "partner-corp.example" in found["etl-runner"].description
    assert found["reporting"].severity == Severity.HIGH  # project outside the organization
    members = {m["member"] for m in found["reporting"].evidence["members"]}
    assert members == {"serviceAccount:sync@vendor-project-7781.iam.gserviceaccount.com"}  # not etl-runner
    assert "web-app" not in found  # service agent and same-project GKE workload


def test_unknown_domains_warn_instead_of_guessing(inventory: Inventory) -> None:
    inventory.scopes = [s for s in inventory.scopes if s.kind != "gcp.organization"]
    ctx = context(inventory)
    found = by_identity(run(ctx, "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert "etl-runner" not in found
    assert any("partner-corp.example" in w and "[organization] domains" in w for w in ctx.warnings)
    ctx = context(inventory, Settings(organization_domains=["acme.example"]))
    found = by_identity(run(ctx, "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert "etl-runner" in found


def test_workload_identity_providers(inventory: Inventory) -> None:
    findings = [f for f in run(context(inventory), "gcp-wif-provider-unconstrained")]
    providers = {f.evidence.get("provider"): f for f in findings if "provider" in f.evidence}
    base = "projects/123456789012/locations/global/workloadIdentityPools"
    assert set(providers) == {
        f"{base}/github-pool/providers/github",
        f"{base}/github-pool/providers/github-main-only",
        f"{base}/aws-pool/providers/aws-open",
    }
    assert providers[f"{base}/github-pool/providers/github"].severity == Severity.CRITICAL
    main_only = providers[f"{base}/github-pool/providers/github-main-only"]
    assert main_only.severity == Severity.CRITICAL and "does not restrict" in main_only.description
    assert providers[f"{base}/aws-pool/providers/aws-open"].severity == Severity.HIGH
    pools = [f for f in findings if "pool" in f.evidence]
    assert [(f.identity_name, f.evidence["pool"]) for f in pools] == [("github-deployer", f"{base}/github-pool")]
    assert pools[0].severity == Severity.CRITICAL


def test_provider_without_identity_is_reported_on_the_provider(inventory: Inventory) -> None:
    for trust in inventory.trusts:
        if trust.principal.endswith("/providers/github"):
            trust.identity_id = trust.principal
    findings = run(context(inventory), "gcp-wif-provider-unconstrained")
    pseudo = [f for f in findings if f.identity_kind == "gcp.workload_identity_provider"]
    assert len(pseudo) == 1 and pseudo[0].identity_name == "github-pool/github"
    assert pseudo[0].scope == "123456789012"


def test_environment_crossing_from_labels(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "environment-crossing"), "environment-crossing")
    assert set(found) == {"deployer", "ci-builder"}
    assert found["deployer"].confidence == Confidence.HIGH  # project labels on both sides
    assert "ci-builder" in found["deployer"].description
    # the development service account can become the production one: reported on both sides
    assert "can become Service account deployer" in found["ci-builder"].description


def test_impersonation_chain_makes_admin_equivalent(inventory: Inventory) -> None:
    """ci-builder can mint tokens for deployer; deployer is admin: ci-builder is admin-equivalent."""
    access = {DEPLOYER: admin("gcp", DEPLOYER, "roles/owner"), CI: FixedAccess(provider="gcp", identity_id=CI)}
    ctx = context(inventory, access=access)
    found = by_identity(run(ctx, "admin-equivalent"), "admin-equivalent")
    assert set(found) == {"deployer", "ci-builder"}
    path = found["ci-builder"].evidence["path"]
    assert [hop["kind"] for hop in path] == ["impersonate"]
    assert "roles/iam.serviceAccountTokenCreator" in path[0]["how"]
    assert found["ci-builder"].severity == Severity.CRITICAL
    # trust findings on the admin service account are raised
    cross = by_identity(run(ctx, "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert cross["deployer"].severity == Severity.HIGH and "admin-equivalent" in cross["deployer"].description


def test_act_as_needs_a_deploy_permission(inventory: Inventory) -> None:
    etl = f"etl-runner@{PROD}"
    reporting = f"reporting@{PROD}"
    inventory.trusts = [t for t in inventory.trusts if t.identity_id != reporting or "etl-runner" not in t.principal]
    inventory.trusts.append(
        inventory.trusts[0].model_copy(
            update={
                "identity_id": reporting,
                "principal": f"serviceAccount:{etl}",
                "actions": ["roles/iam.serviceAccountUser"],
                "source": f"serviceAccount:{reporting}",
            }
        )
    )
    access = {reporting: admin("gcp", reporting)}
    edge = next(e for e in graph(context(inventory, access=access)).out(etl) if e.target == reporting)
    assert edge.kind == "act-as" and edge.conditional
    access[etl] = FixedAccess(provider="gcp", identity_id=etl, granted=("run.services.create",))
    edge = next(e for e in graph(context(inventory, access=access)).out(etl) if e.target == reporting)
    assert not edge.conditional and "run.services.create" in edge.how


def test_custom_roles_are_resolved_through_policies(inventory: Inventory) -> None:
    inventory.policies["projects/acme-prod-data/roles/tokenMinter"] = Policy(
        id="projects/acme-prod-data/roles/tokenMinter",
        provider="gcp",
        kind="gcp.role",
        name="projects/acme-prod-data/roles/tokenMinter",
        permissions=["iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.get"],
    )
    target = f"web-app@{PROD}"
    inventory.trusts.append(
        inventory.trusts[0].model_copy(
            update={
                "identity_id": target,
                "principal": "user:erin@acme.example",
                "actions": ["projects/acme-prod-data/roles/tokenMinter"],
                "source": f"serviceAccount:{target}",
            }
        )
    )
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    members = {m["member"]: m for m in found["web-app"].evidence["members"]}
    assert members["user:erin@acme.example"]["can"] == ["impersonate"]


def test_full_analysis_runs_on_the_fixture() -> None:
    doc = analyze(load_inventory(INVENTORY))
    rules = {f.rule_id for f in doc.findings}
    assert {
        "gcp-human-sa-impersonation",
        "gcp-cross-boundary-impersonation",
        "gcp-wif-provider-unconstrained",
        "environment-crossing",
    } <= rules


def test_basic_roles_are_not_impersonation_grants(inventory: Inventory) -> None:
    target = f"web-app@{PROD}"
    inventory.trusts = [t for t in inventory.trusts if t.identity_id != target]
    inventory.trusts.append(
        inventory.trusts[0].model_copy(
            update={"identity_id": target, "principal": "user:frank@acme.example", "actions": ["roles/editor"]}
        )
    )
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    assert "web-app" not in found
