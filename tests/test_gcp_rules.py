"""Rules on GCP data: the cross-cloud rules fire without GCP special cases, the GCP rules fire on
planted issues and stay quiet on the near-misses next to them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.gcp_export import GcpExportCollector
from nhiaudit.model import (
    Credential,
    CredentialKind,
    FindingsDocument,
    Grant,
    Identity,
    Inventory,
    Policy,
    Trust,
    Usage,
)
from nhiaudit.settings import Settings
from tests.conftest import FIXTURES

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
EXPORT = FIXTURES / "gcp" / "export-acme"


@pytest.fixture(scope="module")
def findings() -> FindingsDocument:
    inventory = GcpExportCollector([EXPORT], snapshot_time=AS_OF).collect()
    return analyze(inventory, Settings(), as_of=AS_OF)


def hits(doc: FindingsDocument, rule: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in doc.findings:
        if f.rule_id == rule:
            out.setdefault(f.identity_name, []).append(f)
    return out


# --- the planted issues of the held fixture (export-acme) ---------------------------------------------------

EXPECTED = {
    # ci-bot (keyMinter on pay-prod) and staging-app (Token Creator on payments-batch) can become payments-batch
    "admin-equivalent": {"410000000001-compute", "payments-batch", "fraud-model", "staging-app", "ci-bot"},
    "privilege-escalation": {"ci-bot", "staging-app"},
    "credential-not-rotated": {"api-server", "key-leaker"},
    "credential-long-lived": {"api-server", "key-leaker"},  # user-managed keys valid until 9999-12-31
    "credential-never-used": {"key-leaker"},
    "credential-unused": {"key-leaker"},
    "multiple-active-credentials": {"key-leaker"},
    "identity-unused": {"payments-batch"},
    "gcp-user-managed-key": {"api-server", "key-leaker", "staging-app"},
    "gcp-default-sa-editor": {"410000000001-compute"},
    "gcp-project-level-impersonation": {"eve@acme-corp.com", "mallory@freelance.example"},
    "gcp-role-recommendation": {"staging-app"},
    # the cross-cloud rule, fed by the policy insights' service-level usage
    "excess-privilege": {"staging-app"},
    # trust (docs/trust.md): the staging project's accounts reach production; the GitHub provider has no condition
    "environment-crossing": {"ci-bot", "staging-app", "payments-batch"},
    "gcp-cross-boundary-impersonation": {"ci-bot", "payments-batch"},
    "gcp-wif-provider-unconstrained": {"gh/github"},
}


def test_exactly_the_planted_findings(findings):
    got: dict[str, set[str]] = {}
    for f in findings.findings:
        got.setdefault(f.rule_id, set()).add(f.identity_name)
    assert got == EXPECTED


def test_admin_levels_and_severities(findings):
    admin = {name: fs[0] for name, fs in hits(findings, "admin-equivalent").items()}
    assert admin["payments-batch"].severity == "critical" and admin["payments-batch"].evidence["level"] == "full"
    assert "folders/700000000002" in admin["payments-batch"].description  # inherited from a folder
    assert admin["410000000001-compute"].evidence["level"] == "equivalent"
    fraud = admin["fraud-model"]
    assert fraud.evidence["level"] == "equivalent" and fraud.evidence["conditional"] is True
    assert fraud.severity == "high" and fraud.confidence == "medium" and "temporary-until-2026-12" in fraud.description
    storage = admin["staging-app"]  # storage.admin itself, and Token Creator on payments-batch (Owner)
    assert storage.evidence["own_admin"]["level"] == "service" and storage.evidence["via"] == "path"
    assert storage.severity == "critical" and "service-level administrator" in storage.description


def test_privilege_escalation_names_gcp_paths(findings):
    ci = hits(findings, "privilege-escalation")["ci-bot"][0]
    ids = {p["id"] for p in ci.evidence["paths"]}
    assert ids == {"CreateServiceAccountKey", "RCECloudBuildBuildServer"}
    assert ci.severity == "high"
    assert "projects/pay-prod/roles/keyMinter on projects/pay-prod" in str(ci.evidence)
    staging = hits(findings, "privilege-escalation")["staging-app"][0]
    assert staging.severity == "medium"  # token creator on one service account only: narrowed
    assert all(p["narrowed"] for p in staging.evidence["paths"])
    assert "payments-batch@pay-prod" in staging.evidence["paths"][0]["narrowing"]


def test_key_findings_name_the_key(findings):
    never = hits(findings, "credential-never-used")["key-leaker"]
    assert len(never) == 1 and never[0].credential_id and never[0].evidence["usage_source"] == "gcp.activity_analyzer"
    rotated = {f.identity_name: f for f in findings.findings if f.rule_id == "credential-not-rotated"}
    assert rotated["api-server"].evidence["age_days"] == 199
    keys = hits(findings, "gcp-user-managed-key")
    assert len(keys["key-leaker"]) == 2  # the expired third key is not counted
    assert keys["staging-app"][0].severity == "low"  # 90-day validity
    assert keys["api-server"][0].evidence["never_expires"] is True


def test_identity_unused_uses_activity_analyzer_with_its_window(findings):
    f = hits(findings, "identity-unused")["payments-batch"][0]
    assert f.severity == "high"  # also admin-equivalent
    assert f.evidence["sources"] == ["gcp.activity_analyzer"] and f.evidence["idle_days"] == 204
    assert f.evidence["windows"][0]["start"] == "2025-03-01T07:00:00Z"


def test_project_level_impersonation_finding_per_member(findings):
    imp = {name: fs[0] for name, fs in hits(findings, "gcp-project-level-impersonation").items()}
    eve = imp["eve@acme-corp.com"]
    assert eve.identity_kind == "gcp.member" and eve.scope == "pay-prod" and eve.severity == "high"
    assert eve.evidence["mints_tokens"] is True and len(eve.evidence["service_accounts"]) == 7
    assert "payments-batch@pay-prod.iam.gserviceaccount.com" in eve.evidence["admin_equivalent_service_accounts"]
    mallory = imp["mallory@freelance.example"]
    assert mallory.scope == "folders/700000000001" and mallory.evidence["internal"] is False
    assert len(mallory.evidence["service_accounts"]) == 10  # both projects below the folder
    assert "outside the organization" in mallory.description
    assert "CIS GCP v4.0.0 1.6" in eve.references.cis


def test_role_recommendation_evidence(findings):
    f = hits(findings, "gcp-role-recommendation")["staging-app"][0]
    assert f.severity == "high" and f.evidence["subtype"] == "REMOVE_ROLE"
    assert f.evidence["exercised_permissions"] == 0 and f.evidence["granted_permissions"] == 104
    assert "removing roles/storage.admin" in f.description


def test_near_misses_stay_quiet(findings):
    names = {f.identity_name for f in findings.findings}
    assert "clean-reader" not in names  # org-wide read-only reviewer, used yesterday, no keys
    assert "retired-sync" not in names  # disabled, only Google-managed keys
    assert "410000000002-compute" not in names  # default SA without a basic role
    assert "service-410000000001" not in names  # provider-owned service agent
    assert not hits(findings, "human-usable-nhi")  # service accounts cannot sign in interactively


def test_fingerprints_are_stable_across_scans(findings):
    again = analyze(GcpExportCollector([EXPORT], snapshot_time=AS_OF).collect(), Settings(), as_of=AS_OF)
    assert sorted(f.fingerprint for f in again.findings) == sorted(f.fingerprint for f in findings.findings)


# --- focused near-misses -----------------------------------------------------------------------------


def sa(email: str, **kw) -> Identity:
    return Identity(id=email, provider="gcp", scope="p", kind="gcp.service_account", name=email.split("@")[0], **kw)


def run(inv: Inventory, rule: str) -> list:
    return analyze(inv, Settings(), as_of=AS_OF, only_rules=[rule]).findings


def test_default_sa_editor_variants():
    compute = "1-compute@developer.gserviceaccount.com"
    appengine = "p@appspot.gserviceaccount.com"
    plain = "app@p.iam.gserviceaccount.com"
    inv = Inventory(
        identities=[
            sa(compute, attributes={"default": "compute"}),
            sa(appengine, attributes={"default": "appengine"}, disabled=True),
            sa(plain),
        ],
        grants=[
            Grant(identity_id=compute, policy_id="roles/editor", policy_name="e", kind="role_binding",
                  scope="projects/p", condition={"title": "t", "expression": "true"}),
            Grant(identity_id=appengine, policy_id="roles/owner", policy_name="o", kind="role_binding",
                  scope="projects/p"),
            Grant(identity_id=plain, policy_id="roles/editor", policy_name="e", kind="role_binding",
                  scope="projects/p"),
        ],
    )  # fmt: skip
    found = {f.identity_id: f for f in run(inv, "gcp-default-sa-editor")}
    assert set(found) == {compute, appengine}
    assert found[compute].severity == "medium" and found[compute].confidence == "medium"
    assert found[appengine].severity == "low" and "disabled" in found[appengine].description


def test_user_managed_key_ignores_google_managed_and_disabled_keys():
    email = "app@p.iam.gserviceaccount.com"

    def key(kid: str, **kw) -> Credential:
        return Credential(id=kid, identity_id=email, kind=CredentialKind.SERVICE_ACCOUNT_KEY, **kw)

    inv = Inventory(
        identities=[sa(email)],
        credentials=[
            key("sys", managed_by="provider", created=AS_OF),
            key("off", status="inactive", created=AS_OF),
            key("gone", status="expired", created=AS_OF),
            key("live", created=AS_OF, attributes={"key_origin": "USER_PROVIDED", "never_expires": True}),
        ],
    )
    found = run(inv, "gcp-user-managed-key")
    assert [f.credential_id for f in found] == ["live"]
    assert "uploaded" in found[0].description


def test_project_level_impersonation_ignores_machines_and_single_account_grants():
    email = "app@p.iam.gserviceaccount.com"
    trusts = [
        Trust(identity_id=email, principal_kind="gcp_member", principal="serviceAccount:ci@p.iam.gserviceaccount.com",
              actions=["roles/iam.serviceAccountTokenCreator"], source="projects/p", internal=True),
        Trust(identity_id=email, principal_kind="gcp_member", principal="user:alice@example.com",
              actions=["roles/iam.serviceAccountTokenCreator"], source=f"serviceAccount:{email}", internal=True),
        Trust(identity_id=email, principal_kind="gcp_member", principal="user:ops@example.com",
              actions=["roles/owner"], source="projects/p", internal=True),
        Trust(identity_id=email, principal_kind="gcp_member", principal="domain:example.com",
              actions=["projects/p/roles/impersonator"], source="organizations/1", internal=True),
    ]  # fmt: skip
    policies = {
        "projects/p/roles/impersonator": Policy(
            id="projects/p/roles/impersonator", provider="gcp", kind="gcp.custom_role", name="Impersonator",
            permissions=["iam.serviceAccounts.getAccessToken"],
        )
    }  # fmt: skip
    found = run(Inventory(identities=[sa(email)], trusts=trusts, policies=policies), "gcp-project-level-impersonation")
    assert [(f.identity_id, f.severity) for f in found] == [("domain:example.com", "high")]
    assert found[0].scope == "organizations/1"


def test_role_recommendation_skips_closed_and_stale_recommendations():
    email = "app@p.iam.gserviceaccount.com"

    def rec(role: str, state: str) -> dict:
        return {"name": f"rec-{role}", "subtype": "REMOVE_ROLE", "role": role, "resource": "projects/p", "state": state,
                "added_roles": [], "insights": [], "priority": "P4"}  # fmt: skip

    identity = sa(email, attributes={"recommendations": [
        rec("roles/pubsub.viewer", "ACTIVE"), rec("roles/logging.viewer", "DISMISSED"),
        rec("roles/storage.objectViewer", "ACTIVE"), rec("roles/bigquery.user", "CLAIMED"),
    ]})  # fmt: skip
    grants = [
        Grant(identity_id=email, policy_id=r, policy_name=r, kind="role_binding", scope="projects/p")
        for r in ("roles/pubsub.viewer", "roles/logging.viewer", "roles/bigquery.user")
    ]  # roles/storage.objectViewer was already removed: stale
    found = run(Inventory(identities=[identity], grants=grants), "gcp-role-recommendation")
    assert sorted(f.evidence["role"] for f in found) == ["roles/bigquery.user", "roles/pubsub.viewer"]
    assert all(f.severity == "medium" for f in found)


def test_identity_unused_with_unknown_creation_date_is_medium_confidence():
    email = "app@p.iam.gserviceaccount.com"
    usage = Usage(identity_id=email, last_used=None, source="gcp.activity_analyzer",
                  window_start=datetime(2025, 3, 1, tzinfo=UTC), window_end=AS_OF)  # fmt: skip
    found = run(Inventory(identities=[sa(email)], usage=[usage]), "identity-unused")
    assert len(found) == 1 and found[0].confidence == "medium" and "creation date is unknown" in found[0].description


def test_inactive_identity_rule_ignores_provider_managed_keys():
    email = "off@p.iam.gserviceaccount.com"
    creds = [Credential(id="sys", identity_id=email, kind=CredentialKind.SERVICE_ACCOUNT_KEY, managed_by="provider")]
    inv = Inventory(identities=[sa(email, disabled=True)], credentials=creds)
    assert run(inv, "inactive-identity-active-credentials") == []
    creds.append(Credential(id="user", identity_id=email, kind=CredentialKind.SERVICE_ACCOUNT_KEY))
    found = run(
        Inventory(identities=[sa(email, disabled=True)], credentials=creds), "inactive-identity-active-credentials"
    )
    assert [f.evidence["credentials"][0]["id"] for f in found] == ["user"]
