"""GCP trust rules on an inventory shaped as the GCP collector emits it (docs/architecture.md)."""

from __future__ import annotations

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.model import Confidence, Inventory, Policy, Severity, load_inventory
from nhiaudit.settings import Settings
from nhiaudit.trust.context import graph
from tests.conftest import FIXTURES
from tests.trust_support import FixedAccess, admin, by_identity, context, run

INVENTORY = FIXTURES / "gcp" / "trust" / "inventory.json"
PROD = "acme-prod-data.iam.gserviceaccount.com"
DEPLOYER = f"deployer@{PROD}"
CI = "ci-builder@acme-dev-tools.iam.gserviceaccount.com"


@pytest.fixture
def inventory() -> Inventory:
    return load_inventory(INVENTORY)


def test_people_who_can_impersonate(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    # bindings on the service accounts themselves; the project-level group grant is gcp-project-level-impersonation's
    assert set(found) == {"deployer", "etl-runner", "reporting"}
    assert found["reporting"].severity == Severity.CRITICAL  # allAuthenticatedUsers
    deployer = found["deployer"]
    assert deployer.severity == Severity.HIGH  # low, raised: deployer holds Owner (admin-equivalent)
    members = {m["member"]: m for m in deployer.evidence["members"]}
    assert set(members) == {"user:bob@acme.example"}  # Service Account Viewer does not impersonate
    assert members["user:bob@acme.example"]["level"] == "service_account"
    etl = found["etl-runner"]
    assert etl.severity == Severity.INFO and etl.confidence == Confidence.MEDIUM  # conditional, low lowered
    assert etl.evidence["members"][0]["condition"].startswith("temporary-access")
    # an outside contractor is reported by the cross-boundary rule, not here
    assert "user:contractor@partner-corp.example" not in {m["member"] for m in etl.evidence["members"]}
    project_level = run(context(inventory), "gcp-project-level-impersonation")
    assert [f.identity_name for f in project_level] == ["data-engineers@acme.example"]


def test_service_account_level_grant_alone_is_low(inventory: Inventory) -> None:
    inventory.grants = [g for g in inventory.grants if g.policy_id != "roles/owner"]
    found = by_identity(run(context(inventory), "gcp-human-sa-impersonation"), "gcp-human-sa-impersonation")
    assert found["deployer"].severity == Severity.LOW


def test_cross_boundary_impersonation(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert set(found) == {"deployer", "etl-runner", "reporting"}
    assert found["deployer"].severity == Severity.HIGH  # another project of the organization: medium, raised (Owner)
    assert found["deployer"].evidence["members"][0]["severity"] == "medium"
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
    findings = run(context(inventory), "gcp-wif-provider-unconstrained")
    base = "projects/123456789012/locations/global/workloadIdentityPools"
    providers = {f.evidence["provider"]: f for f in findings if f.identity_kind == "gcp.workload_identity_provider"}
    assert set(providers) == {
        f"{base}/github-pool/providers/github",
        f"{base}/github-pool/providers/github-main-only",
        f"{base}/aws-pool/providers/aws-open",
    }
    github = providers[f"{base}/github-pool/providers/github"]
    assert github.severity == Severity.CRITICAL and github.scope == "acme-prod-data"  # number mapped to the id
    assert github.identity_name == "github-pool/github"
    main_only = providers[f"{base}/github-pool/providers/github-main-only"]
    assert main_only.severity == Severity.CRITICAL and "does not restrict" in main_only.description
    aws_open = providers[f"{base}/aws-pool/providers/aws-open"]
    assert aws_open.severity == Severity.HIGH
    assert aws_open.evidence["service_accounts"] == [f"aws-bridge@{PROD}", f"web-app@{PROD}"]
    # the gitlab provider pins the group; the pinned AWS provider names a role: clean
    bindings = {
        (f.identity_name, f.evidence["provider"].rsplit("/", 1)[-1])
        for f in findings
        if f.identity_kind == "gcp.service_account"
    }
    assert bindings == {("github-deployer", "github"), ("github-deployer", "github-main-only"), ("web-app", "aws-open")}


def test_binding_members_narrow_the_provider(inventory: Inventory) -> None:
    """aws-bridge is bound to one role of the open AWS provider; web-app to the whole pool."""
    findings = run(context(inventory), "gcp-wif-provider-unconstrained")
    names = {f.identity_name for f in findings if f.identity_kind == "gcp.service_account"}
    assert "aws-bridge" not in names and "gitlab-deployer" not in names and "web-app" in names


def test_disabled_providers_are_skipped(inventory: Inventory) -> None:
    for trust in inventory.trusts:
        if trust.principal.endswith("/providers/github"):
            trust.conditions["disabled"] = True
    findings = run(context(inventory), "gcp-wif-provider-unconstrained")
    assert not any(f.evidence.get("provider", "").endswith("/providers/github") for f in findings)


def test_whole_pool_bindings_without_provider_member(inventory: Inventory) -> None:
    """Collectors that attach provider trusts without the binding member: the gcp_member binding is used."""
    for trust in inventory.trusts:
        trust.conditions.pop("member", None)
    inventory.trusts = [
        t for t in inventory.trusts if not (t.principal_kind == "oidc" and t.identity_id != f"github-deployer@{PROD}")
    ]
    findings = run(context(inventory), "gcp-wif-provider-unconstrained")
    bindings = [f for f in findings if f.identity_name == "github-deployer"]
    assert bindings and all(f.severity == Severity.CRITICAL for f in bindings)


def test_environment_crossing_from_labels(inventory: Inventory) -> None:
    found = by_identity(run(context(inventory), "environment-crossing"), "environment-crossing")
    assert set(found) == {"deployer", "ci-builder"}
    assert found["deployer"].confidence == Confidence.HIGH  # project labels on both sides
    assert "ci-builder" in found["deployer"].description
    # the development service account can become the production one: reported on both sides
    assert "can become Service account deployer" in found["ci-builder"].description


def test_impersonation_chain_makes_admin_equivalent(inventory: Inventory) -> None:
    """ci-builder can mint tokens for deployer, which holds Owner: ci-builder is admin-equivalent (GCP engine)."""
    ctx = context(inventory)
    found = by_identity(run(ctx, "admin-equivalent"), "admin-equivalent")
    assert set(found) == {"deployer", "ci-builder"}
    path = found["ci-builder"].evidence["path"]
    assert [hop["kind"] for hop in path] == ["impersonate"]
    assert "roles/iam.serviceAccountTokenCreator" in path[0]["how"]
    assert found["ci-builder"].severity == Severity.CRITICAL
    # trust findings on the admin service account are raised
    cross = by_identity(run(ctx, "gcp-cross-boundary-impersonation"), "gcp-cross-boundary-impersonation")
    assert cross["deployer"].severity == Severity.HIGH and "admin-equivalent" in cross["deployer"].description


def test_chain_with_a_given_access(inventory: Inventory) -> None:
    """The chain is provider-neutral: any EffectiveAccess with an admin verdict ends a path."""
    inventory.grants = []
    access = {DEPLOYER: admin("gcp", DEPLOYER, "roles/owner"), CI: FixedAccess(provider="gcp", identity_id=CI)}
    found = by_identity(run(context(inventory, access=access), "admin-equivalent"), "admin-equivalent")
    assert found["ci-builder"].evidence["admin_identity"] == DEPLOYER


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
