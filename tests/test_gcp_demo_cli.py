"""The GCP part of the demo, the gcp commands' option handling, and lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from nhiaudit.analyzer import analyze
from nhiaudit.demo import load_demo
from nhiaudit.rules import all_rules
from nhiaudit.settings import Settings
from tests.conftest import run_cli

CROSS_CLOUD = {
    "admin-equivalent",
    "privilege-escalation",
    "credential-not-rotated",
    "credential-never-used",
    "credential-unused",
    "multiple-active-credentials",
    "identity-unused",
    "inactive-identity-active-credentials",
}


@pytest.fixture(scope="module")
def demo():
    inventory = load_demo()
    return inventory, analyze(inventory, Settings())


def test_demo_exercises_every_gcp_rule_and_the_cross_cloud_rules_on_gcp(demo):
    _, doc = demo
    gcp_rules = {r.meta.id for r in all_rules() if r.meta.providers == ("gcp",)}
    assert gcp_rules == {
        "gcp-user-managed-key",
        "gcp-project-level-impersonation",
        "gcp-default-sa-editor",
        "gcp-role-recommendation",
        "gcp-human-sa-impersonation",
        "gcp-cross-boundary-impersonation",
        "gcp-wif-provider-unconstrained",
    }
    fired = {f.rule_id for f in doc.findings if f.provider == "gcp"}
    assert gcp_rules | CROSS_CLOUD <= fired, (gcp_rules | CROSS_CLOUD) - fired


def test_demo_keeps_the_aws_findings(demo):
    _, doc = demo
    aws = [f for f in doc.findings if f.provider == "aws"]
    assert len(aws) == 41  # 22 core, + 6 excess-privilege (Access Advisor), + 13 from the trust cases (docs/trust.md)
    assert {f.identity_name for f in aws if f.rule_id == "admin-equivalent"} == {
        "ci-deploy-admin",
        "legacy-etl",
        "svc-admin-bot",
        "deploy-admin",
        "release-runner",  # can assume deploy-admin
        "build-agent",  # can assume release-runner
    }


def test_demo_near_misses_stay_quiet(demo):
    _, doc = demo
    gcp = [f for f in doc.findings if f.provider == "gcp"]
    names = {f.identity_name for f in gcp}
    assert "reporting" not in names  # disabled old key, dismissed recommendation, read-only roles
    assert "shop-prod" not in names  # App Engine default SA without a basic role
    assert "org-scanner" not in names  # organization-wide read-only
    rec = {f.identity_name for f in gcp if f.rule_id == "gcp-role-recommendation"}
    assert rec == {"ci-deployer", "web-frontend"}  # not the dismissed one, not the stale one (legacy-batch)
    never = [f for f in gcp if f.rule_id == "credential-never-used"]
    assert [f.identity_name for f in never] == ["legacy-batch"]  # the notebook key is inside its grace period
    people = {f.identity_id for f in gcp if f.rule_id == "gcp-project-level-impersonation"}
    assert people == {"user:bob@example.com", "user:dana@partner-agency.io", "group:sre@example.com"}
    assert "user:alice@example.com" not in {f.identity_id for f in gcp}  # Token Creator on one SA only


def test_demo_plants_trust_data_for_the_trust_rules(demo):
    inventory, _ = demo
    deploy = [t for t in inventory.trusts if t.identity_id == "deploy-bot@shop-prod.iam.gserviceaccount.com"]
    direct = {(t.principal, tuple(t.actions), t.internal) for t in deploy if t.source.startswith("serviceAccount:")}
    assert (
        "user:alice@example.com",
        ("roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountUser"),
        True,
    ) in direct
    assert ("user:contractor@partner-agency.io", ("roles/iam.serviceAccountUser",), False) in direct
    assert ("serviceAccount:ci-deployer@shop-prod.iam.gserviceaccount.com",
            ("roles/iam.serviceAccountTokenCreator",), True) in direct  # fmt: skip
    wif = {t.principal.rsplit("/", 1)[1]: t for t in inventory.trusts if t.principal_kind == "oidc"}
    assert wif["gitlab"].conditions["attributeCondition"] is None
    assert "example-org" in wif["github-actions"].conditions["attributeCondition"]
    cross = [t for t in inventory.trusts if t.principal == "serviceAccount:build@data-dev.iam.gserviceaccount.com"]
    assert cross and cross[0].identity_id.startswith("web-frontend@shop-prod")


def test_demo_scan_table_mentions_gcp():
    result = run_cli("scan", "--demo", "--max-rows", "0")
    assert result.returncode == 0, result.stderr
    assert "gcp shop-prod" in result.stdout and "gcp-project-level-impersonation" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "gcp"], "name what to scan: --project ID"),
        (["scan", "gcp", "--from-dir", ".", "--project", "p"], "--from-dir reads exported files"),
        (["collect", "gcp", "--organization", "acme"], "--organization takes a numeric organization id"),
        (["scan", "gcp", "--project", "p", "--endpoint", "iam"], "expected NAME=URL"),
        (["scan", "gcp", "--project", "p", "--endpoint", "storage=http://x"], "unknown endpoint 'storage'"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_and_offline_analysis_do_not_import_google():
    code = (
        "import sys; from nhiaudit.cli import app\n"
        "try:\n    app(['scan', 'gcp', '--help'])\nexcept SystemExit:\n    pass\n"
        "from nhiaudit.demo import load_demo; from nhiaudit.analyzer import analyze\n"
        "analyze(load_demo())\n"
        "bad = [m for m in sys.modules if m.startswith(('google', 'grpc', 'boto3', 'azure', 'msgraph', 'pandas'))]\n"
        "print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_rules_reference_lists_the_gcp_rules():
    result = run_cli("rules", "--format", "json")
    rules = {r["id"]: r for r in json.loads(result.stdout)}
    assert rules["gcp-user-managed-key"]["cis"] == ["CIS GCP v4.0.0 1.4"]
    assert rules["gcp-project-level-impersonation"]["owasp_nhi"][0] == "NHI10:2025"
