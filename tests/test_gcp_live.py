"""The live GCP collector: real google clients against local fakes on 127.0.0.1 (tests/gcp_fakes.py)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.gcp_export import GcpExportCollector
from nhiaudit.collectors.gcp_live import GcpEndpoints, GcpLiveCollector, RetrySettings
from nhiaudit.errors import CollectionError, NhiauditError
from nhiaudit.model import Inventory, dump_json
from nhiaudit.settings import Settings
from tests.conftest import FIXTURES, run_cli
from tests.gcp_fakes import IMPERSONATED_TOKEN, FakeGcp, write_adc

ORG = "800000000001"
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
FAST = RetrySettings(initial=0.01, maximum=0.02, deadline=1.0, timeout=10)
API_SERVER = "projects/pay-prod/serviceAccounts/api-server@pay-prod.iam.gserviceaccount.com"
RECOMMENDATIONS = "/v1/projects/pay-prod/locations/global/recommenders/google.iam.policy.Recommender/recommendations"

READ_ONLY_RPC = re.compile(r"^(List|Get|Search|Query)[A-Z]\w*$")
READ_ONLY_POST = re.compile(r":(getIamPolicy|search\w*|query\w*)$")
AUTHENTICATION = re.compile(r"^/v1/projects/-/serviceAccounts/[^/]+:generateAccessToken$")
"""The scanner's own sign-in when impersonating: it mints a token for itself, it changes nothing."""


@pytest.fixture(scope="module")
def servers():
    server = FakeGcp(FIXTURES / "gcp" / "live")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake(servers: FakeGcp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGcp:
    servers.reset()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_adc(tmp_path / "adc.json")))
    monkeypatch.delenv("NHIAUDIT_GCP_ENDPOINTS", raising=False)
    return servers


def collector(fake: FakeGcp, **kw) -> GcpLiveCollector:
    kw.setdefault("organizations", [ORG])
    kw.setdefault("retry", FAST)
    return GcpLiveCollector(endpoints=GcpEndpoints.from_options(fake.endpoint_options()), **kw)


def gaps(inventory: Inventory) -> dict[tuple[str, str], object]:
    return {(g.scope, g.source): g for g in inventory.coverage}


# --- a full organization scan -------------------------------------------------------------------------


def test_organization_scan_collects_every_project_below_it(fake):
    inv = collector(fake).collect()
    assert sorted(s.scope for s in inv.sources) == ["pay-prod", "pay-staging", "resource-hierarchy"]
    assert "project sandbox-1 is DELETE_REQUESTED: skipped" in inv.warnings
    listed = [i for i in inv.identities if i.attributes.get("listed")]
    assert len(listed) == 10
    assert len(inv.credentials) == 10
    assert set(fake.policy_versions) == {3}  # conditional bindings are requested
    assert fake.unauthorized == []  # every REST call carried the ADC token
    assert [g.source for g in inv.coverage] == ["group_membership"]
    prod = next(s for s in inv.sources if s.scope == "pay-prod")
    assert prod.method == "live" and prod.api_calls["iam.ListServiceAccounts"] == 4  # 7 accounts, pages of 2
    assert prod.api_calls["policyanalyzer.QueryActivity"] == 6  # 7 + 4 activities, pages of 2
    hierarchy = next(s for s in inv.sources if s.scope == "resource-hierarchy")
    assert hierarchy.api_calls["resourcemanager.GetFolder"] == 2 and hierarchy.api_calls["iam.GetRole"] == 1
    assert "folders/700000000002" in hierarchy.inputs


def no_staging_activity(fake: FakeGcp) -> None:
    """The offline fixture has no activity export for pay-staging: give the live scan the same evidence."""
    for kind in ("serviceAccountLastAuthentication", "serviceAccountKeyLastAuthentication"):
        path = f"/v1/projects/pay-staging/locations/global/activityTypes/{kind}/activities:query"
        fake.fail("GET", path, (403, "SERVICE_DISABLED"))


