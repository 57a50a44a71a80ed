"""Each core rule on AWS data: the planted problem fires, the near-miss does not."""

from __future__ import annotations

from nhiaudit.analyzer import analyze
from nhiaudit.collectors.aws_export import AwsExportCollector
from nhiaudit.model import Confidence, Severity
from nhiaudit.settings import Settings
from tests.aws_builders import (
    ADMIN,
    allow,
    credential_report,
    deny,
    details,
    doc,
    group,
    managed_policy,
    report_row,
    role,
    user,
)
from tests.conftest import SNAPSHOT, write_json


def scan(tmp_path, data: dict, report: str | None = None, settings: Settings | None = None):
    authz = write_json(tmp_path / "authz.json", data)
    rep = None
    if report is not None:
        rep = tmp_path / "report.csv"
        rep.write_text(report)
    inventory = AwsExportCollector([authz], rep, snapshot_time=SNAPSHOT).collect()
    return analyze(inventory, settings, as_of=SNAPSHOT)


def fired(doc_, rule_id: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in doc_.findings:
        if f.rule_id == rule_id:
            out.setdefault(f.identity_name, []).append(f)
    return out


# --- admin-equivalent ----------------------------------------------------------------------


def test_admin_equivalent(tmp_path):
    boundary = managed_policy("OnlyS3", doc(allow("s3:*")))
    result = scan(
        tmp_path,
        details(
            roles=[
                role("admin-managed", managed=[ADMIN]),
                role(
                    "admin-notaction",
                    inline={"all": doc({"Effect": "Allow", "NotAction": "s3:DeleteBucket", "Resource": "*"})},
                ),
                role("admin-capped", managed=[ADMIN], boundary=boundary),
                role("admin-denied", managed=[ADMIN], inline={"no": doc(deny("*"))}),
                role(
                    "admin-conditional",
                    inline={"c": doc(allow("*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))},
                ),
                role(
                    "poweruser",
                    inline={
                        "p": doc(
                            {"Effect": "Allow", "NotAction": ["iam:*", "organizations:*", "account:*"], "Resource": "*"}
                        )
                    },
                ),
                role("AWSServiceRoleForX", managed=[ADMIN], path="/aws-service-role/x.amazonaws.com/"),
            ],
            users=[user("bot", groups=["admins"])],
            groups=[group("admins", managed=[ADMIN])],
            policies=[ADMIN, boundary],
        ),
    )
    hits = fired(result, "admin-equivalent")
    assert set(hits) == {"admin-managed", "admin-notaction", "admin-conditional", "bot"}
    full = hits["admin-managed"][0]
    assert full.severity == Severity.CRITICAL and full.confidence == Confidence.HIGH
    assert "AdministratorAccess" in full.description and full.evidence["level"] == "full"
    assert "NotAction" in hits["admin-notaction"][0].description
    cond = hits["admin-conditional"][0]
    assert cond.severity == Severity.HIGH and cond.confidence == Confidence.MEDIUM
    assert "aws:SourceIp" in cond.description
    assert "via group admins" in hits["bot"][0].description
    assert hits["bot"][0].references.owasp_nhi == ["NHI5:2025"]
    assert "CIS AWS v7.0.0 2.14" in hits["bot"][0].references.cis
    assert all(not c.startswith("CIS GCP") for c in hits["bot"][0].references.cis)


# --- privilege-escalation ------------------------------------------------------------------


def test_privilege_escalation(tmp_path):
    result = scan(
        tmp_path,
        details(
            roles=[
                role("self-edit", inline={"p": doc(allow("iam:PutRolePolicy"))}),
                role(
                    "passrole-lambda",
                    inline={"p": doc(allow(["iam:PassRole", "lambda:CreateFunction", "lambda:InvokeFunction"]))},
                ),
                role(
                    "passrole-scoped",
                    inline={
                        "p": doc(
                            allow("ec2:RunInstances"),
                            allow(
                                "iam:PassRole",
                                "arn:aws:iam::210987654321:role/worker",
                                Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
                            ),
                        )
                    },
                ),
                role(
                    "own-keys",
                    inline={
                        "p": doc(
                            allow(
                                ["iam:CreateAccessKey", "iam:UpdateLoginProfile"],
                                "arn:aws:iam::210987654321:user/${aws:username}",
                            )
                        )
                    },
                ),
                role("assume-any", inline={"p": doc(allow("sts:AssumeRole"))}),
                role("readonly", inline={"p": doc(allow(["s3:Get*", "ec2:Describe*", "iam:Get*", "iam:List*"]))}),
                role("passrole-alone", inline={"p": doc(allow("iam:PassRole"))}),
                role("admin", managed=[ADMIN]),
            ],
            policies=[ADMIN],
        ),
    )
    hits = fired(result, "privilege-escalation")
    assert set(hits) == {"self-edit", "passrole-lambda", "passrole-scoped", "assume-any"}
    self_edit = hits["self-edit"][0]
    assert self_edit.severity == Severity.HIGH and self_edit.confidence == Confidence.HIGH
    assert self_edit.evidence["paths"][0]["id"] == "iam-005"
    assert self_edit.evidence["paths"][0]["permissions"] == {"iam:PutRolePolicy": ["inline policy p"]}
    lam = hits["passrole-lambda"][0]
    assert any(p["id"] == "lambda-001" for p in lam.evidence["paths"])
    scoped = hits["passrole-scoped"][0]
    assert scoped.severity == Severity.MEDIUM and scoped.confidence == Confidence.MEDIUM
    assert "iam:PassedToService" in scoped.evidence["paths"][0]["narrowing"]
    weak = hits["assume-any"][0]
    assert weak.severity == Severity.LOW and weak.evidence["paths"][0]["id"] == "sts-001"


# --- credentials ---------------------------------------------------------------------------


def credentials_case(tmp_path, settings: Settings | None = None):
    report = credential_report(
        report_row("old-key", key1=(True, "2026-08-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00")),
        report_row("ancient-key", key1=(True, "2023-01-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00")),
        report_row("fresh-key", key1=(True, "2026-09-15T00:00:00+00:00", "2026-10-31T00:00:00+00:00")),
        report_row("old-inactive", key1=(False, "2020-01-01T00:00:00+00:00", "2020-06-01T00:00:00+00:00")),
        report_row(
            "two-keys",
            key1=(True, "2026-09-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00"),
            key2=(True, "2026-09-20T00:00:00+00:00", "2026-10-30T00:00:00+00:00"),
        ),
        report_row("never-used", key1=(True, "2026-08-01T00:00:00+00:00", "N/A")),
        report_row("brand-new", created="2026-10-29T00:00:00+00:00", key1=(True, "2026-10-29T00:00:00+00:00", "N/A")),
        report_row("stale", key1=(True, "2026-09-01T00:00:00+00:00", "2026-09-05T00:00:00+00:00")),
        report_row("recent", key1=(True, "2026-09-01T00:00:00+00:00", "2026-10-20T00:00:00+00:00")),
        report_row(
            "clicky",
            password=("2026-10-25T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
            key1=(True, "2026-09-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00"),
        ),
        report_row("stripped", key1=(True, "2026-09-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00")),
    )
    names = [
        "old-key",
        "ancient-key",
        "fresh-key",
        "old-inactive",
        "two-keys",
        "never-used",
        "brand-new",
        "stale",
        "recent",
        "clicky",
        "stripped",
    ]
    users = [
        user(n, inline={} if n == "stripped" else {"p": doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))}) for n in names
    ]
    users[names.index("brand-new")]["CreateDate"] = "2026-10-29T00:00:00+00:00"
    return scan(tmp_path, details(users=users), report, settings)


def test_credential_not_rotated(tmp_path):
    hits = fired(credentials_case(tmp_path), "credential-not-rotated")
    assert set(hits) == {"old-key", "ancient-key", "never-used"}
    assert hits["old-key"][0].severity == Severity.MEDIUM
    assert hits["ancient-key"][0].severity == Severity.HIGH  # older than rotation_critical_days
    assert hits["old-key"][0].credential_id.endswith("user/old-key#access_key_1")
    assert hits["old-key"][0].evidence["age_days"] == 92
    assert "Access key 1 of IAM user old-key" in hits["old-key"][0].description


def test_rotation_threshold_is_configurable(tmp_path):
    hits = fired(credentials_case(tmp_path, Settings(rotation_days=30)), "credential-not-rotated")
    assert {"fresh-key", "two-keys", "stale", "recent"} <= set(hits)


def test_multiple_active_credentials(tmp_path):
    hits = fired(credentials_case(tmp_path), "multiple-active-credentials")
    assert set(hits) == {"two-keys"}
    assert len(hits["two-keys"][0].evidence["credentials"]) == 2


def test_credential_never_used_with_grace_period(tmp_path):
    hits = fired(credentials_case(tmp_path), "credential-never-used")
    assert set(hits) == {"never-used"}  # brand-new is inside the 7-day grace period
    assert hits["never-used"][0].severity == Severity.HIGH
    assert hits["never-used"][0].evidence["age_days"] == 92


def test_credential_unused(tmp_path):
    hits = fired(credentials_case(tmp_path), "credential-unused")
    assert set(hits) == {"stale"}
    assert hits["stale"][0].evidence["idle_days"] == 57


def test_human_usable_nhi(tmp_path):
    hits = fired(credentials_case(tmp_path), "human-usable-nhi")
    assert set(hits) == {"clicky"}
    assert "signed in interactively 7 days ago" in hits["clicky"][0].description
    assert hits["clicky"][0].references.owasp_nhi == ["NHI10:2025"]


def test_inactive_identity_active_credentials(tmp_path):
    hits = fired(credentials_case(tmp_path), "inactive-identity-active-credentials")
    assert set(hits) == {"stripped"}
    assert "no permissions left" in hits["stripped"][0].description


def test_user_with_missing_group_is_not_called_stripped(tmp_path):
    report = credential_report(report_row("svc", key1=(True, "2026-09-01T00:00:00+00:00", "2026-10-31T00:00:00+00:00")))
    result = scan(tmp_path, details(users=[user("svc", groups=["not-exported"])]), report)
    assert not fired(result, "inactive-identity-active-credentials")
    assert any("not-exported" in w for w in result.scan.warnings)


# --- identity-unused -----------------------------------------------------------------------


def test_identity_unused(tmp_path):
    report = credential_report(
        report_row("idle-user", key1=(True, "2026-08-15T00:00:00+00:00", "2026-07-01T00:00:00+00:00")),
        report_row("busy-user", key1=(True, "2026-08-15T00:00:00+00:00", "2026-10-31T00:00:00+00:00")),
    )
    result = scan(
        tmp_path,
        details(
            roles=[
                role("idle-role", last_used="2026-05-01T00:00:00+00:00"),
                role("never-role", created="2023-01-01T00:00:00+00:00", last_used=None),
                role("young-role", created="2026-10-01T00:00:00+00:00", last_used=None),
                role("busy-role"),
                role("idle-admin", managed=[ADMIN], last_used="2025-01-01T00:00:00+00:00"),
            ],
            users=[user("idle-user"), user("busy-user")],
            policies=[ADMIN],
        ),
        report,
    )
    hits = fired(result, "identity-unused")
    assert set(hits) == {"idle-role", "never-role", "idle-admin", "idle-user"}
    assert hits["idle-role"][0].evidence["idle_days"] == 184
    assert "AWS RoleLastUsed" in hits["idle-role"][0].description
    assert "400-day observation window" in hits["never-role"][0].description
    assert hits["idle-admin"][0].severity == Severity.HIGH
    assert hits["idle-user"][0].severity == Severity.MEDIUM
    assert "still holds 1 active credential (access key 1)" in hits["idle-user"][0].description


def test_no_usage_evidence_means_no_unused_finding(tmp_path):
    data = details(users=[user("unknown")], roles=[role("r", last_used=None, created="2020-01-01T00:00:00+00:00")])
    del data["RoleDetailList"][0]["RoleLastUsed"]  # an export without RoleLastUsed carries no evidence
    result = scan(tmp_path, data)  # and no credential report: user activity unknown
    assert not fired(result, "identity-unused")
    assert not fired(result, "credential-never-used")
    assert any(g.source == "credential_report" for g in result.scan.coverage)
    assert any(g.source == "role_last_used" and "1 roles" in g.detail for g in result.scan.coverage)


def test_fingerprints_are_stable_and_distinct(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = credentials_case(tmp_path / "a")
    second = credentials_case(tmp_path / "b")
    fp1 = sorted(f.fingerprint for f in first.findings)
    assert fp1 == sorted(f.fingerprint for f in second.findings)
    assert len(set(fp1)) == len(fp1)


def test_provider_owned_only_with_option(tmp_path):
    data = details(
        roles=[role("AWSServiceRoleForX", managed=[ADMIN], path="/aws-service-role/x.amazonaws.com/")], policies=[ADMIN]
    )
    assert not fired(scan(tmp_path, data), "admin-equivalent")
    assert fired(scan(tmp_path, data, settings=Settings(include_provider_owned=True)), "admin-equivalent")
