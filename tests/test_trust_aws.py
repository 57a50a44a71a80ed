"""AWS trust rules end to end: realistic authorization details with planted issues and near-misses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nhiaudit.collectors.aws_export import AwsExportCollector
from nhiaudit.model import Confidence, Inventory, Severity
from nhiaudit.settings import Settings
from nhiaudit.trust.context import graph
from tests.conftest import FIXTURES, SNAPSHOT, run_cli, write_json
from tests.trust_support import by_identity, context, run

AUTHZ = FIXTURES / "aws" / "trust" / "authorization-details.json"
ORG = FIXTURES / "aws" / "trust" / "organization-accounts.json"
TRUST_RULES = (
    "aws-third-party-trust-no-external-id",
    "aws-trust-any-principal",
    "aws-oidc-trust-unconstrained",
    "aws-service-trust-confused-deputy",
    "admin-equivalent",
    "environment-crossing",
    "privilege-escalation",
)


def _inventory(org: bool = True) -> Inventory:
    return AwsExportCollector([AUTHZ], snapshot_time=SNAPSHOT, organization_accounts=ORG if org else None).collect()


@pytest.fixture(scope="module")
def findings() -> list:
    return run(context(_inventory()), *TRUST_RULES)


def test_third_party_without_external_id(findings: list) -> None:
    found = by_identity(findings, "aws-third-party-trust-no-external-id")
    assert set(found) == {
        "partner-reporting",
        "partner-weak-external-id",
        "partner-external-id-if-exists",
        "vendor-break-glass",
    }
    reporting = found["partner-reporting"]
    assert reporting.severity == Severity.HIGH and reporting.confidence == Confidence.HIGH
    assert reporting.evidence["account"] == "777766665555"
    assert "outside the organization" in reporting.description
    assert "does not have to be met" in found["partner-weak-external-id"].description
    assert "StringEqualsIfExists" in found["partner-external-id-if-exists"].description
    # an admin-equivalent role trusted by a third party is critical
    assert found["vendor-break-glass"].severity == Severity.CRITICAL
    assert found["vendor-break-glass"].evidence["admin_equivalent"] == {"via": "self"}


def test_principal_star(findings: list) -> None:
    found = by_identity(findings, "aws-trust-any-principal")
    assert set(found) == {"public-assume", "public-ip-narrowed", "public-any-account-arn"}
    assert found["public-assume"].severity == Severity.CRITICAL
    assert found["public-ip-narrowed"].severity == Severity.HIGH
    assert found["public-ip-narrowed"].evidence["weak_conditions"] == ["IpAddress aws:sourceip = 203.0.113.0/24"]
    # a PrincipalArn pattern with a wildcard account narrows nothing
    assert found["public-any-account-arn"].severity == Severity.CRITICAL
    assert "narrow nothing" in found["public-any-account-arn"].description


def test_oidc_subjects(findings: list) -> None:
    found = by_identity(findings, "aws-oidc-trust-unconstrained")
    expected = {
        "gh-org-wildcard": Severity.HIGH,
        "gh-org-prefix": Severity.CRITICAL,
        "gh-any-branch": Severity.MEDIUM,
        "gh-no-aud": Severity.LOW,
        "gh-negated-sub": Severity.CRITICAL,
        "gh-admin-any-repo": Severity.CRITICAL,
        "gitlab-group-wildcard": Severity.HIGH,
        "tfc-any-organization": Severity.CRITICAL,
        "eks-namespace-wildcard": Severity.MEDIUM,
        "cognito-any-pool": Severity.CRITICAL,
    }
    assert {name: f.severity for name, f in found.items()} == expected
    assert found["gh-org-wildcard"].evidence["breadth"] == "owner"
    assert "any workflow of any repository on GitHub" in found["gh-admin-any-repo"].description
    assert "admin-equivalent" in found["gh-admin-any-repo"].description
    assert found["gh-no-aud"].evidence["breadth"] == "pinned"


def test_confused_deputy_only_where_the_service_supports_the_keys(findings: list) -> None:
    found = by_identity(findings, "aws-service-trust-confused-deputy")
    assert set(found) == {"codebuild-no-source", "states-wildcard-source"}
    assert found["codebuild-no-source"].evidence["documentation"].startswith("https://docs.aws.amazon.com/")
    assert "narrows nothing" in found["states-wildcard-source"].description


def test_admin_equivalent_through_paths(findings: list) -> None:
    found = by_identity(findings, "admin-equivalent")
    chained = {name: f for name, f in found.items() if f.evidence.get("via") == "path"}
    assert set(chained) == {"release-runner", "build-agent", "func-deployer", "key-rotator", "conditional-assumer"}
    build = chained["build-agent"].evidence
    assert [hop["kind"] for hop in build["path"]] == ["assume-role", "assume-role"]
    assert build["path"][0]["to"].endswith(":role/release-runner")
    assert build["admin_identity"].endswith(":role/deploy-admin")
    assert "through 2 steps" in chained["build-agent"].description
    assert chained["func-deployer"].evidence["path"][0]["kind"] == "pass-role"
    assert chained["key-rotator"].evidence["path"][0]["kind"] == "create-access-key"
    conditional = chained["conditional-assumer"]
    assert conditional.severity == Severity.HIGH and conditional.confidence == Confidence.MEDIUM
    assert any("aws:requestedregion" in c for c in conditional.evidence["conditions"])
    for f in chained.values():
        if f.identity_name != "conditional-assumer":
            assert f.severity == Severity.CRITICAL and f.confidence == Confidence.HIGH


def test_chain_near_misses(findings: list) -> None:
    admins = by_identity(findings, "admin-equivalent")
    # assumes only a non-admin role; sts:AssumeRole scoped to other roles; an explicit Deny; PassRole to ec2 only
    for name in ("report-runner", "scoped-assumer", "deny-assumer", "passrole-other-service", "ec2-worker"):
        assert name not in admins
    # privilege-escalation still names the mechanism (pass-role, create-access-key) of a chained admin
    assert "func-deployer" in by_identity(findings, "privilege-escalation")


def test_environment_crossing(findings: list) -> None:
    found = by_identity(findings, "environment-crossing")
    assert set(found) == {"prod-data-sync", "gh-staging-environment"}
    sync = found["prod-data-sync"]
    assert "acme-dev" in sync.description and sync.confidence == Confidence.MEDIUM  # from account names
    assert sync.evidence["non_production"][0]["what"] == "arn:aws:iam::333344445555:role/dev-data-sync"
    staging = found["gh-staging-environment"]
    assert staging.confidence == Confidence.HIGH  # a tag and a GitHub deployment environment


def test_near_misses_are_clean(findings: list) -> None:
    clean = {
        "vendor-with-external-id",
        "org-analytics-reader",
        "public-org-pinned",
        "gh-pinned-environment",
        "gh-branch-pattern",
        "gh-literal-star",
        "gitlab-pinned",
        "tfc-pinned-workspace",
        "eks-pinned",
        "cognito-pinned-pool",
        "codebuild-pinned",
        "states-pinned",
        "ec2-worker",
        "lambda-function",
        "prod-peer-sync",
        "audit-readonly",
    }
    flagged = {f.identity_name for f in findings}
    assert not clean & flagged, clean & flagged


def test_without_organization_accounts_every_other_account_is_outside() -> None:
    found = by_identity(
        run(context(_inventory(org=False)), "aws-third-party-trust-no-external-id"),
        "aws-third-party-trust-no-external-id",
    )
    assert {"org-analytics-reader", "prod-data-sync", "prod-peer-sync"} <= set(found)
    assert found["partner-reporting"].confidence == Confidence.MEDIUM
    assert "were not supplied" in found["partner-reporting"].description
    assert "vendor-with-external-id" not in found


def test_config_organization_and_environments() -> None:
    settings = Settings(
        organization_accounts=["333344445555", "444455556666"],
        environments={"production": ["210987654321", "444455556666"], "development": ["333344445555"]},
    )
    ctx = context(_inventory(org=False), settings)
    third = by_identity(run(ctx, "aws-third-party-trust-no-external-id"), "aws-third-party-trust-no-external-id")
    assert "prod-data-sync" not in third and "org-analytics-reader" not in third
    assert third["partner-reporting"].confidence == Confidence.HIGH
    crossing = by_identity(run(ctx, "environment-crossing"), "environment-crossing")
    assert crossing["prod-data-sync"].confidence == Confidence.HIGH
    assert "config [environments] development" in crossing["prod-data-sync"].description
    assert "prod-peer-sync" not in crossing


def test_graph_edges_follow_aws_rules() -> None:
    ctx = context(_inventory())
    edges = {
        (e.source.rsplit("/", 1)[-1], e.target.rsplit("/", 1)[-1], e.kind)
        for n in list(graph(ctx).edges_from)
        for e in graph(ctx).out(n)
    }
    assert ("build-agent", "release-runner", "assume-role") in edges  # named in the trust
    assert ("release-runner", "deploy-admin", "assume-role") in edges  # account root + identity policy
    assert ("report-runner", "audit-readonly", "assume-role") in edges
    assert ("scoped-assumer", "audit-readonly", "assume-role") in edges  # role/audit-* matches
    assert ("scoped-assumer", "deploy-admin", "assume-role") not in edges
    assert ("deny-assumer", "deploy-admin", "assume-role") not in edges
    assert ("deny-assumer", "audit-readonly", "assume-role") in edges
    assert ("passrole-other-service", "admin-lambda", "pass-role") not in edges  # iam:PassedToService = ec2
    assert ("func-deployer", "admin-lambda", "pass-role") in edges
    # admin-equivalent identities get no outgoing edges
    assert not any(src == "deploy-admin" for src, _, _ in edges)


def test_not_action_trust_statement(tmp_path: Path) -> None:
    doc = json.loads(AUTHZ.read_text())
    role = next(r for r in doc["RoleDetailList"] if r["RoleName"] == "partner-reporting")
    role["AssumeRolePolicyDocument"]["Statement"][0] = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::777766665555:root"},
        "NotAction": ["sts:AssumeRoleWith*"],
    }
    doc["RoleDetailList"] = [role]
    inventory = AwsExportCollector([write_json(tmp_path / "a.json", doc)], snapshot_time=SNAPSHOT).collect()
    trust = inventory.trusts[0]
    assert "sts:AssumeRole" in trust.actions and "sts:AssumeRoleWithSAML" not in trust.actions
    found = run(context(inventory), "aws-third-party-trust-no-external-id")
    assert [f.identity_name for f in found] == ["partner-reporting"]


def test_condition_keys_drop_operator_qualifiers() -> None:
    inventory = _inventory()
    trust = next(t for t in inventory.trusts if t.identity_id.endswith("role/cognito-pinned-pool"))
    assert set(trust.condition_keys) == {"cognito-identity.amazonaws.com:aud", "cognito-identity.amazonaws.com:amr"}


def test_org_accounts_become_scopes() -> None:
    inventory = _inventory()
    names = {s.id: s.name for s in inventory.scopes}
    assert names == {"210987654321": "acme-prod", "333344445555": "acme-dev", "444455556666": "acme-prod-analytics"}
    assert all(s.in_organization and s.parent == "o-7kq2m4x9zb" for s in inventory.scopes)
    trust = next(t for t in inventory.trusts if t.identity_id.endswith("role/org-analytics-reader"))
    assert trust.internal is True


def test_cli_scan_with_org_accounts(tmp_path: Path) -> None:
    result = run_cli("scan", "aws", "--from-file", str(AUTHZ), "--org-accounts", str(ORG), "--format", "json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    rules = {f["rule_id"] for f in doc["findings"]}
    assert {
        "aws-third-party-trust-no-external-id",
        "aws-trust-any-principal",
        "aws-oidc-trust-unconstrained",
        "aws-service-trust-confused-deputy",
        "environment-crossing",
    } <= rules
    assert str(ORG) in doc["scan"]["sources"][0]["inputs"]
    inventory_path = tmp_path / "inventory.json"
    collected = run_cli(
        "collect", "aws", "--from-file", str(AUTHZ), "--org-accounts", str(ORG), "-o", str(inventory_path)
    )
    assert collected.returncode == 0, collected.stderr
    assert len(json.loads(inventory_path.read_text())["scopes"]) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"Accounts": [{"Name": "x"}]}', "Accounts[0]: missing Id"),
        ('{"Accounts": [{"Id": "12"}]}', "is not a 12-digit account id"),
        ('{"Organization": {}}', "not an 'aws organizations list-accounts' export"),
        ('{"Accounts": [{"Id": "210987654321", "Tags": {"env": "prod"}}]}', "Tags must be a list"),
        ('{"Accounts": [', "malformed JSON"),
    ],
)
def test_bad_org_accounts_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(content)
    result = run_cli("scan", "aws", "--from-file", str(AUTHZ), "--org-accounts", str(path))
    assert result.returncode == 2
    assert message in result.stderr and "accounts.json" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_org_accounts_needs_from_file() -> None:
    result = run_cli("scan", "aws", "--org-accounts", str(ORG))
    assert result.returncode == 2
    assert "--org-accounts" in result.stderr and "needs --from-file" in result.stderr


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        # STS evaluates these GitHub claims too: ANDed with (here: instead of) the subject
        ({"StringEquals": {"repository": "acme/api", "ref": "refs/heads/main", "aud": "sts.amazonaws.com"}}, None),
        ({"StringEquals": {"repository": "acme/api", "aud": "sts.amazonaws.com"}}, Severity.MEDIUM),
        ({"StringEquals": {"repository_owner": "acme", "aud": "sts.amazonaws.com"}}, Severity.HIGH),
        (
            {"StringLike": {"sub": "repo:acme/*"}, "StringEquals": {"repository": "acme/api", "environment": "prod"}},
            Severity.LOW,
        ),
    ],
)
def test_other_github_claims_narrow_the_trust(tmp_path: Path, conditions: dict, expected: Severity | None) -> None:
    doc = json.loads(AUTHZ.read_text())
    role = next(r for r in doc["RoleDetailList"] if r["RoleName"] == "gh-org-wildcard")
    prefix = "token.actions.githubusercontent.com"
    role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"] = {
        op: {f"{prefix}:{k}": v for k, v in block.items()} for op, block in conditions.items()
    }
    doc["RoleDetailList"] = [role]
    inventory = AwsExportCollector([write_json(tmp_path / "a.json", doc)], snapshot_time=SNAPSHOT).collect()
    found = run(context(inventory), "aws-oidc-trust-unconstrained")
    assert [f.severity for f in found] == ([expected] if expected else [])
