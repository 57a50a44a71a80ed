"""Live AWS collection with boto3 against moto (in-process), plus the fakes for what moto lacks."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws, settings

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.aws_api import READ_ONLY_OPERATIONS, PollPolicy
from nhiaudit.collectors.aws_live import AwsLiveCollector, AwsLiveOptions
from nhiaudit.errors import CollectionError
from tests.aws_fakes import (
    MGMT,
    AdvisorFake,
    AnalyzerFake,
    Denied,
    allow,
    backdate_key,
    backdate_role,
    backdate_user,
    days_ago,
    page_gaad,
    service,
    set_aws_env,
    stale_report,
    throttle,
    trust,
)

pytestmark = pytest.mark.filterwarnings("ignore:Exception\\((Throttled|Denied)\\):UserWarning")
FAST = PollPolicy(first=0.01, factor=1.5, longest=0.05, timeout=5)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch):
    set_aws_env(monkeypatch)
    with mock_aws():
        yield


@pytest.fixture
def advisor(aws, monkeypatch: pytest.MonkeyPatch) -> AdvisorFake:
    return AdvisorFake().install(monkeypatch)


@pytest.fixture
def analyzer(aws, httpserver, monkeypatch: pytest.MonkeyPatch) -> AnalyzerFake:
    fake = AnalyzerFake()
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCESSANALYZER", fake.serve(httpserver))
    return fake


def collect(**kwargs: object):
    options = AwsLiveOptions(poll=FAST, max_attempts=kwargs.pop("max_attempts", 3), **kwargs)  # type: ignore[arg-type]
    return AwsLiveCollector(options).collect()


def arn(kind: str, name: str, account: str = MGMT) -> str:
    return f"arn:aws:iam::{account}:{kind}/{name}"


def plant_account(account: str = MGMT, session: boto3.Session | None = None) -> dict[str, str]:
    """A small estate: an unused old role, a busy over-privileged role, a young role, and users
    with an old key, a never-used key and a fresh key."""
    iam = (session or boto3.Session(region_name="us-east-1")).client("iam")
    iam.create_role(RoleName="old-batch", AssumeRolePolicyDocument=trust())
    iam.put_role_policy(RoleName="old-batch", PolicyName="p", PolicyDocument=allow("dynamodb:Scan"))
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=trust("lambda.amazonaws.com"))
    iam.put_role_policy(
        RoleName="app",
        PolicyName="p",
        PolicyDocument=allow("s3:GetObject", "s3:PutObject", "sqs:SendMessage", "sns:Publish", "iam:PassRole"),
    )
    iam.create_role(RoleName="fresh", AssumeRolePolicyDocument=trust())
    iam.put_role_policy(RoleName="fresh", PolicyName="p", PolicyDocument=allow("sqs:SendMessage"))
    iam.create_user(UserName="svc-old")
    iam.put_user_policy(UserName="svc-old", PolicyName="p", PolicyDocument=allow("s3:GetObject"))
    old_key = iam.create_access_key(UserName="svc-old")["AccessKey"]["AccessKeyId"]
    iam.create_user(UserName="svc-never")
    iam.put_user_policy(UserName="svc-never", PolicyName="p", PolicyDocument=allow("s3:PutObject"))
    never_key = iam.create_access_key(UserName="svc-never")["AccessKey"]["AccessKeyId"]
    backdate_role(account, "old-batch", created=days_ago(900), last_used=days_ago(300))
    backdate_role(account, "app", created=days_ago(500), last_used=days_ago(1))
    backdate_key(account, old_key, created=days_ago(400), last_used=days_ago(2))
    backdate_user(account, "svc-old", created=days_ago(401))
    backdate_key(account, never_key, created=days_ago(200))
    backdate_user(account, "svc-never", created=days_ago(201))
    return {"old_key": old_key, "never_key": never_key}


def plant_advisor(fake: AdvisorFake, account: str = MGMT) -> None:
    fake.data[arn("role", "app", account)] = [
        service("s3", days_ago(1), {"GetObject": days_ago(1), "PutObject": None}),
        service("sqs", days_ago(3)),
        service("sns"),
        service("iam"),
    ]
    fake.data[arn("role", "old-batch", account)] = [service("dynamodb", days_ago(301))]
    fake.data[arn("user", "svc-old", account)] = [service("s3", days_ago(2), {"GetObject": days_ago(2)})]
    fake.data[arn("user", "svc-never", account)] = [service("s3")]


def test_single_account_scan_finds_the_planted_issues(advisor: AdvisorFake) -> None:
    keys = plant_account()
    plant_advisor(advisor)
    inventory = collect()

    names = {i.name for i in inventory.identities}
    assert {"old-batch", "app", "fresh", "svc-old", "svc-never"} <= names
    creds = {c.id: c for c in inventory.credentials}
    assert creds[keys["old_key"]].name == f"access key {keys['old_key']}"
    assert creds[keys["never_key"]].usage_known and creds[keys["never_key"]].last_used is None
    assert all(not c.id.endswith("#access_key_1") for c in inventory.credentials)

    (source,) = inventory.sources
    assert source.scope == MGMT and source.method == "live"
    assert source.api_calls["iam:GetAccountAuthorizationDetails"] == 1
    assert source.api_calls["iam:GenerateServiceLastAccessedDetails"] == 5  # every NHI with a policy
    assert set(source.api_calls) <= READ_ONLY_OPERATIONS
    assert all(granularity == "ACTION_LEVEL" for _, granularity in advisor.generated)

    doc = analyze(inventory)
    found = {(f.rule_id, f.identity_name, f.credential_id) for f in doc.findings}
    assert ("credential-not-rotated", "svc-old", keys["old_key"]) in found
    assert ("credential-never-used", "svc-never", keys["never_key"]) in found
    assert ("identity-unused", "old-batch", None) in found
    assert ("excess-privilege", "app", None) in found
    assert not any(f.identity_name == "fresh" for f in doc.findings if f.rule_id == "excess-privilege")

    excess = next(f for f in doc.findings if f.rule_id == "excess-privilege" and f.identity_name == "app")
    assert excess.evidence["unused_services"][0]["service"] == "sns"
    assert excess.evidence["unused_actions_in_used_services"] == ["s3:PutObject"]
    assert excess.evidence["not_judged"] == ["iam:PassRole"]
    # granted 5 (iam:PassRole, s3 x2, sns:Publish, sqs:SendMessage): unused sns:Publish + s3:PutObject
    assert excess.evidence["excess_privilege_index"] == 40
    unused = next(f for f in doc.findings if f.rule_id == "identity-unused" and f.identity_name == "old-batch")
    assert set(unused.evidence["sources"]) == {"aws.role_last_used", "aws.access_advisor"}
    assert doc.scan.sources[0].api_calls == source.api_calls


def test_every_operation_of_a_full_scan_is_read_only(advisor, analyzer, monkeypatch) -> None:
    """Record every AWS operation through a botocore before-call hook on every session, across an
    organization scan, the fall-back paths of a denied credential report, and Access Analyzer."""
    import botocore.handlers

    seen: set[str] = set()

    def record(model, **_):
        seen.add(f"{model.service_model.signing_name}:{model.name}")

    handlers = [*botocore.handlers.BUILTIN_HANDLERS, ("before-call", record)]
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", handlers)  # every new session registers it
    allowlist = {
        "sts:GetCallerIdentity",
        "sts:AssumeRole",
        "organizations:ListAccounts",
        "iam:GetAccountAuthorizationDetails",
        "iam:GenerateCredentialReport",
        "iam:GetCredentialReport",
        "iam:ListUsers",
        "iam:ListAccessKeys",
        "iam:GetAccessKeyLastUsed",
        "iam:GetLoginProfile",
        "iam:GenerateServiceLastAccessedDetails",
        "iam:GetServiceLastAccessedDetails",
        "access-analyzer:ListAnalyzers",
        "access-analyzer:ListFindingsV2",
        "access-analyzer:GetFindingV2",
    }
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(AccountName="dev", Email="dev@example.com")["CreateAccountStatus"]["AccountId"]
    plant_account()
    plant_advisor(advisor)
    an = analyzer.add_analyzer()
    analyzer.add_finding(an, arn("role", "old-batch"), "UnusedIAMRole", [{"unusedIamRoleDetails": {}}])
    throttle(monkeypatch, "generate_credential_report", times=99, error=Denied)  # forces the per-user path
    seen.clear()  # only the scan's own calls, not the set-up above
    collect(organization=True, org_role_name="OrganizationAccountAccessRole")
    seen_before = set(seen)
    assert seen_before <= allowlist, sorted(seen_before - allowlist)
    assert {"organizations:ListAccounts", "sts:AssumeRole", "iam:ListUsers", "iam:GetLoginProfile"} <= seen_before
    assert {"access-analyzer:ListFindingsV2", "access-analyzer:GetFindingV2"} <= seen_before
    assert member
    # ... and nhiaudit's own guard names the same operations
    assert allowlist == READ_ONLY_OPERATIONS


def test_credential_report_is_used_and_last_used_asked_only_where_it_lacks_data(advisor, monkeypatch) -> None:
    keys = plant_account()
    iam = boto3.client("iam", region_name="us-east-1")
    stale_report(monkeypatch)
    iam.generate_credential_report()
    iam.get_credential_report()  # AWS serves this report for 4 hours: a key created now is not in it
    late = iam.create_access_key(UserName="svc-never")["AccessKey"]["AccessKeyId"]
    inventory = collect(usage=False)
    calls = inventory.sources[0].api_calls
    assert calls["iam:ListAccessKeys"] == 2  # one per user
    assert calls.get("iam:GetAccessKeyLastUsed") == 1  # only the key the report does not describe
    assert "iam:ListUsers" not in calls and "iam:GetLoginProfile" not in calls
    creds = {c.id: c for c in inventory.credentials}
    assert {keys["old_key"], keys["never_key"], late} <= set(creds)
    assert creds[late].usage_known and creds[late].usage_source == "aws.credential_report"
    gap = next(g for g in inventory.coverage if g.source == "access_advisor")
    assert gap.status == "not_supplied" and "--no-usage" in gap.detail


def test_gaad_pagination_and_advisor_paging_and_polling(advisor, monkeypatch) -> None:
    plant_account()
    plant_advisor(advisor)
    pages = page_gaad(monkeypatch, page_size=2)
    advisor.page_size = 1
    advisor.polls_in_progress = 2
    inventory = collect()
    assert pages == [2, 2, 1]  # 3 roles + 2 users over three pages
    assert {i.name for i in inventory.identities} >= {"old-batch", "app", "fresh", "svc-old", "svc-never"}
    calls = inventory.sources[0].api_calls
    assert calls["iam:GetAccountAuthorizationDetails"] == len(pages)
    # per principal: 2 IN_PROGRESS polls + one page per service ("fresh" has none: one empty page)
    assert calls["iam:GetServiceLastAccessedDetails"] == 5 * 2 + (4 + 1 + 1 + 1 + 1)
    app = [u for u in inventory.usage if u.identity_id == arn("role", "app") and u.source == "aws.access_advisor"]
    assert {u.target for u in app if u.target_kind == "service"} == {"s3", "sqs", "sns", "iam"}


def test_throttled_calls_are_retried_with_backoff(advisor, monkeypatch) -> None:
    plant_account()
    seen = throttle(monkeypatch, "get_account_authorization_details", times=1)
    inventory = collect(max_attempts=4, usage=False)
    assert seen["calls"] == 2
    assert inventory.sources[0].api_calls["iam:GetAccountAuthorizationDetails"] == 1
    assert any("retried" in w for w in inventory.warnings)
    assert not any(g.source == "account" for g in inventory.coverage)


def test_throttling_that_never_ends_becomes_a_coverage_gap(advisor, monkeypatch) -> None:
    plant_account()
    plant_advisor(advisor)
    throttle(monkeypatch, "generate_service_last_accessed_details", times=10_000, only=arn("role", "app"))
    inventory = collect(max_attempts=2)
    gap = next(g for g in inventory.coverage if g.source == "access_advisor")
    assert gap.status == "partial" and "1 of 5" in gap.detail and "app" in gap.detail
    assert any("Throttling" in w and "still throttled" in w for w in inventory.warnings)
    doc = analyze(inventory)
    assert not any(f.rule_id == "excess-privilege" and f.identity_name == "app" for f in doc.findings)
    assert any(u.identity_id == arn("role", "old-batch") for u in inventory.usage if u.source == "aws.access_advisor")


def test_nothing_collected_is_an_error(advisor, monkeypatch) -> None:
    throttle(monkeypatch, "get_account_authorization_details", times=10_000)
    with pytest.raises(CollectionError, match=r"nothing could be collected.*Throttling.*still throttled"):
        collect(max_attempts=1)


def test_failed_advisor_job_is_partial_coverage(advisor) -> None:
    plant_account()
    plant_advisor(advisor)
    advisor.failing.add(arn("role", "app"))
    inventory = collect()
    gap = next(g for g in inventory.coverage if g.source == "access_advisor")
    assert gap.status == "partial" and "app" in gap.detail and "1 of 5" in gap.detail
    assert not any(u.identity_id == arn("role", "app") and u.source == "aws.access_advisor" for u in inventory.usage)


def test_denied_calls_become_coverage_gaps_and_fallbacks(advisor, analyzer, monkeypatch) -> None:
    """A scanner allowed to read authorization details and keys only: the credential report and
    Access Advisor are denied (gaps), keys and last use still come from the per-key APIs."""
    keys = plant_account()
    plant_advisor(advisor)
    analyzer.denied = True
    iam = boto3.client("iam", region_name="us-east-1")
    iam.create_user(UserName="scanner")
    iam.put_user_policy(
        UserName="scanner",
        PolicyName="partial",
        PolicyDocument=allow(
            "iam:GetAccountAuthorizationDetails",
            "iam:ListAccessKeys",
            "iam:GetAccessKeyLastUsed",
            "iam:ListUsers",
            "iam:GetLoginProfile",
        ),
    )
    scanner = iam.create_access_key(UserName="scanner")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", scanner["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", scanner["SecretAccessKey"])
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto enforces IAM policies from now on
    inventory = collect(identity_workers=1)
    gaps = {g.source: g for g in inventory.coverage}
    assert inventory.sources[0].api_calls["iam:GenerateServiceLastAccessedDetails"] == 1  # the first denial stops
    assert "service-level usage is unknown for 6 of 6 identities" in gaps["access_advisor"].detail
    assert gaps["credential_report"].status == "denied"
    assert gaps["access_advisor"].status == "denied"
    assert "iam:GenerateServiceLastAccessedDetails" in gaps["access_advisor"].detail
    assert gaps["access_analyzer"].status == "denied"
    creds = {c.id: c for c in inventory.credentials}
    assert creds[keys["never_key"]].usage_known and creds[keys["never_key"]].last_used is None
    assert creds[keys["old_key"]].last_used is not None
    doc = analyze(inventory)
    assert ("credential-never-used", "svc-never") in {(f.rule_id, f.identity_name) for f in doc.findings}
    assert not any(f.rule_id == "excess-privilege" for f in doc.findings)


def test_access_analyzer_findings_become_usage(advisor, analyzer) -> None:
    plant_account()
    an = analyzer.add_analyzer(age=60)
    analyzer.add_finding(an, arn("role", "old-batch"), "UnusedIAMRole", [{"unusedIamRoleDetails": {}}])
    analyzer.add_finding(
        an,
        arn("role", "app"),
        "UnusedPermission",
        [
            {"unusedPermissionDetails": {"serviceNamespace": "sns"}},
            {"unusedPermissionDetails": {"serviceNamespace": "s3", "actions": [{"action": "PutObject"}]}},
        ],
    )
    analyzer.add_finding(
        an,
        arn("user", "svc-never"),
        "UnusedIAMUserAccessKey",
        [{"unusedIamUserAccessKeyDetails": {"accessKeyId": "AKIAEXAMPLEEXAMPLE01"}}],
    )
    analyzer.findings.append({**analyzer.findings[0], "id": "other", "findingType": "ExternalAccess"})
    inventory = collect()
    records = [u for u in inventory.usage if u.source == "aws.access_analyzer"]
    kinds = {(u.identity_id.rsplit("/", 1)[-1], u.target_kind, u.target) for u in records}
    assert ("old-batch", "identity", None) in kinds
    assert ("app", "service", "sns") in kinds and ("app", "action", "s3:PutObject") in kinds
    assert ("svc-never", "credential", None) in kinds
    role = next(u for u in records if u.target_kind == "identity")
    assert (role.window_end - role.window_start).days == 60
    assert "ListFindingsV2" in analyzer.requests and analyzer.requests.count("GetFindingV2") == 4  # 3 + 1 detail page


def test_missing_analyzer_is_reported_not_guessed(advisor, analyzer) -> None:
    plant_account()
    inventory = collect()
    gap = next(g for g in inventory.coverage if g.source == "access_analyzer")
    assert gap.status == "unavailable" and "no active unused-access analyzer" in gap.detail


def test_api_calls_per_identity_is_small(advisor) -> None:
    plant_account()
    plant_advisor(advisor)
    inventory = collect()
    calls = sum(inventory.sources[0].api_calls.values())
    identities = len(inventory.identities)
    assert calls / identities < 5, (calls, identities, inventory.sources[0].api_calls)
    assert json.loads(inventory.model_dump_json())["sources"][0]["api_calls"]


def test_aws_managed_policies_from_a_live_scan(monkeypatch) -> None:
    """moto with AWS-managed policies loaded returns them without PolicyName (AWS always sends it):
    the name comes from the ARN, and an attached AdministratorAccess is seen as such."""
    set_aws_env(monkeypatch)
    with mock_aws(config={"iam": {"load_aws_managed_policies": True}}):
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust("codebuild.amazonaws.com"))
        iam.attach_role_policy(RoleName="deployer", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        inventory = collect(usage=False)
    assert inventory.policies["arn:aws:iam::aws:policy/AdministratorAccess"].name == "AdministratorAccess"
    doc = analyze(inventory)
    admin = next(f for f in doc.findings if f.rule_id == "admin-equivalent")
    assert admin.identity_name == "deployer" and "AdministratorAccess" in admin.description
