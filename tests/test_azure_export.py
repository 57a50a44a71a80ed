"""Offline Azure import: az CLI output and raw Graph / ARM pages, planted issues and clean near-misses."""

from __future__ import annotations

import json
import shutil

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.azure_export import AzureExportCollector
from nhiaudit.errors import InputError
from nhiaudit.model import CredentialKind
from tests.conftest import FIXTURES, SNAPSHOT, run_cli, write_json

EXPORT = FIXTURES / "azure" / "export"
TENANT = "e5b2a9c4-7d13-4f60-8a2e-3c9d1b7f0a64"


def collect(path=EXPORT, **kwargs):
    return AzureExportCollector(path, snapshot_time=SNAPSHOT, **kwargs).collect()


@pytest.fixture(scope="module")
def inv():
    return collect()


@pytest.fixture(scope="module")
def findings(inv):
    return analyze(inv)


def by_name(inv, name):
    return next(i for i in inv.identities if i.name == name)


def fired(findings, rule):
    return {f.identity_name for f in findings.findings if f.rule_id == rule}


def test_tenant_and_identity_kinds(inv):
    assert {i.scope for i in inv.identities} == {TENANT}  # from subscriptions.json (az account list)
    etl = by_name(inv, "etl-runner")
    assert etl.kind == "azure.service_principal" and etl.attributes["home_tenant"]
    assert etl.attributes["application_object_id"] and etl.attributes["app_id"]
    assert etl.owners == ["mia.chen@fabrikamlabs.example"] and etl.owners_known
    graph = by_name(inv, "Microsoft Graph")
    assert graph.provider_owned and graph.classification == "Microsoft first-party application"
    vendor = by_name(inv, "Northwind HR Connector")
    assert "third-party multi-tenant application" in vendor.classification
    trust = next(t for t in inv.trusts if t.identity_id == vendor.id)
    assert trust.principal_kind == "azure_tenant" and trust.internal is False
    assert trust.principal == "9a1c3e5b-7d2f-4a86-b0c4-e6f8a2d4c1b3"


def test_credentials_and_federation(inv):
    etl = by_name(inv, "etl-runner")
    (secret,) = [c for c in inv.credentials if c.identity_id == etl.id]
    assert secret.kind == CredentialKind.CLIENT_SECRET and secret.expires_known
    assert secret.usage_known and secret.last_used is None  # listed in the credential report, never signed in
    assert secret.attributes["origin"] == "application"
    status = by_name(inv, "status-page")
    fic = next(t for t in inv.trusts if t.identity_id == status.id and t.principal_kind == "azure_federated")
    assert fic.principal == "https://token.actions.githubusercontent.com"
    assert fic.conditions == {
        "issuer": "https://token.actions.githubusercontent.com",
        "subject": "repo:fabrikam-labs/status-page:ref:refs/heads/main",
        "audiences": ["api://AzureADTokenExchange"],
    }
    assert any(c.kind == CredentialKind.FEDERATED and c.identity_id == status.id for c in inv.credentials)
    # no secret value or hint is ever kept
    assert "hint" not in json.dumps([c.model_dump(mode="json") for c in inv.credentials])


def test_grants_and_usage(inv):
    runner = by_name(inv, "lab-runner")
    grant = next(g for g in inv.grants if g.identity_id == runner.id)
    assert grant.via == "group lab-automation (c8fd5cd5-4f21-53a4-9a29-cfe58482e8a7)"
    delegate = by_name(inv, "access-delegate")
    kinds = {g.kind for g in inv.grants if g.identity_id == delegate.id}
    assert kinds == {"role_assignment", "directory_role"}
    assert (
        inv.policies["/providers/Microsoft.Authorization/roleDefinitions/" + _custom_guid(inv)].attributes["role_type"]
        == "CustomRole"
    )
    usage = [u for u in inv.usage if u.identity_id == by_name(inv, "status-page").id]
    assert usage[0].source == "azure.sp_signin_activity" and usage[0].last_used is not None


