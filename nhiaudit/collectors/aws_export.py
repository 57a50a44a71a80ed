"""Offline AWS import: authorization-details JSON (one document or several page files) and,
optionally, the IAM credential report (CSV, or the JSON of ``aws iam get-credential-report``),
IAM Access Advisor and IAM Access Analyzer exports (``aws_usage_files``), and the organization's
accounts (the JSON of ``aws organizations list-accounts``).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from nhiaudit.collectors.aws_authz import CREDENTIAL_REPORT_COLUMNS, USER_RULES, AuthzConverter
from nhiaudit.collectors.aws_usage import advisor_targets, missing_advisor_gap
from nhiaudit.collectors.aws_usage_files import read_access_advisor, read_access_analyzer
from nhiaudit.collectors.interface import Collector
from nhiaudit.errors import InputError, PolicyError
from nhiaudit.model import CoverageGap, Grant, Identity, Inventory, Scope, Source, Usage, load_json_file, utcnow
from nhiaudit.perf import fewer_gc_pauses

LIST_KEYS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
ID_KEYS = {"UserDetailList": "Arn", "GroupDetailList": "Arn", "RoleDetailList": "Arn", "Policies": "Arn"}


def read_authorization_details(paths: list[Path]) -> dict[str, list[Any]]:
    """Merge one or more authorization-details documents (pages) into one set of lists."""
    if not paths:
        raise InputError("no authorization-details file given")
    merged: dict[str, dict[str, Any]] = {key: {} for key in LIST_KEYS}
    truncated: list[Path] = []
    for path in paths:
        data = load_json_file(path)
        if not isinstance(data, dict) or not any(key in data for key in LIST_KEYS):
            kind = data.get("kind") if isinstance(data, dict) else None
            hint = f" (this is an nhiaudit {kind.split('.')[-1]} file)" if isinstance(kind, str) else ""
            raise InputError(
                "not an AWS authorization-details export: expected UserDetailList, GroupDetailList, "
                f"RoleDetailList or Policies{hint}",
                source=path,
            )
        for key in LIST_KEYS:
            items = data.get(key, [])
            if not isinstance(items, list):
                raise InputError(f"{key} must be a list", source=path)
            for n, item in enumerate(items):
                ident = item.get(ID_KEYS[key]) if isinstance(item, dict) else None
                if not isinstance(ident, str):
                    raise InputError(f"{key}[{n}]: missing {ID_KEYS[key]}", source=path)
                merged[key].setdefault(ident, item)
        if data.get("IsTruncated") is True or data.get("NextToken"):
            truncated.append(path)
    if len(truncated) == len(paths):
        names = ", ".join(p.name for p in truncated)
        raise InputError(
            f"the export is incomplete: {names} {'says' if len(truncated) == 1 else 'say'} more pages follow "
            "(IsTruncated/NextToken) but no final page was given; pass every page file"
        )
    return {key: list(values.values()) for key, values in merged.items()}


def read_credential_report(path: Path) -> dict[str, dict[str, str]]:
    """Credential report rows keyed by user ARN."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", source=path) from None
    except OSError as exc:
        raise InputError(f"cannot read file: {exc}", source=path) from None
    text = raw.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("{"):
        # the JSON printed by `aws iam get-credential-report`: base64 CSV in "Content"
        data = load_json_file(path)
        content = data.get("Content") if isinstance(data, dict) else None
        if not isinstance(content, str):
            raise InputError("JSON credential report has no 'Content' field", source=path)
        try:
            text = base64.b64decode(content, validate=True).decode("utf-8-sig")
        except (binascii.Error, UnicodeDecodeError):
            raise InputError("credential report 'Content' is not base64-encoded CSV", source=path) from None
    return parse_credential_report(text, source=path)


