"""Offline GCP import: the gcloud export layout, the normalized records, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nhiaudit.collectors.gcp_export import GcpExportCollector
from nhiaudit.errors import InputError
from nhiaudit.model import CredentialKind, Inventory, dump_json
from tests.conftest import FIXTURES, ROOT, run_cli

EXPORT = FIXTURES / "gcp" / "export-acme"
PROD = EXPORT / "projects" / "pay-prod"
SNAPSHOT = datetime(2026, 11, 1, tzinfo=UTC)


def collect(*dirs: Path) -> Inventory:
    return GcpExportCollector(list(dirs), snapshot_time=SNAPSHOT).collect()


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return collect(EXPORT)


@pytest.fixture
def export_copy(tmp_path: Path) -> Path:
    target = tmp_path / "export"
    shutil.copytree(EXPORT, target)
    return target


def by_id(inventory: Inventory) -> dict:
    return {i.id: i for i in inventory.identities}


def test_service_accounts_become_identities(inventory):
    ids = by_id(inventory)
    api = ids["api-server@pay-prod.iam.gserviceaccount.com"]
    assert api.provider == "gcp" and api.kind == "gcp.service_account" and api.scope == "pay-prod"
    assert api.name == "api-server" and api.is_nhi and api.human_signin is False and not api.provider_owned
    assert api.attributes["listed"] is True and api.attributes["project_number"] == "410000000001"
    assert api.attributes["project_labels"] == {"env": "production"}
    assert ids["retired-sync@pay-prod.iam.gserviceaccount.com"].disabled is True
    compute = ids["410000000001-compute@developer.gserviceaccount.com"]
    assert compute.attributes["default"] == "compute" and compute.classification.startswith("Compute Engine default")
    agent = ids["service-410000000001@gcp-sa-logging.iam.gserviceaccount.com"]
    assert agent.provider_owned and agent.attributes["listed"] is False and agent.scope == "pay-prod"
    assert len([i for i in inventory.identities if i.attributes.get("listed")]) == 10


def test_keys_become_credentials_with_faithful_dates(inventory):
    creds = {c.id: c for c in inventory.credentials}
    user = [c for c in creds.values() if c.managed_by == "user"]
    system = [c for c in creds.values() if c.managed_by == "provider"]
    assert len(user) == 5 and len(system) == 5
    assert all(c.kind == CredentialKind.SERVICE_ACCOUNT_KEY for c in creds.values())
    api_key = next(c for c in user if c.identity_id.startswith("api-server"))
    assert api_key.expires == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert api_key.attributes["never_expires"] is True and api_key.attributes["key_type"] == "USER_MANAGED"
    assert api_key.created == datetime(2026, 4, 15, 9, tzinfo=UTC)
    assert api_key.usage_known and api_key.last_used == datetime(2026, 10, 29, 7, tzinfo=UTC)
    assert api_key.usage_source == "gcp.activity_analyzer"
    leaker = {
        c.attributes["resource_name"].rsplit("/", 1)[1]: c for c in user if c.identity_id.startswith("key-leaker")
    }
    statuses = sorted(c.status for c in leaker.values())
    assert statuses == ["active", "active", "expired"]
    never = next(c for c in leaker.values() if c.status == "active" and c.last_used is None)
    assert never.usage_known  # an activity record without lastAuthenticatedTime: never used in the window
    staging = next(c for c in user if c.identity_id.startswith("staging-app"))
    assert not staging.usage_known  # pay-staging has no activity export: no evidence, no judgement


def test_bindings_become_grants_with_scope_and_condition(inventory):
    grants = {(g.identity_id.split("@")[0], g.policy_id, g.scope): g for g in inventory.grants}
    assert ("payments-batch", "roles/owner", "folders/700000000002") in grants
    fraud = grants[("fraud-model", "roles/resourcemanager.projectIamAdmin", "projects/pay-prod")]
    assert fraud.condition["title"] == "temporary-until-2026-12" and "request.time" in fraud.condition["expression"]
    assert ("ci-bot", "projects/pay-prod/roles/keyMinter", "projects/pay-prod") in grants
    assert ("clean-reader", "roles/iam.securityReviewer", "organizations/800000000001") in grants
    assert all(g.kind == "role_binding" for g in inventory.grants)
    key_minter = inventory.policies["projects/pay-prod/roles/keyMinter"]
    assert key_minter.kind == "gcp.custom_role" and "iam.serviceAccountKeys.create" in key_minter.permissions


def test_trusts_follow_the_model_conventions(inventory):
    batch = [t for t in inventory.trusts if t.identity_id == "payments-batch@pay-prod.iam.gserviceaccount.com"]
    by_principal = {(t.principal, t.source): t for t in batch}
    direct = by_principal[
        (
            "serviceAccount:staging-app@pay-staging.iam.gserviceaccount.com",
            "serviceAccount:payments-batch@pay-prod.iam.gserviceaccount.com",
        )
    ]
    assert direct.principal_kind == "gcp_member" and direct.actions == ["roles/iam.serviceAccountTokenCreator"]
    assert direct.internal is True
    eve = by_principal[("user:eve@acme-corp.com", "projects/pay-prod")]
    assert eve.internal is True and eve.actions == ["roles/iam.serviceAccountTokenCreator"]
    mallory = by_principal[("user:mallory@freelance.example", "folders/700000000001")]
    assert mallory.internal is False and mallory.actions == ["roles/iam.serviceAccountUser"]
    api = [t for t in inventory.trusts if t.identity_id.startswith("api-server@")]
    wif = next(t for t in api if t.principal_kind == "oidc")
    assert wif.principal == "projects/410000000001/locations/global/workloadIdentityPools/gh/providers/github"
    assert wif.conditions["attributeCondition"] is None
    assert wif.conditions["issuer"] == "https://token.actions.githubusercontent.com"
    assert wif.actions == ["roles/iam.workloadIdentityUser"] and wif.source.startswith("serviceAccount:api-server")
    member = next(t for t in api if t.principal.startswith("principalSet://"))
    assert member.principal_kind == "gcp_member" and wif.conditions["member"] == member.principal
    conditional = [t for t in inventory.trusts if t.conditions.get("title") == "temporary-until-2026-12"]
    assert conditional == []  # projectIamAdmin does not impersonate service accounts by itself


def test_usage_evidence_has_sources_and_windows(inventory):
    batch = [u for u in inventory.usage if u.identity_id == "payments-batch@pay-prod.iam.gserviceaccount.com"]
    activity = next(u for u in batch if u.target_kind == "identity")
    assert activity.source == "gcp.activity_analyzer" and activity.last_used == datetime(2026, 4, 10, 7, tzinfo=UTC)
    assert activity.window_start == datetime(2025, 3, 1, 7, tzinfo=UTC)
    assert activity.window_end == datetime(2026, 10, 30, 7, tzinfo=UTC)
    app = [u for u in inventory.usage if u.identity_id.startswith("staging-app@") and u.source == "gcp.policy_insight"]
    role = next(u for u in app if u.target_kind == "role")
    assert role.target == "roles/storage.admin" and role.last_used is None and "0 of 104" in role.detail
    services = {u.target: u.last_used for u in app if u.target_kind == "service"}
    assert "storage" in services and services["storage"] is None
    assert (role.window_end - role.window_start).days == 90
    api = [u for u in inventory.usage if u.identity_id.startswith("api-server@") and u.target_kind == "permission"]
    assert [u.target for u in api] == ["cloudsql.instances.connect"]
    recs = by_id(inventory)["staging-app@pay-staging.iam.gserviceaccount.com"].attributes["recommendations"]
    assert recs[0]["role"] == "roles/storage.admin" and recs[0]["resource"] == "projects/pay-staging"
    assert recs[0]["exercised_permissions"] == 0 and recs[0]["granted_permissions"] == 104


def test_missing_evidence_is_a_coverage_gap(inventory):
    gaps = {(g.scope, g.source): g for g in inventory.coverage}
    assert gaps[("pay-staging", "activity_analyzer")].status == "not_supplied"
    assert "identity-unused" in gaps[("pay-staging", "activity_analyzer")].affects
    assert ("pay-prod", "activity_analyzer") not in gaps


def test_inventory_round_trips(inventory, tmp_path):
    path = tmp_path / "inv.json"
    path.write_text(dump_json(inventory))
    from nhiaudit.model import load_inventory

    again = load_inventory(path)
    assert again.model_dump() == inventory.model_dump()


def test_a_single_project_folder_is_accepted():
    inv = collect(PROD)
    assert {s.scope for s in inv.sources} == {"pay-prod"}
    assert any(i.id.startswith("api-server@") for i in inv.identities)


def test_project_folders_without_the_projects_level_and_without_project_json(tmp_path):
    """A bare folder of project folders, without project.json: numbers come from the data itself."""
    for name in ("pay-prod", "pay-staging"):
        shutil.copytree(EXPORT / "projects" / name, tmp_path / name)
        (tmp_path / name / "project.json").unlink()
    inv = collect(tmp_path)
    assert {s.scope for s in inv.sources} == {"pay-prod", "pay-staging"}
    recs = by_id(inv)["staging-app@pay-staging.iam.gserviceaccount.com"].attributes["recommendations"]
    assert recs[0]["resource"] == "projects/pay-staging"  # the number 410000000002 was inferred
    compute = [t for t in inv.trusts if t.principal.startswith("serviceAccount:410000000001-compute@")]
    assert compute and all(t.internal for t in compute)


def test_secret_fields_in_a_key_export_are_never_kept(export_copy):
    path = export_copy / "projects" / "pay-prod" / "keys" / "api-server@pay-prod.iam.gserviceaccount.com.json"
    keys = json.loads(path.read_text())
    keys[0]["privateKeyData"] = "c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFs"
    keys[0]["publicKeyData"] = "cHVibGlj"
    path.write_text(json.dumps(keys))
    text = dump_json(collect(export_copy))
    assert "c2VjcmV0LXByaXZhdGUta2V5LW1hdGVyaWFs" not in text and "privateKeyData" not in text


def test_missing_optional_files_become_gaps_and_unknown_files_warnings(export_copy):
    project = export_copy / "projects" / "pay-prod"
    (project / "keys" / "fraud-model@pay-prod.iam.gserviceaccount.com.json").unlink()
    (project / "sa-iam-policies" / "api-server@pay-prod.iam.gserviceaccount.com.json").unlink()
    (project / "activity-keys.json").unlink()
    (project / "ancestors.json").unlink()
    (project / "service-account.json").write_text("[]")
    inv = collect(export_copy)
    gaps = {(g.scope, g.source): g for g in inv.coverage if g.scope == "pay-prod"}
    assert gaps[("pay-prod", "service_account_keys")].status == "partial"
    assert "fraud-model" in gaps[("pay-prod", "service_account_keys")].detail
    assert gaps[("pay-prod", "service_account_iam_policies")].status == "partial"
    assert gaps[("pay-prod", "key_activity")].status == "not_supplied"
    assert ("pay-prod", "ancestry") in gaps
    assert any("service-account.json" in w and "unrecognized" in w for w in inv.warnings)
    assert not any(
        c.usage_known for c in inv.credentials if c.identity_id.endswith("@pay-prod.iam.gserviceaccount.com")
    )


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("projects/pay-prod/service-accounts.json", '[{"email": "a@b.iam.gserviceaccount.com"', "truncated"),
        ("projects/pay-prod/service-accounts.json", '{"bindings": []}', "expected a JSON list of service accounts"),
        ("projects/pay-prod/service-accounts.json", '[{"role": "roles/owner"}]', "looks like an IAM policy"),
        ("projects/pay-prod/iam-policy.json", "[]", "expected an IAM policy object"),
        ("projects/pay-prod/iam-policy.json", '{"bindings": [{"members": ["user:a@b.c"]}]}', "binding 0 has no role"),
        (
            "projects/pay-prod/keys/api-server@pay-prod.iam.gserviceaccount.com.json",
            '[{"keyType": "USER_MANAGED"}]',
            "has no key name",
        ),
        ("projects/pay-prod/activity-keys.json", '"nope"', "expected a JSON list of activities"),
        ("projects/pay-prod/ancestors.json", '[{"id": "x"}]', "must have an id and a type"),
        (
            "projects/pay-prod/custom-roles.json",
            '[{"name": "r", "includedPermissions": "iam.roles.get"}]',
            "includedPermissions must be a list",
        ),
        ("projects/pay-prod/iam-policy.json", "", "file is empty"),
    ],
)
def test_bad_files_give_one_clear_error_naming_the_file(export_copy, relative, content, message):
    (export_copy / relative).write_text(content)
    with pytest.raises(InputError) as err:
        collect(export_copy)
    assert message in str(err.value)
    assert Path(relative).name in str(err.value)


def test_unknown_workload_identity_pool_is_a_gap(export_copy):
    (export_copy / "projects" / "pay-prod" / "workload-identity-pools.json").write_text("[]")
    (export_copy / "projects" / "pay-prod" / "wif-providers" / "gh.json").unlink()
    inv = collect(export_copy)
    gap = next(g for g in inv.coverage if g.source == "wif_providers:gh")
    assert gap.scope == "pay-prod" and "were not collected" in gap.detail
    assert not any(t.principal_kind == "oidc" for t in inv.trusts)
    assert any(t.principal.startswith("principalSet://") for t in inv.trusts)  # the member is still reported


def test_bad_timestamp_is_reported(export_copy):
    path = export_copy / "projects" / "pay-prod" / "keys" / "api-server@pay-prod.iam.gserviceaccount.com.json"
    keys = json.loads(path.read_text())
    keys[0]["validAfterTime"] = "last tuesday"
    path.write_text(json.dumps(keys))
    with pytest.raises(InputError, match="not a timestamp: 'last tuesday'"):
        collect(export_copy)


def test_wrong_directories(tmp_path):
    with pytest.raises(InputError, match="directory not found"):
        collect(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a GCP export folder"):
        collect(tmp_path / "empty")
    (tmp_path / "hollow" / "projects" / "p1").mkdir(parents=True)
    with pytest.raises(InputError, match="no GCP export data found"):
        collect(tmp_path / "hollow")
    file = tmp_path / "file.json"
    file.write_text("{}")
    with pytest.raises(InputError, match="not a directory"):
        collect(file)


def test_duplicate_project_is_refused(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(PROD, tmp_path / name / "projects" / "pay-prod")
    with pytest.raises(InputError, match="appears twice"):
        collect(tmp_path / "a", tmp_path / "b")


def test_cli_reports_bad_input_in_one_line(export_copy):
    (export_copy / "projects" / "pay-prod" / "iam-policy.json").write_text('{"bindings": [')
    result = run_cli("scan", "gcp", "--from-dir", str(export_copy))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "iam-policy.json" in lines[0] and "malformed JSON" in lines[0]
    assert "Traceback" not in result.stderr


def test_cli_collect_writes_an_inventory(tmp_path):
    out = tmp_path / "inv.json"
    result = run_cli("collect", "gcp", "--from-dir", str(EXPORT), "-o", str(out))
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["kind"] == "nhiaudit.inventory"
    assert {s["scope"] for s in data["sources"]} == {"pay-prod", "pay-staging"}
    analyzed = run_cli("analyze", str(out), "--as-of", "2026-11-01")
    assert analyzed.returncode == 0, analyzed.stderr
    assert json.loads(analyzed.stdout)["summary"]["total"] > 10


READ_ONLY_GCLOUD = ("describe", "get-ancestors", "get-iam-policy", "list", "query-activity")


def test_the_export_script_writes_what_the_importer_reads(tmp_path):
    """scripts/gcp-export.sh, run against a stand-in gcloud serving the fixture, reproduces the fixture."""
    log = tmp_path / "gcloud.log"
    wrapper = tmp_path / "gcloud"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{ROOT / "tests" / "fake_gcloud.py"}" "$@"\n')
    wrapper.chmod(0o755)
    env = {**os.environ, "GCLOUD": str(wrapper), "FAKE_GCLOUD_DATA": str(EXPORT), "FAKE_GCLOUD_LOG": str(log)}
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gcp-export.sh"), str(out), "pay-prod", "pay-staging"],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 command(s) failed" in result.stderr  # pay-staging has no activity export: left out, reported
    assert (out / "organizations" / "800000000001" / "iam-policy.json").exists()
    assert (out / "folders" / "700000000002" / "iam-policy.json").exists()
    for line in log.read_text().splitlines():
        assert any(verb in line.split() for verb in READ_ONLY_GCLOUD), line
    scripted, original = collect(out), collect(EXPORT)
    for name in ("identities", "credentials", "grants", "trusts", "usage"):
        mine = sorted(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in getattr(scripted, name))
        theirs = sorted(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in getattr(original, name))
        assert mine == theirs, name
