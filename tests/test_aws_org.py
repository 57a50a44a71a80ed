"""Organization scans against moto with IAM policy enforcement: the scanner holds exactly the
documented minimum policy (read from docs/aws.md), member accounts are reached through the
documented role, and a member without the role becomes a coverage gap."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
from moto import mock_aws, settings

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.aws_api import READ_ONLY_OPERATIONS, PollPolicy, required_permissions
from nhiaudit.collectors.aws_live import AwsLiveCollector, AwsLiveOptions
from nhiaudit.collectors.aws_org import DEFAULT_ORG_ROLE
from nhiaudit.errors import NhiauditError
from tests.aws_fakes import (
    MGMT,
    AdvisorFake,
    allow,
    backdate_key,
    backdate_role,
    days_ago,
    member_session,
    service,
    set_aws_env,
    trust,
    trust_account,
)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "aws.md"
FAST = PollPolicy(first=0.01, factor=1.5, longest=0.05, timeout=5)


def docs_policy(marker: str) -> dict:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"<!-- nhiaudit:{marker} -->\s*```json\n(.*?)```", text, re.S)
    assert match, f"docs/aws.md lost its {marker} block"
    return json.loads(match.group(1))


def policy_actions(doc: dict) -> set[str]:
    actions: set[str] = set()
    for st in doc["Statement"]:
        acts = st["Action"]
        actions.update([acts] if isinstance(acts, str) else acts)
    return actions


def test_docs_policy_is_exactly_what_the_scanner_can_call() -> None:
    minimum = policy_actions(docs_policy("minimum-policy"))
    org = policy_actions(docs_policy("organization-policy"))
    assert minimum | org == required_permissions()
    assert not minimum & org
    assert org == {"organizations:ListAccounts", "sts:AssumeRole"}
    assert f"role/{DEFAULT_ORG_ROLE}" in json.dumps(docs_policy("organization-policy"))
    assert len(READ_ONLY_OPERATIONS) == len(required_permissions()) + 1  # + sts:GetCallerIdentity


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch):
    """Management account + dev (role deployed) + prod (role missing) + a suspended account."""
    set_aws_env(monkeypatch)
    with mock_aws():
        advisor = AdvisorFake().install(monkeypatch)
        client = boto3.client("organizations", region_name="us-east-1")
        client.create_organization(FeatureSet="ALL")
        ids = {
            name: client.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"][
                "AccountId"
            ]
            for name in ("dev", "prod", "retired")
        }
        client.close_account(AccountId=ids["retired"])
        minimum = json.dumps(docs_policy("minimum-policy"))
        # the scanner in the management account: the organization policy + the minimum policy
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="nhiaudit-scanner")
        iam.put_user_policy(UserName="nhiaudit-scanner", PolicyName="minimum", PolicyDocument=minimum)
        iam.put_user_policy(
            UserName="nhiaudit-scanner",
            PolicyName="organization",
            PolicyDocument=json.dumps(docs_policy("organization-policy")),
        )
        scanner = iam.create_access_key(UserName="nhiaudit-scanner")["AccessKey"]
        # management account estate: a key 400 days old
        iam.create_user(UserName="svc-billing")
        iam.put_user_policy(UserName="svc-billing", PolicyName="p", PolicyDocument=allow("ce:GetCostAndUsage"))
        key = iam.create_access_key(UserName="svc-billing")["AccessKey"]["AccessKeyId"]
        backdate_key(MGMT, key, created=days_ago(400), last_used=days_ago(1))
        # dev: the documented role, an unused old role and an over-privileged busy one
        dev_iam = member_session(ids["dev"]).client("iam")
        dev_iam.create_role(RoleName=DEFAULT_ORG_ROLE, AssumeRolePolicyDocument=trust_account(MGMT))
        dev_iam.put_role_policy(RoleName=DEFAULT_ORG_ROLE, PolicyName="minimum", PolicyDocument=minimum)
        dev_iam.create_role(RoleName="legacy-import", AssumeRolePolicyDocument=trust())
        dev_iam.put_role_policy(RoleName="legacy-import", PolicyName="p", PolicyDocument=allow("s3:GetObject"))
        dev_iam.create_role(RoleName="ci", AssumeRolePolicyDocument=trust_account(MGMT))
        dev_iam.put_role_policy(RoleName="ci", PolicyName="p", PolicyDocument=allow("s3:*", "ec2:*", "lambda:*"))
        backdate_role(ids["dev"], "legacy-import", created=days_ago(800), last_used=days_ago(500))
        backdate_role(ids["dev"], "ci", created=days_ago(700), last_used=days_ago(1))
        advisor.data[f"arn:aws:iam::{ids['dev']}:role/ci"] = [
            service("s3", days_ago(1)),
            service("ec2"),
            service("lambda"),
        ]
        # prod: scanned with the same role name, which nobody deployed there
        prod_iam = member_session(ids["prod"]).client("iam")
        prod_iam.create_role(RoleName="prod-app", AssumeRolePolicyDocument=trust())
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", scanner["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", scanner["SecretAccessKey"])
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto enforces IAM policies now
        yield {"ids": ids, "key": key, "advisor": advisor}


def scan(**kwargs: object):
    collector = AwsLiveCollector(AwsLiveOptions(poll=FAST, max_attempts=2, **kwargs))  # type: ignore[arg-type]
    return collector, collector.collect()


def test_organization_scan_aggregates_accounts_with_the_documented_permissions(org) -> None:
    ids = org["ids"]
    _, inventory = scan(organization=True, max_workers=3)
    scopes = {i.scope for i in inventory.identities}
    assert scopes == {MGMT, ids["dev"]}
    gaps = {(g.scope, g.source): g for g in inventory.coverage}
    prod_gap = gaps[(ids["prod"], "account")]
    assert prod_gap.affects == ["*"] and "nothing collected" in prod_gap.detail
    # the scanner holds exactly the documented policy: nothing it needs is denied
    assert not [g for g in inventory.coverage if g.status == "denied"], inventory.coverage
    assert any(f"account {ids['retired']}" in w and "suspended" in w for w in inventory.warnings)
    sources = {s.scope: s for s in inventory.sources}
    assert sources[MGMT].api_calls["organizations:ListAccounts"] == 1
    assert sources[ids["dev"]].api_calls["sts:AssumeRole"] == 1
    assert "sts:AssumeRole" not in sources[MGMT].api_calls  # its own credentials, no role
    assert sources[ids["prod"]].api_calls["sts:AssumeRole"] == 1  # the failed account's calls are counted too
    assert sources[MGMT].api_calls["iam:GetAccountAuthorizationDetails"] == 1

    doc = analyze(inventory)
    by_rule = {(f.rule_id, f.identity_name): f for f in doc.findings}
    assert by_rule[("credential-not-rotated", "svc-billing")].scope == MGMT
    assert by_rule[("identity-unused", "legacy-import")].scope == ids["dev"]
    excess = by_rule[("excess-privilege", "ci")]
    assert excess.scope == ids["dev"] and {s["service"] for s in excess.evidence["unused_services"]} == {
        "ec2",
        "lambda",
    }
    assert set(doc.summary.by_scope) == {f"aws:{MGMT}", f"aws:{ids['dev']}"}
    # trust from the management account into dev is internal to the organization
    ci_trust = next(t for t in inventory.trusts if t.identity_id.endswith(":role/ci"))
    assert ci_trust.internal is True
    # every account of the organization is recorded by name, for trust and environment analysis
    recorded = {s.id: s for s in inventory.scopes}
    assert set(recorded) >= {MGMT, ids["dev"], ids["prod"]}
    assert all(s.kind == "aws.account" and s.in_organization for s in recorded.values())
    assert recorded[ids["dev"]].name


def test_accounts_and_exclusions(org) -> None:
    ids = org["ids"]
    collector, inventory = scan(organization=True, exclude_accounts=[ids["prod"]], accounts=[MGMT, ids["prod"]])
    assert {i.scope for i in inventory.identities} == {MGMT}
    assert [o.target.account_id for o in collector.outcomes] == [MGMT]
    with pytest.raises(NhiauditError, match="not in the organization"):
        scan(organization=True, accounts=["999999999999"])
    with pytest.raises(NhiauditError, match="no account left"):
        scan(accounts=[MGMT], exclude_accounts=[MGMT])
    _, listed = scan(accounts=[ids["dev"]])  # no Organizations call at all
    assert {i.scope for i in listed.identities} == {ids["dev"]}
    assert all("organizations:ListAccounts" not in s.api_calls for s in listed.sources)


def test_role_arn_is_assumed_first(org) -> None:
    ids = org["ids"]
    _, inventory = scan(role_arn=f"arn:aws:iam::{ids['dev']}:role/{DEFAULT_ORG_ROLE}")
    assert {i.scope for i in inventory.identities} == {ids["dev"]}


def test_organization_wide_analyzer_is_read_per_account(org, httpserver, monkeypatch) -> None:
    """An ORGANIZATION_UNUSED_ACCESS analyzer in the scanning account covers member accounts that
    have no analyzer of their own; its findings are filtered by account."""
    from tests.aws_fakes import AnalyzerFake

    ids = org["ids"]
    fake = AnalyzerFake()
    an = fake.add_analyzer("ORGANIZATION_UNUSED_ACCESS", age=120)
    fake.add_finding(
        an, f"arn:aws:iam::{ids['dev']}:role/legacy-import", "UnusedIAMRole", [{"unusedIamRoleDetails": {}}]
    )
    fake.add_finding(
        an, f"arn:aws:iam::{MGMT}:user/svc-billing", "UnusedIAMUserPassword", [{"unusedIamUserPasswordDetails": {}}]
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCESSANALYZER", fake.serve(httpserver))
    _, inventory = scan(organization=True, accounts=[MGMT, ids["dev"]])
    records = {
        (u.identity_id.split(":")[4], u.target_kind) for u in inventory.usage if u.source == "aws.access_analyzer"
    }
    assert records == {(ids["dev"], "identity"), (MGMT, "credential")}
    dev = next(u for u in inventory.usage if u.source == "aws.access_analyzer" and u.target_kind == "identity")
    assert (dev.window_end - dev.window_start).days == 120
    assert not any(g.source == "access_analyzer" for g in inventory.coverage)
