"""Offline AWS import: authorization details (one document or pages) and the credential report."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

from nhiaudit.collectors.aws_export import AwsExportCollector, read_credential_report
from nhiaudit.errors import InputError
from nhiaudit.model import CredentialKind
from tests.aws_builders import (
    ACCOUNT,
    ADMIN,
    allow,
    credential_report,
    details,
    doc,
    group,
    managed_policy,
    report_row,
    role,
    user,
)
from tests.conftest import SNAPSHOT, write_json


def collect(tmp_path, data: dict, report: str | None = None):
    authz = write_json(tmp_path / "authz.json", data)
    rep = None
    if report is not None:
        rep = tmp_path / "report.csv"
        rep.write_text(report)
    return AwsExportCollector([authz], rep, snapshot_time=SNAPSHOT).collect()


def by_name(inventory, name):
    return next(i for i in inventory.identities if i.name == name)


def test_roles_users_groups_and_policies_become_records(tmp_path):
    reader = managed_policy("Reader", doc(allow(["s3:GetObject"])))
    inv = collect(
        tmp_path,
        details(
            roles=[role("app", inline={"logs": doc(allow("logs:PutLogEvents"))}, managed=[reader])],
            users=[user("svc-ci", groups=["builders"])],
            groups=[group("builders", inline={"build": doc(allow("codebuild:StartBuild"))}, managed=[reader])],
            policies=[reader],
        ),
    )
    app = by_name(inv, "app")
    assert app.kind == "aws.role" and app.scope == ACCOUNT and app.is_nhi and not app.provider_owned
    assert app.id == f"arn:aws:iam::{ACCOUNT}:role/app"
    grants = {(g.identity_id.rsplit("/", 1)[1], g.kind, g.policy_name, g.via) for g in inv.grants}
    assert ("app", "inline", "logs", None) in grants
    assert ("app", "managed", "Reader", None) in grants
    assert ("svc-ci", "group_inline", "build", "builders") in grants
    assert ("svc-ci", "group_managed", "Reader", "builders") in grants
    # the default version's document is used, not v1
    assert inv.policies[reader["Arn"]].document == doc(allow(["s3:GetObject"]))
    assert inv.sources[0].scope == ACCOUNT and inv.sources[0].method == "offline"


def test_identical_inline_documents_are_stored_once(tmp_path):
    same = doc(allow("sqs:SendMessage"))
    inv = collect(tmp_path, details(roles=[role(f"r{i}", inline={f"p{i}": same}) for i in range(5)]))
    assert len([p for p in inv.policies.values() if p.kind == "aws.inline"]) == 1
    assert sorted(g.policy_name for g in inv.grants) == [f"p{i}" for i in range(5)]


def test_url_encoded_and_string_documents_are_decoded(tmp_path):
    encoded = urllib.parse.quote(json.dumps(doc(allow("s3:GetObject"))))
    as_text = json.dumps(doc(allow("sqs:SendMessage")))
    data = details(roles=[role("r")])
    data["RoleDetailList"][0]["RolePolicyList"] = [
        {"PolicyName": "enc", "PolicyDocument": encoded},
        {"PolicyName": "txt", "PolicyDocument": as_text},
    ]
    data["RoleDetailList"][0]["AssumeRolePolicyDocument"] = urllib.parse.quote(
        json.dumps(doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    )
    inv = collect(tmp_path, data)
    docs = [p.document for p in inv.policies.values()]
    assert doc(allow("s3:GetObject")) in docs and doc(allow("sqs:SendMessage")) in docs
    assert inv.trusts[0].principal == "ec2.amazonaws.com"


def test_role_classification(tmp_path):
    saml = doc(
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"},
            "Action": "sts:AssumeRoleWithSAML",
        }
    )
    inv = collect(
        tmp_path,
        details(
            roles=[
                role("AWSServiceRoleForSupport", path="/aws-service-role/support.amazonaws.com/"),
                role("AWSReservedSSO_Admin_0123456789abcdef", path="/aws-reserved/sso.amazonaws.com/eu-west-1/"),
                role("okta-admins", trust=saml),
                role("worker"),
            ]
        ),
    )
    slr = by_name(inv, "AWSServiceRoleForSupport")
    assert slr.provider_owned and slr.is_nhi
    assert not by_name(inv, "AWSReservedSSO_Admin_0123456789abcdef").is_nhi
    assert not by_name(inv, "okta-admins").is_nhi
    worker = by_name(inv, "worker")
    assert worker.is_nhi and not worker.provider_owned and worker.human_signin is False


def test_user_classification_from_the_credential_report(tmp_path):
    report = credential_report(
        report_row(
            "both",
            password=("2026-10-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
            key1=(True, "2026-01-01T00:00:00+00:00", "2026-10-30T00:00:00+00:00"),
        ),
        report_row(
            "person",
            password=("2026-10-01T00:00:00+00:00", "2025-01-01T00:00:00+00:00"),
            key1=(False, "2020-01-01T00:00:00+00:00", "2020-02-01T00:00:00+00:00"),
        ),
        report_row("keys-only", key1=(True, "2026-01-01T00:00:00+00:00", "N/A")),
        report_row("nothing"),
    )
    inv = collect(tmp_path, details(users=[user(n) for n in ("both", "person", "keys-only", "nothing")]), report)
    both = by_name(inv, "both")
    assert both.is_nhi and both.human_signin is True
    assert "human-usable" in both.classification
    assert not by_name(inv, "person").is_nhi
    assert by_name(inv, "keys-only").is_nhi and by_name(inv, "keys-only").human_signin is False
    assert by_name(inv, "nothing").is_nhi


def test_credentials_from_the_report(tmp_path):
    report = credential_report(
        report_row(
            "svc",
            key1=(True, "2025-01-02T03:04:05+00:00", "2026-10-30T08:00:00+00:00"),
            key2=(True, "2026-06-01T00:00:00+00:00", "N/A"),
        ),
    )
    inv = collect(tmp_path, details(users=[user("svc")]), report)
    creds = {c.name: c for c in inv.credentials}
    k1, k2 = creds["access key 1"], creds["access key 2"]
    assert k1.kind == CredentialKind.ACCESS_KEY and k1.status == "active"
    assert k1.created.isoformat() == "2025-01-02T03:04:05+00:00"
    assert k1.last_used.isoformat() == "2026-10-30T08:00:00+00:00" and k1.last_used_service == "s3"
    assert k1.usage_known and k2.usage_known and k2.last_used is None  # N/A = never used
    assert k1.id == f"arn:aws:iam::{ACCOUNT}:user/svc#access_key_1"
    activity = [u for u in inv.usage if u.identity_id.endswith("user/svc")]
    assert activity and activity[0].last_used == k1.last_used


def test_role_last_used_becomes_usage_with_the_400_day_window(tmp_path):
    inv = collect(tmp_path, details(roles=[role("used"), role("never", last_used=None)]))
    usage = {u.identity_id.rsplit("/", 1)[1]: u for u in inv.usage}
    assert usage["used"].last_used.isoformat() == "2026-10-30T12:00:00+00:00"
    assert usage["never"].last_used is None
    assert (usage["never"].window_end - usage["never"].window_start).days == 400


def test_trust_policies_become_trust_records(tmp_path):
    trust = doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::999988887777:root", f"arn:aws:iam::{ACCOUNT}:role/ci"]},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "x-1"}},
        },
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}},
        },
    )
    inv = collect(tmp_path, details(roles=[role("shared", trust=trust)]))
    kinds = {(t.principal_kind, t.internal) for t in inv.trusts}
    assert ("account", False) in kinds and ("role", True) in kinds and ("oidc", None) in kinds
    external = next(t for t in inv.trusts if t.principal_kind == "account")
    assert external.condition_keys == ["sts:ExternalId"]
    oidc = next(t for t in inv.trusts if t.principal_kind == "oidc")
    assert oidc.actions == ["sts:AssumeRoleWithWebIdentity"]
    assert "token.actions.githubusercontent.com:sub" in oidc.condition_keys


def test_several_page_files_are_merged(tmp_path):
    page1 = {**details(roles=[role("a"), role("b")], policies=[ADMIN]), "IsTruncated": True, "Marker": "m1"}
    page2 = {**details(roles=[role("c")], users=[user("u", managed=[ADMIN])]), "IsTruncated": False}
    files = [write_json(tmp_path / "p1.json", page1), write_json(tmp_path / "p2.json", page2)]
    inv = AwsExportCollector(files, snapshot_time=SNAPSHOT).collect()
    assert sorted(i.name for i in inv.identities) == ["a", "b", "c", "u"]
    assert ADMIN["Arn"] in inv.policies  # policy from page 1 resolves the attachment on page 2


def test_missing_last_page_is_an_error(tmp_path):
    page1 = {**details(roles=[role("a")]), "IsTruncated": True, "Marker": "m1"}
    with pytest.raises(InputError, match=r"incomplete.*pass every page file"):
        AwsExportCollector([write_json(tmp_path / "p1.json", page1)]).collect()
    cli_page = {**details(roles=[role("a")]), "NextToken": "eyJNYXJrZXIiOiBudWxsfQ=="}
    with pytest.raises(InputError, match="incomplete"):
        AwsExportCollector([write_json(tmp_path / "p2.json", cli_page)]).collect()


def test_missing_managed_policy_document_is_a_coverage_gap(tmp_path):
    inv = collect(tmp_path, details(roles=[role("r", managed=[ADMIN])]))  # Policies list lacks ADMIN
    gap = next(g for g in inv.coverage if g.source == f"policy:{ADMIN['Arn']}")
    assert gap.status == "partial" and "not in the export" in gap.detail


def test_without_credential_report_users_are_flagged_unknown(tmp_path):
    inv = collect(tmp_path, details(users=[user("u")]))
    assert any(g.source == "credential_report" and g.status == "not_supplied" for g in inv.coverage)
    u = by_name(inv, "u")
    assert u.is_nhi and u.human_signin is None and "no credential report" in u.classification
    assert not inv.credentials


def test_report_users_missing_from_the_export_are_kept_with_unknown_permissions(tmp_path):
    report = credential_report(report_row("ghost", key1=(True, "2024-01-01T00:00:00+00:00", "N/A")))
    inv = collect(tmp_path, details(), report)
    ghost = by_name(inv, "ghost")
    assert ghost.attributes.get("permissions_unknown")
    assert any("ghost" in w for w in inv.warnings)


def test_credential_report_json_form(tmp_path):
    csv_text = credential_report(report_row("svc", key1=(True, "2024-01-01T00:00:00+00:00", "N/A")))
    path = write_json(
        tmp_path / "report.json",
        {
            "Content": base64.b64encode(csv_text.encode()).decode(),
            "ReportFormat": "text/csv",
            "GeneratedTime": "2026-11-01T00:00:00+00:00",
        },
    )
    rows = read_credential_report(path)
    assert list(rows) == [f"arn:aws:iam::{ACCOUNT}:user/svc"]


def test_root_row_is_ignored(tmp_path):
    root = report_row("<root_account>")
    root["arn"] = f"arn:aws:iam::{ACCOUNT}:root"
    inv = collect(tmp_path, details(users=[user("svc")]), credential_report(root, report_row("svc")))
    assert [i.name for i in inv.identities] == ["svc"]


# --- bad input: one clear message naming the file and the problem ---------------------------------


def test_malformed_json(tmp_path):
    path = tmp_path / "authz.json"
    path.write_text('{"RoleDetailList": [ {"RoleName": "a",, } ]}')
    with pytest.raises(InputError, match=r"authz\.json: malformed JSON at line 1 column"):
        AwsExportCollector([path]).collect()


def test_truncated_json(tmp_path):
    full = json.dumps(details(roles=[role("a"), role("b")]))
    path = tmp_path / "authz.json"
    path.write_text(full[: len(full) // 2])
    with pytest.raises(InputError, match="looks truncated"):
        AwsExportCollector([path]).collect()


def test_wrong_kind_of_json(tmp_path):
    path = write_json(tmp_path / "other.json", {"Buckets": []})
    with pytest.raises(InputError, match="not an AWS authorization-details export"):
        AwsExportCollector([path]).collect()


def test_missing_required_field(tmp_path):
    data = details(roles=[role("a")])
    del data["RoleDetailList"][0]["RoleName"]
    with pytest.raises(InputError, match=r"RoleDetailList\[0\]: missing RoleName"):
        collect(tmp_path, data)


def test_unknown_policy_element_names_file_and_policy(tmp_path):
    data = details(
        roles=[
            role(
                "a",
                inline={
                    "bad": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Actions": "s3:*", "Resource": "*"}],
                    }
                },
            )
        ]
    )
    with pytest.raises(InputError, match=r"authz\.json.*inline policy bad.*unknown policy element 'Actions'"):
        collect(tmp_path, data)


def test_credential_report_with_missing_columns(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("user,arn,password_enabled\nsvc,arn:aws:iam::1:user/svc,false\n")
    with pytest.raises(InputError, match=r"report\.csv: not an IAM credential report: missing columns"):
        read_credential_report(path)


def test_truncated_credential_report(tmp_path):
    text = credential_report(report_row("a"), report_row("b"))
    path = tmp_path / "report.csv"
    path.write_text(text[: text.rindex(",N/A,false")])
    with pytest.raises(InputError, match="fewer fields than the header"):
        read_credential_report(path)


def test_bad_timestamp_in_report(tmp_path):
    row = report_row("svc", key1=(True, "yesterday", "N/A"))
    expected = r"report\.csv: row svc\.access_key_1_last_rotated: not a timestamp: 'yesterday'"
    with pytest.raises(InputError, match=expected):
        collect(tmp_path, details(users=[user("svc")]), credential_report(row))
