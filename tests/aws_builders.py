"""Builders for AWS authorization-details documents and credential reports, shaped exactly as
``aws iam get-account-authorization-details`` and the IAM credential report print them."""

from __future__ import annotations

import csv
import io
from typing import Any

ACCOUNT = "210987654321"
REPORT_COLUMNS = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "password_next_rotation",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
]


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(actions: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resource, **extra}


def deny(actions: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict:
    return {"Effect": "Deny", "Action": actions, "Resource": resource, **extra}


def service_trust(service: str = "lambda.amazonaws.com") -> dict:
    return doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


def managed_policy(name: str, document: dict, *, aws: bool = False, path: str = "/") -> dict:
    arn = f"arn:aws:iam::aws:policy{path}{name}" if aws else f"arn:aws:iam::{ACCOUNT}:policy{path}{name}"
    return {
        "PolicyName": name,
        "PolicyId": "ANPA" + name.upper()[:13].ljust(17, "Q"),
        "Arn": arn,
        "Path": path,
        "DefaultVersionId": "v2",
        "AttachmentCount": 1,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": "2021-01-01T00:00:00+00:00",
        "UpdateDate": "2022-01-01T00:00:00+00:00",
        "PolicyVersionList": [
            {
                "Document": doc(allow("s3:ListAllMyBuckets")),
                "VersionId": "v1",
                "IsDefaultVersion": False,
                "CreateDate": "2021-01-01T00:00:00+00:00",
            },
            {
                "Document": document,
                "VersionId": "v2",
                "IsDefaultVersion": True,
                "CreateDate": "2022-01-01T00:00:00+00:00",
            },
        ],
    }


ADMIN = managed_policy("AdministratorAccess", doc(allow("*")), aws=True)


def role(
    name: str,
    *,
    created: str = "2022-03-01T10:00:00+00:00",
    trust: dict | None = None,
    inline: dict[str, dict] | None = None,
    managed: list[dict] | None = None,
    boundary: dict | None = None,
    last_used: str | None = "2026-10-30T12:00:00+00:00",
    path: str = "/",
    tags: dict[str, str] | None = None,
) -> dict:
    item: dict[str, Any] = {
        "Path": path,
        "RoleName": name,
        "RoleId": "AROA" + name.upper().replace("-", "")[:13].ljust(17, "Z"),
        "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}",
        "CreateDate": created,
        "AssumeRolePolicyDocument": trust or service_trust(),
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in managed or []],
        "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "RoleLastUsed": {"LastUsedDate": last_used, "Region": "eu-west-1"} if last_used else {},
    }
    if boundary is not None:
        item["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary["Arn"]}
    return item


def user(
    name: str,
    *,
    created: str = "2022-03-01T10:00:00+00:00",
    inline: dict[str, dict] | None = None,
    managed: list[dict] | None = None,
    groups: list[str] | None = None,
    boundary: dict | None = None,
) -> dict:
    item: dict[str, Any] = {
        "Path": "/",
        "UserName": name,
        "UserId": "AIDA" + name.upper().replace("-", "")[:13].ljust(17, "Y"),
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}",
        "CreateDate": created,
        "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "GroupList": groups or [],
        "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in managed or []],
        "Tags": [],
    }
    if boundary is not None:
        item["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary["Arn"]}
    return item


def group(name: str, *, inline: dict[str, dict] | None = None, managed: list[dict] | None = None) -> dict:
    return {
        "Path": "/",
        "GroupName": name,
        "GroupId": "AGPA" + name.upper()[:13].ljust(17, "X"),
        "Arn": f"arn:aws:iam::{ACCOUNT}:group/{name}",
        "CreateDate": "2020-01-01T00:00:00+00:00",
        "GroupPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in managed or []],
    }


def details(
    *,
    roles: list[dict] | None = None,
    users: list[dict] | None = None,
    groups: list[dict] | None = None,
    policies: list[dict] | None = None,
) -> dict:
    return {
        "UserDetailList": users or [],
        "GroupDetailList": groups or [],
        "RoleDetailList": roles or [],
        "Policies": policies or [],
    }


def report_row(
    name: str,
    *,
    created: str = "2022-03-01T10:00:00+00:00",
    password: tuple[str, str] | None = None,
    key1: tuple[bool, str, str] | None = None,
    key2: tuple[bool, str, str] | None = None,
) -> dict[str, str]:
    """``password`` = (last used, last changed); ``keyN`` = (active, last rotated, last used or 'N/A')."""
    row = dict.fromkeys(REPORT_COLUMNS, "N/A")
    row.update(
        user=name,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        user_creation_time=created,
        password_enabled="false",
        mfa_active="false",
        cert_1_active="false",
        cert_2_active="false",
    )
    if password:
        row.update(password_enabled="true", password_last_used=password[0], password_last_changed=password[1])
    for slot, key in ((1, key1), (2, key2)):
        row[f"access_key_{slot}_active"] = "false"
        if key:
            active, rotated, used = key
            row[f"access_key_{slot}_active"] = "true" if active else "false"
            row[f"access_key_{slot}_last_rotated"] = rotated
            row[f"access_key_{slot}_last_used_date"] = used
            if used != "N/A":
                row[f"access_key_{slot}_last_used_region"] = "eu-west-1"
                row[f"access_key_{slot}_last_used_service"] = "s3"
    return row


def credential_report(*rows: dict[str, str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=REPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()
