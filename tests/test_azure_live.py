"""The live Azure path: the real msgraph-sdk and azure-mgmt-authorization clients against a local fake."""

from __future__ import annotations

import json
import re
import time

import pytest
from typer.testing import CliRunner

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.azure_export import AzureExportCollector
from nhiaudit.collectors.azure_live import CLOUDS, AzureLiveCollector
from nhiaudit.errors import CollectionError
from tests.azure_fake import FakeAzure, FakeCredential
from tests.conftest import FIXTURES, SNAPSHOT

TENANT = "e5b2a9c4-7d13-4f60-8a2e-3c9d1b7f0a64"
SUB = "c8e1f4a2-6b3d-4e97-a105-7f2d9c6b3e18"
SP_LIST = "/v1.0/servicePrincipals"

READ_ONLY = [
    re.compile(p)
    for p in (
        r"^/v1\.0/organization$",
        r"^/v1\.0/(applications|servicePrincipals)$",
        r"^/v1\.0/applications/[0-9a-f-]{36}/(federatedIdentityCredentials|owners)$",
        r"^/v1\.0/servicePrincipals/[0-9a-f-]{36}/(appRoleAssignedTo|owners)$",
        r"^/v1\.0/oauth2PermissionGrants$",
        r"^/v1\.0/roleManagement/directory/(roleAssignments|roleDefinitions)$",
        r"^/v1\.0/groups/[0-9a-f-]{36}(/transitiveMembers/graph\.servicePrincipal)?$",
        r"^/beta/reports/(servicePrincipalSignInActivities|appCredentialSignInActivities)$",
        r"^/subscriptions$",
        r"^/subscriptions/[0-9a-f-]{36}/providers/Microsoft\.Authorization/(roleAssignments|roleDefinitions)$",
        r"^/subscriptions/[0-9a-f-]{36}/providers/Microsoft\.Authorization/roleDefinitions/[0-9a-f-]{36}$",
    )
]
"""Every request a scan may send: GET only, on these paths (no POST at all)."""


@pytest.fixture
def fake(httpserver):
    return FakeAzure(httpserver)


def live(fake, **kwargs):
    kwargs.setdefault("credential", FakeCredential())
    return AzureLiveCollector(graph_url=fake.url, arm_url=fake.url, snapshot_time=SNAPSHOT, **kwargs).collect()


def keyed(doc):
    return {(f.rule_id, f.identity_id, f.credential_id, f.severity) for f in doc.findings}


def test_live_collection_equals_offline_import_and_is_read_only(fake):
    inventory = live(fake)
    offline = AzureExportCollector(FIXTURES / "azure" / "export", snapshot_time=SNAPSHOT).collect()
    assert keyed(analyze(inventory)) == keyed(analyze(offline))
    assert {i.id for i in inventory.identities} == {i.id for i in offline.identities}
    assert inventory.coverage == []
    assert {m for m, _ in fake.requests} == {"GET"}
    unexpected = [p for _, p in fake.requests if not any(r.match(p) for r in READ_ONLY)]
    assert not unexpected, unexpected
    assert all(fake.authorized)  # the token reached the fake (kiota allowed hosts, azure-core https check)
    source = inventory.sources[0]
    assert source.method == "live" and source.scope == TENANT
    assert source.api_calls["graph GET /servicePrincipals"] > 1  # followed @odata.nextLink
    assert source.api_calls["graph GET /beta/reports/servicePrincipalSignInActivities"] > 1


def test_paging_follows_next_links(fake):
    fake.page_size = 1
    inventory = live(fake)
    assert len(inventory.identities) == 9
    sp_pages = [p for m, p in fake.requests if p == SP_LIST]
    assert len(sp_pages) == 9  # one service principal per page


def test_throttling_is_retried_honouring_retry_after(fake):
    fake.fail(SP_LIST, 429, headers={"Retry-After": "1"})
    fake.fail(
        f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments", 429, headers={"Retry-After": "1"}
    )
    started = time.monotonic()
    inventory = live(fake)
    assert time.monotonic() - started >= 1.0
    assert inventory.coverage == []
    assert [p for _, p in fake.requests].count(SP_LIST) >= 2


def test_persistent_throttling_of_an_optional_part_is_a_coverage_gap(fake):
    fake.fail("/beta/reports/appCredentialSignInActivities", 429, times=10, headers={"Retry-After": "1"})
    inventory = live(fake)
    gap = next(g for g in inventory.coverage if g.source == "app_credential_signin_activity")
    assert gap.status == "throttled" and "credential-never-used" in gap.affects