def _custom_guid(inv):
    return next(p.id.rsplit("/", 1)[-1] for p in inv.policies.values() if p.attributes.get("role_type") == "CustomRole")


def test_planted_issues_fire(findings):
    assert fired(findings, "admin-equivalent") == {"etl-runner", "partner-portal-sync", "access-delegate"}
    assert fired(findings, "orphaned-identity") == {"partner-portal-sync"}
    assert fired(findings, "third-party-privileged-app") == {"Northwind HR Connector"}
    assert fired(findings, "credential-never-used") == {"etl-runner"}
    assert fired(findings, "identity-unused") == {"etl-runner"}
    assert fired(findings, "credential-long-lived") == {"etl-runner"}
    assert fired(findings, "client-secret-authentication") == {"etl-runner", "status-page"}
    assert {"lab-runner", "rg-admin", "Northwind HR Connector"} <= fired(findings, "privilege-escalation")
    etl_admin = next(
        f for f in findings.findings if f.rule_id == "admin-equivalent" and f.identity_name == "etl-runner"
    )
    assert etl_admin.evidence["scopes"] == ["management group fabrikam-root"]


def test_near_misses_stay_quiet(findings):
    everyone = {f.identity_name for f in findings.findings}
    assert "Microsoft Graph" not in everyone  # provider-owned
    assert "rg-admin" not in fired(findings, "admin-equivalent")  # Owner of one resource group only
    assert "status-page" not in fired(findings, "credential-long-lived")  # six-month secret
    assert "status-page" not in fired(findings, "credential-unused")  # used yesterday
    assert "lab-runner" not in fired(findings, "client-secret-authentication")  # certificate only
    rg = next(f for f in findings.findings if f.rule_id == "privilege-escalation" and f.identity_name == "rg-admin")
    assert rg.severity.value == "medium"  # narrowed to a resource group


def _raw_graph_copy(tmp_path):
    """The same tenant as raw Graph / ARM pages (az rest output), split over several pages."""
    out = tmp_path / "raw"
    shutil.copytree(EXPORT, out)
    apps = json.loads((out / "applications.json").read_text())
    (out / "applications.json").unlink()
    half = len(apps) // 2
    context = "https://graph.microsoft.com/v1.0/$metadata#applications"
    write_json(
        out / "graph" / "applications-1.json",
        {
            "@odata.context": context,
            "value": apps[:half],
            "@odata.nextLink": "https://graph.microsoft.com/v1.0/applications?$skiptoken=X",
        },
    )
    write_json(out / "graph" / "applications-2.json", {"@odata.context": context, "value": apps[half:]})
    assignments = json.loads((out / "role-assignments-labs-main.json").read_text())
    (out / "role-assignments-labs-main.json").unlink()
    arm = [
        {
            "id": a["id"],
            "name": a["name"],
            "type": a["type"],
            "properties": {
                k: a[k]
                for k in ("principalId", "principalType", "roleDefinitionId", "scope", "condition", "conditionVersion")
            },
        }
        for a in assignments
    ]
    write_json(out / "arm-role-assignments.json", {"value": arm})
    return out


def test_raw_graph_and_arm_pages_import_like_az_output(tmp_path, findings):
    raw = collect(_raw_graph_copy(tmp_path))
    again = analyze(raw)
    assert {(f.rule_id, f.identity_id, f.credential_id) for f in again.findings} == {
        (f.rule_id, f.identity_id, f.credential_id) for f in findings.findings
    }


