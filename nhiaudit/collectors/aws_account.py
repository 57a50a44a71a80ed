"""Live collection of one AWS account: authorization details, credentials, usage evidence.

API cost per account: one paginated GetAccountAuthorizationDetails pass (users, groups, roles and
policies: no per-identity list calls), the credential report (generate + get), ListAccessKeys per
IAM user for real key ids, GetAccessKeyLastUsed only for keys the report says nothing about, and
the usage evidence (``aws_usage_live``). Everything else is a coverage gap, never a crash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nhiaudit.collectors.aws_api import (
    ApiCallLog,
    ApiFailure,
    ClientSettings,
    PollPolicy,
    api_errors,
    classify,
    error_code,
    make_client,
    sleep,
)
from nhiaudit.collectors.aws_authz import USER_RULES, AuthzConverter, parse_time
from nhiaudit.collectors.aws_export import parse_credential_report
from nhiaudit.collectors.aws_usage import advisor_targets
from nhiaudit.collectors.aws_usage_live import AccessAdvisor, AccessAnalyzer, AnalyzerRef, find_unused_access_analyzer
from nhiaudit.collectors.progress import CollectionProgress
from nhiaudit.errors import InputError, PolicyError
from nhiaudit.model import CoverageGap, Inventory, Source, utcnow

if TYPE_CHECKING:
    import boto3

GAAD_PAGE_SIZE = 1000
UNKNOWN_USAGE = ("", "no_information", "not_supported")
REPORT_KEY_FIELDS = ("active", "last_rotated", "last_used_date", "last_used_region", "last_used_service")


@dataclass
class AccountOptions:
    usage: bool = True
    """Collect usage evidence (Access Advisor, Access Analyzer)."""
    identity_workers: int = 8
    """Concurrent Access Advisor jobs per account."""
    analyzer_region: str | None = None
    poll: PollPolicy = field(default_factory=PollPolicy)
    client: ClientSettings = field(default_factory=ClientSettings)


class AccountFailure(Exception):
    """Nothing could be collected from the account (its authorization details are unavailable)."""

    def __init__(self, failure: ApiFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else "N/A"


class AccountCollector:
    def __init__(
        self,
        session: boto3.Session,
        account: str,
        *,
        options: AccountOptions,
        log: ApiCallLog,
        progress: CollectionProgress,
        org_accounts: set[str],
        org_analyzer: AnalyzerRef | None = None,
        cancel: threading.Event | None = None,
        inputs: list[str] | None = None,
    ) -> None:
        self.session = session
        self.account = account
        self.options = options
        self.log = log
        self.progress = progress
        self.org_accounts = org_accounts
        self.org_analyzer = org_analyzer
        self.cancel = cancel
        self.inputs = inputs or []
        self.gaps: list[CoverageGap] = []
        self.warnings: list[str] = []
        self._last_used_denied: ApiFailure | None = None
        self.iam = make_client(session, "iam", log, options.client)

    def _gap(self, source: str, status: str, detail: str, affects: list[str] | None = None) -> None:
        self.gaps.append(
            CoverageGap(
                provider="aws",
                scope=self.account,
                source=source,
                status=status,  # type: ignore[arg-type]
                detail=detail,
                affects=affects or [],
            )
        )

    # --- the whole account -------------------------------------------------------------------

    def collect(self) -> Inventory:
        snapshot = utcnow()
        self.progress.stage(self.account, "authorization details")
        details = self.authorization_details()
        self.progress.stage(self.account, "credential report")
        report = self.credential_report()
        converter = AuthzConverter(where=f"account {self.account}", snapshot=snapshot, org_accounts=self.org_accounts)
        try:
            converter.add_policies(details["Policies"])
            converter.add_groups(details["GroupDetailList"])
            converter.add_roles(details["RoleDetailList"])
            users = details["UserDetailList"]
            self.progress.stage(self.account, "access keys", total=len(users))
            converter.add_users(users, self.user_rows(users, report))
        except (PolicyError, InputError) as exc:
            raise AccountFailure(
                ApiFailure("error", "iam:GetAccountAuthorizationDetails", f"unexpected content: {exc}")
            ) from None
        out = converter.out
        for arn in sorted({g.policy_id for g in out.grants if g.policy_id not in out.policies}):
            self._gap(
                f"policy:{arn}",
                "partial",
                f"managed policy {arn} is attached but GetAccountAuthorizationDetails returned no document for "
                "it; identities using it are evaluated without it",
                ["admin-equivalent", "privilege-escalation", "excess-privilege"],
            )
        usage = list(out.usage)
        if self.options.usage:
            targets = advisor_targets(out.identities, out.grants)
            advisor = AccessAdvisor(
                self.iam,
                self.account,
                workers=self.options.identity_workers,
                poll=self.options.poll,
                progress=self.progress,
                cancel=self.cancel,
            ).collect(targets, snapshot)
            analyzer = AccessAnalyzer(self.account, self._analyzer_region, self.progress).collect(
                self._account_analyzer, self.org_analyzer
            )
            for result in (advisor, analyzer):
                usage.extend(result.usage)
                self.gaps.extend(result.gaps)
                self.warnings.extend(result.warnings)
        else:
            self._gap(
                "access_advisor",
                "not_supplied",
                "usage evidence was not collected (--no-usage): excess-privilege did not run and unused identities "
                "are judged on RoleLastUsed and the credential report only",
                ["excess-privilege"],
            )
        return out.to_inventory(
            snapshot_time=snapshot,
            sources=[
                Source(
                    provider="aws",
                    scope=self.account,
                    method="live",
                    inputs=self.inputs,
                    collected_at=snapshot,
                    api_calls=dict(sorted(self.log.calls.items())),
                )
            ],
            usage=usage,
            coverage=self.gaps,
            warnings=[*out.warnings, *self.warnings],
        )

    # --- authorization details ------------------------------------------------------------------

    def authorization_details(self) -> dict[str, list[Any]]:
        """One paginated pass for users, groups, roles and (attached) managed policies."""

        merged: dict[str, list[Any]] = {k: [] for k in ("UserDetailList", "GroupDetailList", "RoleDetailList")}
        merged["Policies"] = []
        try:
            pages = self.iam.get_paginator("get_account_authorization_details").paginate(
                PaginationConfig={"PageSize": GAAD_PAGE_SIZE}
            )
            for page in pages:
                for key, items in merged.items():
                    items.extend(page.get(key) or [])
                self.progress.advance(self.account)
        except api_errors() as exc:
            raise AccountFailure(classify(exc, "iam:GetAccountAuthorizationDetails")) from None
        return merged

    # --- credential report ----------------------------------------------------------------------

    def credential_report(self) -> dict[str, dict[str, str]] | None:
        """Rows keyed by user ARN, or None (with a coverage gap) when the report is unavailable."""
        from botocore.exceptions import ClientError

        operation = "iam:GenerateCredentialReport"
        try:
            state = self.iam.generate_credential_report().get("State")
            operation = "iam:GetCredentialReport"
            delays = self.options.poll.delays()
            wait = 0.0 if state == "COMPLETE" else next(delays)
            while True:
                if wait:
                    sleep(wait, self.cancel)
                try:
                    response = self.iam.get_credential_report()
                    break
                except ClientError as exc:
                    code = error_code(exc)
                    if code in ("ReportNotPresent", "ReportExpired"):
                        operation = "iam:GenerateCredentialReport"
                        self.iam.generate_credential_report()
                        operation = "iam:GetCredentialReport"
                    elif code != "ReportInProgress":
                        raise
                next_wait = next(delays, None)
                if next_wait is None:
                    raise ApiFailure("error", operation, "the credential report was not ready in time") from None
                wait = next_wait
            content = response["Content"]
            text = content.decode("utf-8-sig") if isinstance(content, bytes) else str(content)
            return parse_credential_report(text, source=f"credential report of account {self.account}")
        except (*api_errors(), ApiFailure) as exc:
            failure = classify(exc, operation)
            self._gap(
                "credential_report",
                failure.status,
                f"IAM credential report: {failure}; access keys and passwords were read per user instead "
                "(ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile, ListUsers)",
            )
            return None
        except InputError as exc:
            self._gap("credential_report", "error", f"IAM credential report unreadable: {exc}; read per user instead")
            return None

    # --- access keys and passwords ------------------------------------------------------------------

    def user_rows(self, users: list[Any], report: dict[str, dict[str, str]] | None) -> dict[str, dict[str, str]] | None:
        """Credential-report rows for the users of the authorization details, completed with real
        AccessKeyIds, the keys' current status and, where the report lacks it, their last use."""

        rows: dict[str, dict[str, str]] = {}
        need_password = [u for u in users if report is None or u["Arn"] not in report]
        passwords = self._passwords(need_password) if need_password else {}
        keys_denied: ApiFailure | None = None
        for user in users:
            arn, name = user["Arn"], user["UserName"]
            from_report = report is not None and arn in report
            row = dict(report[arn]) if from_report else self._blank_row(user, passwords.get(arn))
            keys_read = False
            if keys_denied is None:
                try:
                    keys = [
                        k
                        for page in self.iam.get_paginator("list_access_keys").paginate(UserName=name)
                        for k in page.get("AccessKeyMetadata", [])
                    ]
                    self._merge_keys(row, keys, trust_report=from_report)
                    keys_read = True
                except api_errors() as exc:
                    if error_code(exc) == "NoSuchEntity":
                        continue  # deleted since the authorization details were read
                    keys_denied = classify(exc, "iam:ListAccessKeys")
            if from_report or keys_read:
                rows[arn] = row  # a user with neither stays "credentials unknown", never "no credentials"
            self.progress.advance(self.account)
        if keys_denied is not None:
            self._gap(
                "access_keys",
                keys_denied.status,
                f"access keys: {keys_denied}; "
                + (
                    "key ids and last use come from the credential report only"
                    if report is not None
                    else "access keys and user activity are unknown"
                ),
                [] if report is not None else USER_RULES,
            )
        if self._last_used_denied is not None:
            self._gap(
                "access_key_last_used",
                self._last_used_denied.status,
                f"access key last use: {self._last_used_denied}; keys the credential report does not describe "
                "have unknown last use",
                ["credential-never-used", "credential-unused"],
            )
        if report is None and not rows:
            return None
        return rows

    def _merge_keys(self, row: dict[str, str], keys: list[dict[str, Any]], *, trust_report: bool) -> None:
        """Put each key in the report slot that describes it (matched by creation time); ask
        GetAccessKeyLastUsed only where the report has nothing usable for that key."""

        keys = sorted(keys, key=lambda k: k["CreateDate"])[:2]
        slot_created = {
            slot: parse_time(row.get(f"access_key_{slot}_last_rotated"), where="credential report")
            if trust_report
            else None
            for slot in (1, 2)
        }
        assigned: dict[int, dict[str, Any]] = {}
        for key in keys:
            created = parse_time(key["CreateDate"])
            match = next(
                (
                    s
                    for s, c in slot_created.items()
                    if s not in assigned and c is not None and created and abs((c - created).total_seconds()) < 2
                ),
                None,
            )
            if match is not None:
                assigned[match] = {**key, "_matched": True}
        for key in keys:
            if any(a["AccessKeyId"] == key["AccessKeyId"] for a in assigned.values()):
                continue
            free = next(s for s in (1, 2) if s not in assigned)
            assigned[free] = {**key, "_matched": False}
        for slot in (1, 2):
            prefix = f"access_key_{slot}"
            key = assigned.get(slot)
            if key is None:
                row.update({f"{prefix}_{f}": "N/A" for f in REPORT_KEY_FIELDS})
                row[f"{prefix}_active"] = "false"
                row[f"{prefix}_id"] = ""
                continue
            row[f"{prefix}_id"] = key["AccessKeyId"]
            row[f"{prefix}_active"] = "true" if key.get("Status") == "Active" else "false"
            row[f"{prefix}_last_rotated"] = _iso(parse_time(key["CreateDate"]))
            known = key["_matched"] and (row.get(f"{prefix}_last_used_date") or "").strip().lower() not in UNKNOWN_USAGE
            if known:
                continue
            if self._last_used_denied is not None:
                row[f"{prefix}_last_used_date"] = "no_information"
                continue
            try:
                last = self.iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
            except api_errors() as exc:
                self._last_used_denied = classify(exc, "iam:GetAccessKeyLastUsed")
                row[f"{prefix}_last_used_date"] = "no_information"
                continue
            row[f"{prefix}_last_used_date"] = _iso(parse_time(last.get("LastUsedDate")))
            row[f"{prefix}_last_used_service"] = last.get("ServiceName") or "N/A"
            row[f"{prefix}_last_used_region"] = last.get("Region") or "N/A"

    def _passwords(self, users: list[Any]) -> dict[str, tuple[str, str]]:
        """(password_enabled, password_last_used) per user ARN for users missing from the report."""
        from botocore.exceptions import ClientError

        result: dict[str, tuple[str, str]] = {}
        wanted = {u["Arn"] for u in users}
        last_used: dict[str, str] = {}
        try:
            for page in self.iam.get_paginator("list_users").paginate():
                for user in page.get("Users", []):
                    if user["Arn"] in wanted and user.get("PasswordLastUsed"):
                        last_used[user["Arn"]] = _iso(parse_time(user["PasswordLastUsed"]))
            for user in users:
                try:
                    self.iam.get_login_profile(UserName=user["UserName"])
                    enabled = "true"
                except ClientError as exc:
                    if error_code(exc) != "NoSuchEntity":
                        raise
                    enabled = "false"
                result[user["Arn"]] = (enabled, last_used.get(user["Arn"], "no_information" if enabled else "N/A"))
        except api_errors() as exc:
            failure = classify(exc, "iam:GetLoginProfile")
            self._gap(
                "console_passwords",
                failure.status,
                f"console passwords: {failure}; whether {len(users)} users can sign in to the console is unknown",
                ["human-usable-nhi"],
            )
        return result

    @staticmethod
    def _blank_row(user: Any, password: tuple[str, str] | None) -> dict[str, str]:
        enabled, used = password or ("not_supported", "not_supported")
        row = {
            "user": user["UserName"],
            "arn": user["Arn"],
            "user_creation_time": _iso(parse_time(user.get("CreateDate"))),
            "password_enabled": enabled,
            "password_last_used": used,
            "password_last_changed": "N/A",
            "mfa_active": "not_supported",
        }
        for slot in (1, 2):
            row.update({f"access_key_{slot}_{f}": "N/A" for f in REPORT_KEY_FIELDS})
            row[f"access_key_{slot}_active"] = "false"
        return row

    # --- Access Analyzer -------------------------------------------------------------------------

    @property
    def _analyzer_region(self) -> str:
        return self.options.analyzer_region or self.session.region_name or "us-east-1"

    def _account_analyzer(self) -> AnalyzerRef | None:
        client = make_client(
            self.session, "accessanalyzer", self.log, self.options.client, region=self._analyzer_region, max_attempts=3
        )
        return find_unused_access_analyzer(client, "ACCOUNT_UNUSED_ACCESS")
