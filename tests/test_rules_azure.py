"""The Azure and generic rules: each planted problem fires, each near-miss stays quiet."""

from __future__ import annotations

from datetime import UTC, datetime

from nhiaudit.analyzer import analyze
from nhiaudit.model import Credential, CredentialKind, Identity, Inventory
from nhiaudit.settings import Settings
from tests.azure_builders import (
    OTHER_TENANT,
    SUB,
    app_with_sp,
    cert,
    foreign_sp,
    graph_grant,
    inventory,
    owner,
    rbac,
    secret,
)
from tests.conftest import SNAPSHOT

SUBSCRIPTION = f"/subscriptions/{SUB}"


def run(inv, **settings):
    return analyze(inv, Settings(**settings))


def hits(doc, rule):
    return {f.identity_name: f for f in doc.findings if f.rule_id == rule}


# --- orphaned-identity -----------------------------------------------------------------------


def test_orphaned_identity_only_where_owners_are_known():
    orphan_app, orphan_sp = app_with_sp("orphan", owners=[], secrets=[secret("s")])
    owned_app, owned_sp = app_with_sp("owned", owners=[owner()])
    unknown_app, unknown_sp = app_with_sp("unknown-owners")  # owners not in the input
    unknown_sp.pop("owners")
    mi = {
        "id": "3e4f5a6b-7c8d-4e9f-8a0b-1c2d3e4f5a6b",
        "appId": "4f5a6b7c-8d9e-4f0a-9b1c-2d3e4f5a6b7c",
        "displayName": "mi-worker",
        "servicePrincipalType": "ManagedIdentity",
        "alternativeNames": ["isExplicit=False", f"{SUBSCRIPTION}/resourcegroups/rg/providers/Microsoft.Web/sites/w"],
        "owners": [],
    }
    inv = inventory(apps=[orphan_app, owned_app, unknown_app], sps=[orphan_sp, owned_sp, unknown_sp, mi])
    aws_role = Identity(id="arn:aws:iam::1:role/r", provider="aws", scope="1", kind="aws.role", name="aws-role")
    inv.identities.append(aws_role)  # no owner concept: owners_known stays False
    found = hits(run(inv), "orphaned-identity")
    assert set(found) == {"orphan"}
    assert found["orphan"].severity.value == "medium" and found["orphan"].evidence["active_credentials"]


def test_orphaned_identity_severity_follows_what_it_holds():
    idle_app, idle_sp = app_with_sp("idle", owners=[])
    admin_app, admin_sp = app_with_sp("admin", owners=[])
    inv = inventory(
        apps=[idle_app, admin_app],
        sps=[idle_sp, admin_sp],
        role_assignments=[rbac(admin_sp["id"], "Owner", SUBSCRIPTION)],
    )
    found = hits(run(inv), "orphaned-identity")
    assert found["idle"].severity.value == "low"
    assert found["admin"].severity.value == "high"


# --- credential-long-lived -------------------------------------------------------------------


def test_long_lived_credentials_generic_over_expiry():
    app, sp = app_with_sp(
        "app",
        owners=[owner()],
        secrets=[
            secret("two-years", "2026-09-01T00:00:00Z", "2028-09-01T00:00:00Z"),
            secret("one-year", "2026-09-01T00:00:00Z", "2027-09-01T00:00:00Z"),  # exactly 365 days: near-miss
            secret("forever", "2026-09-01T00:00:00Z", "2299-12-31T00:00:00Z"),
        ],
        certs=[cert("three-years", "2026-09-01T00:00:00Z", "2029-09-01T00:00:00Z")],
    )
    inv = inventory(apps=[app], sps=[sp])
    gcp = Identity(id="sa@p.iam.gserviceaccount.com", provider="gcp", scope="p", kind="gcp.service_account", name="sa")
    aws = Identity(id="arn:aws:iam::1:user/u", provider="aws", scope="1", kind="aws.user", name="u")
    inv.identities += [gcp, aws]
    inv.credentials += [
        Credential(
            id="k1",
            identity_id=gcp.id,
            kind=CredentialKind.SERVICE_ACCOUNT_KEY,
            created=datetime(2026, 10, 1, tzinfo=UTC),
            expires=datetime(9999, 12, 31, tzinfo=UTC),
        ),  # GCP user-managed key without expiry: validBefore 9999-12-31
        Credential(
            id="AKIA1", identity_id=aws.id, kind=CredentialKind.ACCESS_KEY, created=datetime(2026, 10, 1, tzinfo=UTC)
        ),
    ]
    doc = run(inv)
    found = [
        (f.identity_name, f.credential_id, f.severity.value)
        for f in doc.findings
        if f.rule_id == "credential-long-lived"
    ]
    names = {c.id: c.name for c in inv.credentials}
    labelled = {(who, names.get(cid) or cid, sev) for who, cid, sev in found}
    assert labelled == {
        ("app", "two-years", "medium"),
        ("app", "CN=three-years", "medium"),
        ("app", "forever", "high"),
        ("sa", "k1", "high"),
    }  # AWS keys have no expiry to judge; the 365-day secret is within the limit
    stricter = run(inv, credential_max_lifetime_days=180)
    assert ("app", "one-year") in {
        (f.identity_name, names.get(f.credential_id)) for f in stricter.findings if f.rule_id == "credential-long-lived"
    }