def test_truncated_graph_export_is_an_error(tmp_path):
    raw = _raw_graph_copy(tmp_path)
    (raw / "graph" / "applications-2.json").unlink()
    with pytest.raises(InputError, match="export of applications is incomplete"):
        collect(raw)


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "service-principals.json").write_text('[{"id": '), "malformed JSON at line 1"),
        (lambda d: (d / "service-principals.json").unlink(), "no service principals found"),
        (lambda d: write_json(d / "inv.json", {"kind": "nhiaudit.inventory"}), "this is an nhiaudit inventory file"),
        (
            lambda d: write_json(
                d / "mixed.json",
                [{"servicePrincipalType": "Application", "id": "x"}, {"roleName": "r", "permissions": []}],
            ),
            "mixes different kinds",
        ),
        (
            lambda d: write_json(d / "ra.json", [{"principalId": "p", "roleDefinitionId": "r", "scope": None}]),
            "needs principalId, roleDefinitionId and scope",
        ),
        (lambda d: write_json(d / "x.json", "text"), "expected a JSON array"),
    ],
)
def test_bad_exports_give_one_line_errors(tmp_path, setup, message):
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    setup(folder)
    with pytest.raises(InputError, match=message):
        collect(folder)


def test_tenant_resolution(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    (folder / "subscriptions.json").unlink()
    assert {i.scope for i in collect(folder).identities} == {TENANT}  # inferred from the apps' own SPs
    (folder / "applications.json").unlink()
    with pytest.raises(InputError, match="pass --tenant"):
        collect(folder)
    assert {i.scope for i in collect(folder, tenant=TENANT.upper()).identities} == {TENANT}
    with pytest.raises(InputError, match="must be a tenant id"):
        collect(folder, tenant="contoso.onmicrosoft.com")


def test_missing_parts_become_coverage_gaps_and_unknown_files_warnings(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    shutil.rmtree(folder / "graph")
    write_json(folder / "notes.json", [{"hello": "world"}])
    inv = collect(folder)
    gaps = {g.source: g for g in inv.coverage}
    assert {"app_role_assignments", "directory_role_assignments", "sp_signin_activity"} <= set(gaps)
    assert gaps["sp_signin_activity"].status == "not_supplied"
    assert "identity-unused" in gaps["sp_signin_activity"].affects
    assert any("notes.json" in w and "ignored" in w for w in inv.warnings)
    doc = analyze(inv)
    assert not fired(doc, "identity-unused")  # no sign-in evidence: nothing is called unused
    assert not fired(doc, "credential-never-used")


def test_cli_scan_azure_from_dir():
    proc = run_cli("scan", "azure", "--from-dir", str(EXPORT), "--as-of", "2026-11-01", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["by_rule"]["admin-equivalent"] == 3
    failing = run_cli("scan", "azure", "--from-dir", str(EXPORT), "--as-of", "2026-11-01", "--fail-on", "critical")
    assert failing.returncode == 1


def test_cli_errors_are_one_line_exit_2(tmp_path):
    proc = run_cli("scan", "azure", "--from-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "folder not found" in proc.stderr
    mixed = run_cli("scan", "azure", "--from-dir", str(EXPORT), "--subscription", TENANT)
    assert mixed.returncode == 2 and "--subscription applies to live collection" in mixed.stderr
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "service-principals.json").write_text("[")
    proc = run_cli("collect", "azure", "--from-dir", str(bad))
    assert proc.returncode == 2 and "malformed JSON" in proc.stderr and "service-principals.json" in proc.stderr


def test_collect_then_analyze_round_trip(tmp_path):
    out = tmp_path / "inventory.json"
    proc = run_cli("collect", "azure", "--from-dir", str(EXPORT), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    analyzed = run_cli("analyze", str(out), "--as-of", "2026-11-01")
    assert analyzed.returncode == 0, analyzed.stderr
    assert json.loads(analyzed.stdout)["summary"]["by_rule"]["third-party-privileged-app"] == 1


def test_offline_azure_analysis_imports_no_sdk(tmp_path):
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from nhiaudit.collectors.azure_export import AzureExportCollector\n"
        "from nhiaudit.analyzer import analyze\n"
        f"analyze(AzureExportCollector(Path({str(EXPORT)!r})).collect())\n"
        "print([m for m in ('azure', 'msgraph', 'kiota_abstractions', 'boto3', 'pandas') if m in sys.modules])\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_parent_folder_page_files_and_az_owner_lists(tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    (members_file,) = (folder / "group-members").glob("*.json")
    members = json.loads(members_file.read_text())
    group = members_file.stem
    members_file.unlink()
    context = "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"
    write_json(
        folder / "group-members" / f"{group}-1.json",
        {
            "@odata.context": context,
            "value": [],
            "@odata.nextLink": f"https://graph.microsoft.com/v1.0/groups/{group}/transitiveMembers?$skiptoken=1",
        },
    )
    write_json(folder / "group-members" / f"{group}-2.json", {"@odata.context": context, "value": members})
    # `az ad app owner list` prints no userType / accountEnabled: a guest is still known by #EXT#
    etl = next(a for a in json.loads((folder / "applications.json").read_text()) if a["displayName"] == "etl-runner")
    write_json(
        folder / "owners" / f"{etl['id']}.json",
        [
            {
                "@odata.type": "#microsoft.graph.user",
                "id": "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a",
                "displayName": "Pat",
                "userPrincipalName": "pat_partner.example#EXT#@fabrikamlabs.example",
            }
        ],
    )
    inv = collect(folder)
    runner = by_name(inv, "lab-runner")
    assert any(g.identity_id == runner.id and g.via for g in inv.grants)
    (detail,) = [d for d in by_name(inv, "etl-runner").attributes["owner_details"] if d["source"] == "application"]
    assert detail["guest"] is True and detail["enabled"] is None


def test_the_export_script_writes_what_the_importer_reads(tmp_path):
    """scripts/azure-export.sh, run against a stand-in az serving the live-API fixtures, gives the same
    inventory as the az-output fixture of the same tenant."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    log = tmp_path / "az.log"
    wrapper = tmp_path / "az"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{ROOT / "tests" / "fake_az.py"}" "$@"\n')
    wrapper.chmod(0o755)
    env = {
        **os.environ,
        "AZ": str(wrapper),
        "PYTHON": sys.executable,
        "FAKE_AZ_DATA": str(FIXTURES / "azure" / "live"),
        "FAKE_AZ_LOG": str(log),
    }
    out = tmp_path / "out"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "azure-export.sh"), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "failed" not in result.stderr, result.stderr
    for line in log.read_text().splitlines():
        words = line.split()
        assert words[:2] in (["account", "show"], ["account", "list"]) or words[:3] in (
            ["rest", "--method", "get"],
            ["role", "assignment", "list"],
            ["role", "definition", "list"],
        ), line
    scripted, original = collect(out), collect(EXPORT)
    assert scripted.coverage == [] and not scripted.warnings
    for inv in (scripted, original):  # the az fixture has no owner files for Microsoft's own apps
        for identity in inv.identities:
            if identity.provider_owned:
                identity.owners_known = False
                identity.attributes.pop("owner_details", None)
    for name in ("identities", "credentials", "grants", "trusts", "usage"):
        mine = sorted(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in getattr(scripted, name))
        theirs = sorted(json.dumps(i.model_dump(mode="json"), sort_keys=True) for i in getattr(original, name))
        assert mine == theirs, name


def test_powershell_encodings_and_timestamps_without_zone(tmp_path):
    """`az ... > file` in Windows PowerShell 5 writes UTF-16 with a byte-order mark; other tools add a
    UTF-8 BOM; some exports print times without a zone (read as UTC)."""
    folder = tmp_path / "export"
    shutil.copytree(EXPORT, folder)
    sps = (folder / "service-principals.json").read_text()
    (folder / "service-principals.json").write_bytes(sps.encode("utf-16"))
    apps = json.loads((folder / "applications.json").read_text())
    for app in apps:
        for cred in app["passwordCredentials"]:
            cred["endDateTime"] = cred["endDateTime"].replace("Z", "")
    (folder / "applications.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(apps).encode())
    again = analyze(collect(folder))
    assert fired(again, "credential-long-lived") == {"etl-runner"}