def test_denied_and_unavailable_parts_are_coverage_gaps(fake):
    fake.fail("/beta/reports/servicePrincipalSignInActivities", 403)
    fake.fail("/beta/reports/appCredentialSignInActivities", 404)
    fake.fail(f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleAssignments", 403)
    fake.fail("/v1.0/roleManagement/directory/roleAssignments", 403)
    inventory = live(fake)
    gaps = {g.source: g for g in inventory.coverage}
    assert gaps["sp_signin_activity"].status == "denied"
    assert "AuditLog.Read.All" in gaps["sp_signin_activity"].detail
    assert gaps["app_credential_signin_activity"].status == "unavailable"
    assert gaps[f"role_assignments:subscription:{SUB}"].status == "denied"
    assert gaps["directory_role_assignments"].status == "denied"
    doc = analyze(inventory)
    assert not {f.rule_id for f in doc.findings} & {"identity-unused", "credential-never-used"}
    assert "etl-runner" not in {f.identity_name for f in doc.findings if f.rule_id == "admin-equivalent"}


def test_service_principals_denied_stops_with_a_clear_error(fake):
    fake.fail(SP_LIST, 403)
    with pytest.raises(
        CollectionError,
        match=r"GET /servicePrincipals failed \(403: Authorization_RequestDenied.*Application\.Read\.All",
    ):
        live(fake)


def test_named_subscription_and_tenant(fake):
    credential = FakeCredential()
    inventory = live(fake, tenant=TENANT.upper(), subscriptions=[SUB], credential=credential)
    assert ("GET", "/subscriptions") not in fake.requests  # named subscriptions are not listed
    assert ("GET", "/v1.0/organization") not in fake.requests
    assert {i.scope for i in inventory.identities} == {TENANT}
    # tokens are asked for the public cloud's scopes (the fake stands in for graph.microsoft.com / ARM)
    scopes = {s for call in credential.scopes for s in call}
    assert scopes == {"https://graph.microsoft.com/.default", "https://management.azure.com/.default"}


def test_national_cloud_endpoints():
    gov = AzureLiveCollector(cloud=CLOUDS["usgov"], credential=FakeCredential())
    assert gov.graph_url == "https://graph.microsoft.us" and gov.arm_url == "https://management.usgovcloudapi.net"
    china = AzureLiveCollector(cloud=CLOUDS["china"], credential=FakeCredential())
    assert china.graph_url == "https://microsoftgraph.chinacloudapi.cn"
    with pytest.raises(CollectionError, match="must use https"):
        AzureLiveCollector(graph_url="http://graph.example.com", credential=FakeCredential())
    with pytest.raises(CollectionError, match="must be a subscription id"):
        AzureLiveCollector(subscriptions=["prod"], credential=FakeCredential())


def test_no_rbac_skips_arm(fake):
    inventory = live(fake, skip_arm=True)
    assert not [p for _, p in fake.requests if p.startswith("/subscriptions")]
    assert any(g.source == "role_assignments" and g.status == "not_supplied" for g in inventory.coverage)


def test_cli_scan_azure_live_path(fake, monkeypatch):
    """`nhiaudit scan azure` end to end, with DefaultAzureCredential (the SDK's, not ours) replaced."""
    import azure.identity

    from nhiaudit.cli import app

    credential = FakeCredential()
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda **kwargs: credential)
    result = CliRunner().invoke(
        app,
        [
            "scan",
            "azure",
            "--graph-url",
            fake.url,
            "--arm-url",
            fake.url,
            "--tenant",
            TENANT,
            "--as-of",
            "2026-11-01",
            "-f",
            "json",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["summary"]["by_rule"]["admin-equivalent"] == 3
    assert doc["scan"]["sources"][0]["method"] == "live"
    assert "nhiaudit: Entra" not in result.stderr  # --quiet
    assert set(credential.tenants) == {TENANT}  # --tenant: every token is asked for that tenant


def test_cli_progress_goes_to_stderr(fake, monkeypatch, tmp_path):
    import azure.identity

    from nhiaudit.cli import app

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda **kwargs: FakeCredential())
    out = tmp_path / "inventory.json"
    result = CliRunner().invoke(
        app, ["collect", "azure", "--graph-url", fake.url, "--arm-url", fake.url, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "nhiaudit: Entra: 6 applications, 9 service principals" in result.stderr
    assert "nhiaudit: Azure role assignments: 4 in 1 subscription" in result.stderr
    assert "nhiaudit: Sign-in activity: 7 service principals, 2 credentials" in result.stderr
    assert json.loads(out.read_text())["kind"] == "nhiaudit.inventory"


def test_cli_live_errors_exit_2(fake, monkeypatch):
    import azure.identity

    from nhiaudit.cli import app

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda **kwargs: FakeCredential())
    fake.fail(SP_LIST, 403)
    result = CliRunner().invoke(app, ["collect", "azure", "--graph-url", fake.url, "--arm-url", fake.url, "-q"])
    assert result.exit_code != 0
    assert isinstance(result.exception, CollectionError)
    bad = CliRunner().invoke(app, ["scan", "azure", "--tenant", "contoso", "-q"])
    assert isinstance(bad.exception, CollectionError) and "must be a tenant id" in str(bad.exception)


def test_unreachable_endpoint_is_a_clear_error():
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    collector = AzureLiveCollector(
        graph_url=url, arm_url=url, credential=FakeCredential(), tenant=TENANT, skip_arm=True
    )
    with pytest.raises(CollectionError, match=r"cannot reach Azure .*ConnectError"):
        collector.collect()


def test_unreachable_arm_is_a_coverage_gap_not_the_end(fake):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inventory = AzureLiveCollector(
        graph_url=fake.url, arm_url=f"http://127.0.0.1:{port}", credential=FakeCredential(), snapshot_time=SNAPSHOT
    ).collect()
    gap = next(g for g in inventory.coverage if g.source == "subscriptions")
    assert gap.status == "error" and "ServiceRequestError" in gap.detail
    assert len(inventory.identities) == 9  # Entra ID was still collected