def test_never_expiring_credential_needs_expires_known():
    identity = Identity(id="i", provider="azure", scope="t", kind="azure.service_principal", name="i")
    unknown = Credential(id="c1", identity_id="i", kind=CredentialKind.CLIENT_SECRET, created=SNAPSHOT)
    never = Credential(
        id="c2", identity_id="i", kind=CredentialKind.CLIENT_SECRET, created=SNAPSHOT, expires_known=True
    )
    doc = analyze(Inventory(identities=[identity], credentials=[unknown, never], snapshot_time=SNAPSHOT))
    found = [f for f in doc.findings if f.rule_id == "credential-long-lived"]
    assert [(f.credential_id, f.evidence["never_expires"]) for f in found] == [("c2", True)]
    assert "never expires" in found[0].description


# --- client-secret-authentication ------------------------------------------------------------


def test_client_secret_rule_and_its_near_misses():
    plain_app, plain_sp = app_with_sp("plain-secret", owners=[owner()], secrets=[secret("s1")])
    fed_app, fed_sp = app_with_sp(
        "federated-and-secret",
        owners=[owner()],
        secrets=[secret("leftover")],
        fics=[
            {
                "id": "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                "name": "gh",
                "issuer": "https://token.actions.githubusercontent.com",
                "subject": "repo:o/r:ref:refs/heads/main",
                "audiences": ["api://AzureADTokenExchange"],
            }
        ],
    )
    cert_app, cert_sp = app_with_sp("cert-only", owners=[owner()], certs=[cert("c")])
    expired_app, expired_sp = app_with_sp(
        "expired-secret", owners=[owner()], secrets=[secret("old", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z")]
    )
    doc = run(inventory(apps=[plain_app, fed_app, cert_app, expired_app], sps=[plain_sp, fed_sp, cert_sp, expired_sp]))
    found = hits(doc, "client-secret-authentication")
    assert set(found) == {"plain-secret", "federated-and-secret"}
    assert found["plain-secret"].severity.value == "medium"
    assert found["federated-and-secret"].severity.value == "high"
    assert "redundant back door" in found["federated-and-secret"].description
    assert found["federated-and-secret"].references.owasp_nhi == ["NHI4:2025"]


# --- third-party-privileged-app ---------------------------------------------------------------


def test_third_party_app_with_high_privileges():
    mailer = foreign_sp("mail-analytics")
    tier0 = foreign_sp("cloud-ops", publisher="Ops Partner")
    calendar = foreign_sp("calendar-sync")
    contributor = foreign_sp("deploy-saas")
    own_app, own_sp = app_with_sp("in-house", owners=[owner()])
    inv = inventory(
        apps=[own_app],
        sps=[mailer, tier0, calendar, contributor, own_sp],
        app_role_assignments=[
            graph_grant(mailer, "Mail.Read"),
            graph_grant(tier0, "Application.ReadWrite.All"),
            graph_grant(calendar, "User.Read.All"),  # not high privilege: near-miss
            graph_grant(own_sp, "Mail.Read"),  # own app: not third party
        ],
        oauth2_grants=[
            {
                "clientId": calendar["id"],
                "consentType": "AllPrincipals",
                "resourceId": "5e1d9a47-2c3b-4f6e-8a0d-7b9c1e3f5a24",
                "scope": "Calendars.Read User.Read",
            },  # delegated, not high privilege: near-miss
        ],
        role_assignments=[rbac(contributor["id"], "Contributor", SUBSCRIPTION)],
    )
    found = hits(run(inv), "third-party-privileged-app")
    assert set(found) == {"mail-analytics", "cloud-ops", "deploy-saas"}
    assert found["cloud-ops"].severity.value == "critical"
    assert found["mail-analytics"].severity.value == "high"
    assert found["mail-analytics"].evidence["owner_tenant"] == OTHER_TENANT
    assert "read every mailbox" in found["mail-analytics"].description
    assert "Contributor at subscription" in found["deploy-saas"].description


def test_delegated_admin_consent_of_a_tier0_scope_counts():
    vendor = foreign_sp("directory-tool")
    grant = {
        "clientId": vendor["id"],
        "consentType": "AllPrincipals",
        "resourceId": "5e1d9a47-2c3b-4f6e-8a0d-7b9c1e3f5a24",
        "scope": "Directory.AccessAsUser.All",
    }
    one_user = dict(grant, consentType="Principal", principalId="1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
    assert "directory-tool" in hits(run(inventory(sps=[vendor], oauth2_grants=[grant])), "third-party-privileged-app")
    assert not hits(run(inventory(sps=[vendor], oauth2_grants=[one_user])), "third-party-privileged-app")


# --- cross-cloud rules on Azure data ------------------------------------------------------------


def test_cross_cloud_rules_fire_on_azure_data():
    app, sp = app_with_sp(
        "worker",
        owners=[owner()],
        enabled=False,
        secrets=[secret("a", "2025-01-01T00:00:00Z", "2027-01-01T00:00:00Z"), secret("b")],
    )
    inv = inventory(
        apps=[app],
        sps=[sp],
        sp_sign_in=[
            {
                "appId": app["appId"],
                "lastSignInActivity": {"lastSignInDateTime": "2026-01-01T00:00:00Z"},
                "applicationAuthenticationClientSignInActivity": {"lastSignInDateTime": "2026-01-01T00:00:00Z"},
            }
        ],
        app_credential_sign_in=[
            {
                "keyId": app["passwordCredentials"][0]["keyId"],
                "credentialOrigin": "application",
                "signInActivity": {"lastSignInDateTime": "2026-01-01T00:00:00Z"},
            },
            {
                "keyId": app["passwordCredentials"][1]["keyId"],
                "credentialOrigin": "application",
                "signInActivity": None,
            },
        ],
    )
    doc = run(inv)
    rules = {f.rule_id for f in doc.findings}
    assert {
        "credential-not-rotated",
        "credential-unused",
        "credential-never-used",
        "multiple-active-credentials",
        "inactive-identity-active-credentials",
    } <= rules
    assert "identity-unused" not in rules  # disabled identities are judged by inactive-identity-active-credentials


def test_no_sign_in_evidence_means_no_unused_finding():
    app, sp = app_with_sp("quiet", owners=[owner()], secrets=[secret("s")], created="2023-01-01T00:00:00Z")
    doc = run(inventory(apps=[app], sps=[sp]))  # no sign-in reports at all
    assert not {"identity-unused", "credential-never-used", "credential-unused"} & {f.rule_id for f in doc.findings}
    empty_report = inventory(apps=[app], sps=[sp], sp_sign_in=[], app_credential_sign_in=[])
    doc = run(empty_report)  # an empty report (as the credential report sometimes is) is not evidence either
    assert not {"identity-unused", "credential-never-used"} & {f.rule_id for f in doc.findings}
    assert {"sp_signin_activity", "app_credential_signin_activity"} <= {g.source for g in empty_report.coverage}


def test_absent_from_a_non_empty_report_means_no_sign_in():
    quiet_app, quiet_sp = app_with_sp("quiet", owners=[owner()], secrets=[secret("s")], created="2023-01-01T00:00:00Z")
    busy_app, busy_sp = app_with_sp("busy", owners=[owner()])
    inv = inventory(
        apps=[quiet_app, busy_app],
        sps=[quiet_sp, busy_sp],
        sp_sign_in=[
            {
                "appId": busy_app["appId"],
                "lastSignInActivity": {"lastSignInDateTime": "2026-10-30T00:00:00Z"},
                "applicationAuthenticationClientSignInActivity": {"lastSignInDateTime": "2026-10-30T00:00:00Z"},
            }
        ],
    )
    doc = run(inv)
    assert set(hits(doc, "identity-unused")) == {"quiet"}
    never = hits(doc, "credential-never-used")
    assert set(never) == {"quiet"}  # inferred: the app never signed in as a client
    assert never["quiet"].evidence["usage_source"] == "azure.sp_signin_activity"


def test_no_secret_material_reaches_the_inventory_or_the_findings():
    app, sp = app_with_sp("holder", owners=[owner()], secrets=[secret("s")])
    inv = inventory(apps=[app], sps=[sp])
    doc = run(inv)
    for text in (inv.model_dump_json(), doc.model_dump_json()):
        assert "Qx7" not in text and "secretText" not in text