def test_live_and_offline_give_the_same_records(fake):
    no_staging_activity(fake)
    live = collector(fake).collect()
    offline = GcpExportCollector([FIXTURES / "gcp" / "export-acme"]).collect()

    def records(inv: Inventory, name: str) -> list[str]:
        items = getattr(inv, name)
        return sorted(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in items)

    for name in ("identities", "credentials", "grants", "trusts", "usage"):
        assert records(live, name) == records(offline, name), name
    live_roles = {k: v for k, v in live.policies.items() if v.kind == "gcp.custom_role"}
    assert live_roles.keys() == offline.policies.keys()
    assert live.policies["roles/aiplatform.futureViewer"].kind == "gcp.predefined_role"


def test_live_findings_match_the_offline_findings(fake):
    no_staging_activity(fake)
    live = analyze(collector(fake).collect(), Settings(), as_of=AS_OF)
    offline = analyze(GcpExportCollector([FIXTURES / "gcp" / "export-acme"]).collect(), Settings(), as_of=AS_OF)
    assert sorted(f.fingerprint for f in live.findings) == sorted(f.fingerprint for f in offline.findings)
    warnings = [w for w in live.scan.warnings if "futureViewer" in w]
    assert warnings and all("is unknown" not in w for w in warnings)  # fetched with GetRole ...
    assert any("evaluated by name only" in w for w in warnings)  # ... its new permissions are kept by name
    assert any("futureViewer is unknown" in w for w in offline.scan.warnings)  # offline there is no GetRole


def test_every_call_is_read_only(fake):
    inv = collector(fake, impersonate_service_account="scanner@ops.iam.gserviceaccount.com")
    fake.expected_token = IMPERSONATED_TOKEN
    inventory = inv.collect()
    assert fake.calls, "the fake saw no calls"
    for kind, what in fake.calls:
        if kind == "grpc":
            assert READ_ONLY_RPC.match(what.split()[0]), what
        elif kind == "GET":
            continue
        else:
            assert kind == "POST" and (READ_ONLY_POST.search(what) or AUTHENTICATION.match(what)), (kind, what)
    for source in inventory.sources:
        for op in source.api_calls:
            assert READ_ONLY_RPC.match(op.split(".", 1)[1]), op
    assert (
        "POST",
        "/v1/projects/-/serviceAccounts/scanner@ops.iam.gserviceaccount.com:generateAccessToken",
    ) in fake.calls


def test_scope_by_folder_and_by_project(fake):
    inv = collector(fake, organizations=[], folders=["700000000002"]).collect()
    assert [s.scope for s in inv.sources if s.scope != "resource-hierarchy"] == ["pay-prod"]
    inv = collector(fake, organizations=[], projects=["pay-staging"]).collect()
    assert [s.scope for s in inv.sources if s.scope != "resource-hierarchy"] == ["pay-staging"]
    mallory = [t for t in inv.trusts if t.principal == "user:mallory@freelance.example"]
    assert mallory and all(t.source == "folders/700000000001" for t in mallory)  # ancestry fetched for --project


# --- failures become coverage gaps ----------------------------------------------------------------------


