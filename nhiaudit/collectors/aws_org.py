"""Which accounts a live scan covers: the caller's account, a list, or an AWS Organization.

In organization mode every account is reached by assuming the same named role in it
(``--org-role-name``); the account the scan runs in is scanned with the scan's own credentials.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nhiaudit.collectors.aws_api import ApiCallLog, ClientSettings, api_errors, classify, error_code, make_client
from nhiaudit.collectors.aws_session import Caller
from nhiaudit.errors import CollectionError, NhiauditError

if TYPE_CHECKING:
    import boto3

DEFAULT_ORG_ROLE = "nhiaudit-readonly"
"""The role nhiaudit assumes in each account. Deploy it with docs/aws.md's StackSet template; pass
``--org-role-name OrganizationAccountAccessRole`` to use the (administrator) role Organizations
creates, at the cost of least privilege."""

ACCOUNT_RE = re.compile(r"^\d{12}$")
ROLE_NAME_RE = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


@dataclass(frozen=True)
class AccountTarget:
    account_id: str
    name: str | None = None
    role_arn: str | None = None
    """Role to assume; None = use the scan's own credentials (the caller's account)."""

    @property
    def label(self) -> str:
        return f"{self.account_id} ({self.name})" if self.name else self.account_id


@dataclass
class ScanPlan:
    targets: list[AccountTarget]
    org_accounts: set[str] = field(default_factory=set)
    """Every account id of the organization (trust analysis treats them as internal)."""
    skipped: list[str] = field(default_factory=list)
    """Why accounts were left out (suspended, excluded), for the inventory's warnings."""
    names: dict[str, str] = field(default_factory=dict)
    """Account id -> name, from AWS Organizations (trust analysis reads environments from names)."""


def parse_accounts(values: list[str] | None, option: str) -> list[str]:
    """Account ids from repeated and/or comma-separated option values."""
    ids: list[str] = []
    for value in values or []:
        for part in value.replace(" ", ",").split(","):
            if not part:
                continue
            if not ACCOUNT_RE.match(part):
                raise NhiauditError(f"{option}: {part!r} is not a 12-digit AWS account id")
            if part not in ids:
                ids.append(part)
    return ids


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name.strip('/')}"


def list_organization_accounts(
    session: boto3.Session, log: ApiCallLog, settings: ClientSettings
) -> list[tuple[str, str, str]]:
    """(id, name, state) of every account in the organization."""

    client = make_client(session, "organizations", log, settings)
    accounts: list[tuple[str, str, str]] = []
    try:
        for page in client.get_paginator("list_accounts").paginate():
            for acct in page.get("Accounts", []):
                state = acct.get("State") or acct.get("Status") or "ACTIVE"
                accounts.append((acct["Id"], acct.get("Name", ""), str(state)))
    except api_errors() as exc:
        code = error_code(exc)
        if code == "AWSOrganizationsNotInUseException":
            raise CollectionError(
                "--org: this account is not part of an AWS Organization; scan it without --org, or name the "
                "accounts with --accounts"
            ) from None
        failure = classify(exc, "organizations:ListAccounts")
        hint = (
            " (run from the management account or a delegated administrator, or name the accounts with --accounts)"
            if failure.status == "denied"
            else ""
        )
        raise CollectionError(f"cannot list the organization's accounts: {failure}{hint}") from None
    return accounts


def plan_scan(
    session: boto3.Session,
    caller: Caller,
    log: ApiCallLog,
    settings: ClientSettings,
    *,
    organization: bool,
    accounts: list[str],
    exclude: list[str],
    role_name: str,
) -> ScanPlan:
    if not ROLE_NAME_RE.match(role_name):
        raise NhiauditError(f"--org-role-name: {role_name!r} is not a valid IAM role name (or path/name)")
    if not organization and not accounts:
        return ScanPlan(targets=[AccountTarget(caller.account)], org_accounts={caller.account})

    names: dict[str, str] = {}
    org_ids: set[str] = set()
    skipped: list[str] = []
    if organization:
        wanted: list[str] = []
        for acct_id, name, state in list_organization_accounts(session, log, settings):
            org_ids.add(acct_id)
            names[acct_id] = name
            if state != "ACTIVE":
                skipped.append(f"account {acct_id} ({name}) skipped: it is {state.lower()}")
                continue
            if accounts and acct_id not in accounts:
                continue
            wanted.append(acct_id)
        missing = [a for a in accounts if a not in org_ids]
        if missing:
            raise NhiauditError(f"--accounts: {', '.join(missing)} not in the organization")
    else:
        wanted = list(accounts)
    for acct in exclude:
        if acct in wanted:
            wanted.remove(acct)
            skipped.append(f"account {acct} skipped: --exclude-accounts")
    if not wanted:
        raise NhiauditError("no account left to scan after --accounts / --exclude-accounts")
    targets = [
        AccountTarget(
            account_id=acct,
            name=names.get(acct) or None,
            role_arn=None if acct == caller.account else role_arn(caller.partition, acct, role_name),
        )
        for acct in wanted
    ]
    return ScanPlan(
        targets=targets, org_accounts=org_ids or set(wanted) | {caller.account}, skipped=skipped, names=names
    )