def parse_credential_report(text: str, *, source: str | Path) -> dict[str, dict[str, str]]:
    """Credential report CSV text -> rows keyed by user ARN (also used by the live collector)."""
    path = source
    if not text.strip():
        raise InputError("credential report is empty", source=path)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in CREDENTIAL_REPORT_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"not an IAM credential report: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}",
            source=path,
        )
    rows: dict[str, dict[str, str]] = {}
    for n, row in enumerate(reader, 2):
        if None in row or any(v is None for v in row.values()):
            raise InputError(
                f"line {n} has {'more' if None in row else 'fewer'} fields than the header (the file may be truncated)",
                source=path,
            )
        arn = row["arn"]
        if not arn:
            raise InputError(f"line {n}: empty arn", source=path)
        rows[arn] = row
    return rows


ORG_ARN_RE = re.compile(r"^arn:aws[a-z-]*:organizations::\d{12}:account/(o-[a-z0-9]+)/\d{12}$")


def read_organization_accounts(path: Path) -> list[Scope]:
    """Accounts of the organization from ``aws organizations list-accounts`` (pages merged by the CLI).

    Each account may also carry ``Tags`` (a list of ``{"Key", "Value"}``, as written by
    ``aws organizations list-tags-for-resource``) for environment mapping.
    """
    data = load_json_file(path)
    accounts = data.get("Accounts") if isinstance(data, dict) else None
    if not isinstance(accounts, list):
        raise InputError(
            "not an 'aws organizations list-accounts' export: expected an object with an Accounts list", source=path
        )
    scopes: list[Scope] = []
    for n, account in enumerate(accounts):
        if not isinstance(account, dict) or not isinstance(account.get("Id"), str):
            raise InputError(f"Accounts[{n}]: missing Id", source=path)
        account_id = account["Id"]
        if not re.fullmatch(r"\d{12}", account_id):
            raise InputError(f"Accounts[{n}]: Id {account_id!r} is not a 12-digit account id", source=path)
        tags = account.get("Tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, dict) and "Key" in t for t in tags):
            raise InputError(f"Accounts[{n}]: Tags must be a list of {{Key, Value}} objects", source=path)
        org = ORG_ARN_RE.match(str(account.get("Arn", "")))
        scopes.append(
            Scope(
                provider="aws",
                id=account_id,
                kind="aws.account",
                name=account.get("Name"),
                parent=org.group(1) if org else None,
                tags={str(t["Key"]): str(t.get("Value", "")) for t in tags},
                in_organization=True,
                attributes={"status": account["Status"]} if account.get("Status") else {},
            )
        )
    return scopes


class AwsExportCollector(Collector):
    provider = "aws"

    def __init__(
        self,
        authorization_files: list[Path],
        credential_report: Path | None = None,
        *,
        snapshot_time: datetime | None = None,
        method: str = "offline",
        access_advisor: list[Path] | None = None,
        access_analyzer: list[Path] | None = None,
        organization_accounts: Path | None = None,
    ) -> None:
        self.authorization_files = authorization_files
        self.credential_report = credential_report
        self.organization_accounts = organization_accounts
        self.snapshot_time = snapshot_time
        self.method = method
        self.access_advisor = list(access_advisor or [])
        self.access_analyzer = list(access_analyzer or [])

    def collect(self) -> Inventory:
        with fewer_gc_pauses():
            return self._collect()

    def _collect(self) -> Inventory:
        details = read_authorization_details(self.authorization_files)
        report = read_credential_report(self.credential_report) if self.credential_report else None
        scopes = read_organization_accounts(self.organization_accounts) if self.organization_accounts else []
        where = ", ".join(p.name for p in self.authorization_files)
        snapshot = self.snapshot_time or utcnow()
        converter = AuthzConverter(
            where=where,
            snapshot=snapshot,
            report_where=self.credential_report.name if self.credential_report else "credential report",
            org_accounts={s.id for s in scopes},
        )
        try:
            converter.add_policies(details["Policies"])
            converter.add_groups(details["GroupDetailList"])
            converter.add_roles(details["RoleDetailList"])
            converter.add_users(details["UserDetailList"], report)
        except PolicyError as exc:
            raise InputError(str(exc)) from None
        out = converter.out
        accounts = sorted(out.accounts) or ["unknown"]
        coverage: list[CoverageGap] = []
        usage = list(out.usage)
        if self.access_advisor:
            coverage.extend(self._advisor(out.identities, out.grants, usage, out.warnings, snapshot))
        if self.access_analyzer:
            usage.extend(self._analyzer(out.identities, out.warnings))
        for account in accounts:
            if report is None:
                coverage.append(
                    CoverageGap(
                        provider="aws",
                        scope=account,
                        source="credential_report",
                        status="not_supplied",
                        detail=(
                            "no IAM credential report given (--credential-report): access keys, console "
                            "passwords and user activity are unknown, so user credential rules did not run"
                        ),
                        affects=USER_RULES,
                    )
                )
            if not self.access_advisor:
                coverage.append(
                    CoverageGap(
                        provider="aws",
                        scope=account,
                        source="access_advisor",
                        status="not_supplied",
                        detail=(
                            "no IAM Access Advisor data given (--access-advisor): service-level usage is unknown, "
                            "so granted-versus-used analysis (excess-privilege) did not run; a live scan collects it"
                        ),
                        affects=["excess-privilege"],
                    )
                )
        if converter.roles_without_last_used:
            coverage.append(
                CoverageGap(
                    provider="aws",
                    scope=accounts[0] if len(accounts) == 1 else "*",
                    source="role_last_used",
                    status="not_supplied",
                    detail=(
                        f"{converter.roles_without_last_used} roles have no RoleLastUsed in the export (older AWS CLI "
                        "versions omit it), so their activity is unknown and they are not judged unused"
                    ),
                    affects=["identity-unused"],
                )
            )
        missing = sorted({g.policy_id for g in out.grants if g.policy_id not in out.policies})
        for arn in missing:
            coverage.append(
                CoverageGap(
                    provider="aws",
                    scope=accounts[0] if len(accounts) == 1 else "*",
                    source=f"policy:{arn}",
                    status="partial",
                    detail=(
                        f"managed policy {arn} is attached but its document is not in the export; "
                        "identities using it are evaluated without it"
                    ),
                    affects=["admin-equivalent", "privilege-escalation"],
                )
            )
        inputs = [str(p) for p in self.authorization_files]
        if self.credential_report:
            inputs.append(str(self.credential_report))
        inputs.extend(str(p) for p in [*self.access_advisor, *self.access_analyzer])
        if self.organization_accounts:
            inputs.append(str(self.organization_accounts))
        return out.to_inventory(
            snapshot_time=self.snapshot_time,
            sources=[
                Source(provider="aws", scope=a, method=self.method, inputs=inputs, collected_at=snapshot)  # type: ignore[arg-type]
                for a in accounts
            ],
            usage=usage,
            coverage=coverage,
            scopes=scopes,
        )

    def _advisor(
        self,
        identities: list[Identity],
        grants: list[Grant],
        usage: list[Usage],
        warnings: list[str],
        snapshot: datetime,
    ) -> list[CoverageGap]:
        by_arn = read_access_advisor(self.access_advisor, snapshot=snapshot)
        known = {i.id for i in identities}
        for arn, records in by_arn.items():
            if arn not in known:
                warnings.append(f"Access Advisor data for {arn}, which is not in the authorization details: ignored")
                continue
            usage.extend(records)
        gaps: list[CoverageGap] = []
        targets = advisor_targets(identities, grants)
        for scope in sorted({i.scope for i in targets}):
            in_scope = [i for i in targets if i.scope == scope]
            missing = [i for i in in_scope if i.id not in by_arn]
            if missing:
                gaps.append(missing_advisor_gap(scope, missing, len(in_scope), why="not in the --access-advisor input"))
        return gaps

    def _analyzer(self, identities: list[Identity], warnings: list[str]) -> list[Usage]:
        records = read_access_analyzer(self.access_analyzer)
        known = {i.id for i in identities}
        unknown = sorted({r.identity_id for r in records if r.identity_id not in known})
        for arn in unknown:
            warnings.append(f"Access Analyzer finding for {arn}, which is not in the authorization details: ignored")
        return [r for r in records if r.identity_id in known]


def dump_details(details: dict[str, list[Any]]) -> str:
    """The merged lists as one authorization-details document (used by tests and benchmarks)."""
    return json.dumps({**details, "IsTruncated": False})