def test_throttling_is_retried_with_backoff(fake):
    fake.fail("ListServiceAccountKeys", API_SERVER, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
    fake.fail("GET", RECOMMENDATIONS, (429, "RATE_LIMIT_EXCEEDED"), (503, None))
    inv = collector(fake).collect()
    assert [g.source for g in inv.coverage] == ["group_membership"]
    assert sum(1 for c in fake.calls if c == ("grpc", f"ListServiceAccountKeys {API_SERVER}")) == 3
    assert sum(1 for c in fake.calls if c == ("GET", RECOMMENDATIONS)) == 3
    assert any(c.identity_id.startswith("api-server@") and c.managed_by == "user" for c in inv.credentials)


def test_throttling_that_never_ends_is_a_throttled_gap(fake):
    fake.fail("GET", RECOMMENDATIONS, *[(429, "RATE_LIMIT_EXCEEDED")] * 500)
    inv = collector(fake, retry=RetrySettings(initial=0.01, maximum=0.02, deadline=0.3, timeout=5)).collect()
    gap = gaps(inv)[("pay-prod", "iam_recommender")]
    assert gap.status == "throttled" and "gcp-role-recommendation" in gap.affects
    assert "pay-staging" in {s.scope for s in inv.sources}


def test_disabled_api_and_denied_calls_are_gaps_not_crashes(fake):
    activity = (
        "/v1/projects/pay-staging/locations/global/activityTypes/serviceAccountLastAuthentication/activities:query"
    )
    fake.fail("GET", activity, (403, "SERVICE_DISABLED"))
    fake.fail("GetIamPolicy", "projects/pay-staging/serviceAccounts/ci-bot@pay-staging.iam.gserviceaccount.com",
              grpc.StatusCode.PERMISSION_DENIED)  # fmt: skip
    fake.fail("POST", "/v3/folders/700000000001:getIamPolicy", (403, None))
    inv = collector(fake).collect()
    found = gaps(inv)
    disabled = found[("pay-staging", "activity_analyzer:serviceAccountLastAuthentication")]
    assert disabled.status == "unavailable" and "not enabled" in disabled.detail
    denied = found[("pay-staging", "service_account_iam_policies")]
    assert denied.status == "denied" and denied.detail.startswith("1 of 3 service accounts (ci-bot@")
    folder = found[("folders/700000000001", "iam_policy")]
    assert folder.status == "denied"
    assert not any(t.principal == "user:mallory@freelance.example" for t in inv.trusts)
    assert len([i for i in inv.identities if i.attributes.get("listed")]) == 10  # the rest is intact


def test_denied_project_metadata_keeps_the_project_but_not_its_ancestry(fake):
    fake.fail("GET", "/v3/projects/pay-prod", (403, None))
    inv = collector(fake, organizations=[], projects=["pay-prod"]).collect()
    assert gaps(inv)[("pay-prod", "project")].status == "denied"
    assert len([i for i in inv.identities if i.attributes.get("listed")]) == 7
    assert not any(t.source.startswith("folders/") for t in inv.trusts)  # unknown ancestry: not attributed


def test_no_usage_skips_the_usage_apis(fake):
    inv = collector(fake, collect_usage=False).collect()
    assert not any("recommender" in what or "activities" in what for _, what in fake.calls)
    assert gaps(inv)[("pay-prod", "usage")].status == "not_supplied"
    assert not any(c.usage_known for c in inv.credentials)


def test_nothing_collected_is_an_error(fake):
    fake.fail("ListServiceAccounts", "projects/pay-prod", grpc.StatusCode.PERMISSION_DENIED)
    fake.fail("POST", "/v3/projects/pay-prod:getIamPolicy", (403, None))
    with pytest.raises(CollectionError, match=r"nothing could be collected from GCP: .*permission denied"):
        collector(fake, organizations=[], projects=["pay-prod"]).collect()


def test_rejected_credentials_stop_the_scan(fake):
    fake.fail("ListServiceAccounts", "projects/pay-prod", grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(CollectionError, match="credentials were rejected"):
        collector(fake, organizations=[], projects=["pay-prod"]).collect()


def test_empty_or_unlistable_scope_is_an_error(fake):
    with pytest.raises(CollectionError, match="no active projects found under organizations/999"):
        collector(fake, organizations=["999"]).collect()
    fake.fail("GET", "/v3/projects", (403, None))
    with pytest.raises(CollectionError, match="permission denied"):
        collector(fake, organizations=[], folders=["700000000001"]).collect()


def test_missing_credentials_are_explained(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nope.json"))
    with pytest.raises(CollectionError, match="no Google credentials found: run 'gcloud auth application-default"):
        collector(fake, impersonate_service_account="scanner@ops.iam.gserviceaccount.com").collect()


def test_local_emulators_work_without_credentials(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "nope.json"))
    fake.expected_token = None  # the fake now insists on no Authorization header at all
    inv = collector(fake).collect()
    assert any("anonymously" in w for w in inv.warnings)
    assert len([i for i in inv.identities if i.attributes.get("listed")]) == 10 and fake.unauthorized == []
    with pytest.raises(CollectionError, match="no Google credentials found"):
        GcpLiveCollector(
            projects=["pay-prod"], endpoints=GcpEndpoints.from_options([f"iam=http://127.0.0.1:{fake.grpc_port}"])
        ).collect()


def test_key_material_is_never_stored(fake):
    email = "api-server@pay-prod.iam.gserviceaccount.com"
    fake.keys[email][0]["privateKeyData"] = "UFJJVkFURS1LRVktTUFURVJJQUw="
    fake.keys[email][0]["publicKeyData"] = "UFVCTElD"
    text = dump_json(collector(fake).collect())
    assert "UFJJVkFURS1LRVktTUFURVJJQUw=" not in text and "UFVCTElD" not in text


# --- endpoints and options ----------------------------------------------------------------------------


def test_endpoint_options(monkeypatch):
    monkeypatch.setenv("NHIAUDIT_GCP_ENDPOINTS", "recommender=https://recommender.example:8443,iam=iam.p.example")
    endpoints = GcpEndpoints.from_options(["recommender=http://127.0.0.1:1"])
    assert endpoints.rest_base("recommender") == "http://127.0.0.1:1"  # the option wins
    assert endpoints.rest_base("iam-rest") == "https://iam.p.example"  # follows iam
    assert endpoints.rest_base("policyanalyzer") == "https://policyanalyzer.googleapis.com"
    assert endpoints.client_options("iam") == {"api_endpoint": "iam.p.example"}
    assert endpoints.plaintext("recommender") and not endpoints.plaintext("iam")
    monkeypatch.delenv("NHIAUDIT_GCP_ENDPOINTS")
    sovereign = GcpEndpoints.from_options([], "s3nsapis.fr")
    assert sovereign.client_options("recommender") == {"universe_domain": "s3nsapis.fr"}
    assert sovereign.rest_base("resourcemanager") == "https://cloudresourcemanager.s3nsapis.fr"
    for bad in ("recommender", "nosuch=http://x", "iam=ftp://x", "iam="):
        with pytest.raises(NhiauditError):
            GcpEndpoints.from_options([bad])


def test_collector_option_validation():
    with pytest.raises(NhiauditError, match="name what to scan"):
        GcpLiveCollector()
    with pytest.raises(NhiauditError, match="numeric organization id"):
        GcpLiveCollector(organizations=["acme"])
    assert GcpLiveCollector(folders=["folders/12"]).folders == ["folders/12"]


# --- the command line ---------------------------------------------------------------------------------


def test_cli_scan_through_the_live_code_path(fake, tmp_path):
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "adc.json")}
    args = [arg for spec in fake.endpoint_options() for arg in ("--endpoint", spec)]
    result = run_cli("scan", "gcp", "--organization", ORG, *args, "--as-of", "2026-11-01", "-f", "json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["summary"]["by_rule"]["gcp-project-level-impersonation"] == 2
    assert {s["scope"] for s in doc["scan"]["sources"]} == {"pay-prod", "pay-staging", "resource-hierarchy"}
    assert "gcp: 2 projects, 10 service accounts, 10 keys" in result.stderr
    collected = run_cli(
        "collect", "gcp", "--project", "pay-prod", "-q", "-o", str(tmp_path / "inv.json"),
        env={**env, "NHIAUDIT_GCP_ENDPOINTS": ",".join(fake.endpoint_options())},
    )  # fmt: skip
    assert collected.returncode == 0, collected.stderr
    assert "gcp:" not in collected.stderr  # --quiet
    assert json.loads((tmp_path / "inv.json").read_text())["sources"][0]["scope"] == "pay-prod"
