"""Live usage evidence for one AWS account: IAM Access Advisor jobs and IAM Access Analyzer
unused-access findings, turned into ``Usage`` records by ``aws_usage``.

Access Advisor needs one job per principal (generate, then poll): jobs run concurrently with a
bounded worker count and polls back off. The first AccessDenied (or an endpoint that does not
offer the API) stops the remaining jobs of the account: the permission is account-wide, and
asking again for every principal would only cost time and API quota.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nhiaudit.collectors.aws_api import ApiFailure, Cancelled, PollPolicy, api_errors, classify, error_code, sleep
from nhiaudit.collectors.aws_usage import (
    ANALYZER_DEFAULT_AGE_DAYS,
    ANALYZER_FINDING_TYPES,
    advisor_usage,
    analyzer_usage,
    missing_advisor_gap,
)
from nhiaudit.collectors.progress import CollectionProgress
from nhiaudit.errors import InputError
from nhiaudit.model import CoverageGap, Identity, Usage

ADVISOR_AFFECTS = ["excess-privilege", "identity-unused"]
IAM_RESOURCE_TYPES = ("AWS::IAM::Role", "AWS::IAM::User")


@dataclass
class UsageResult:
    usage: list[Usage]
    gaps: list[CoverageGap]
    warnings: list[str]


def _gap(scope: str, source: str, status: str, detail: str, affects: list[str]) -> CoverageGap:
    return CoverageGap(provider="aws", scope=scope, source=source, status=status, detail=detail, affects=affects)  # type: ignore[arg-type]


class AccessAdvisor:
    """Service (and action) last-accessed data for many principals of one account."""

    def __init__(
        self,
        iam: Any,
        account: str,
        *,
        workers: int,
        poll: PollPolicy,
        progress: CollectionProgress,
        cancel: threading.Event | None = None,
    ) -> None:
        self.iam = iam
        self.account = account
        self.workers = max(1, workers)
        self.poll = poll
        self.progress = progress
        self.cancel = cancel
        self._stop = threading.Event()
        self._fatal: list[ApiFailure] = []
        self._lock = threading.Lock()

    def collect(self, targets: list[Identity], snapshot: datetime) -> UsageResult:
        self.progress.stage(self.account, "Access Advisor", total=len(targets))
        failures: dict[str, str] = {}
        skipped: list[Identity] = []

        def one(identity: Identity) -> list[Usage]:
            try:
                if self._stop.is_set():
                    skipped.append(identity)
                    return []
                try:
                    details = self.report(identity.id)
                except ApiFailure as failure:
                    if failure.status in ("denied", "unavailable"):
                        with self._lock:
                            self._fatal.append(failure)
                        self._stop.set()
                        skipped.append(identity)
                    else:
                        failures[identity.id] = str(failure)
                    return []
                try:
                    return advisor_usage(
                        identity.id, details, where=f"Access Advisor report of {identity.id}", fallback_end=snapshot
                    )
                except InputError as exc:
                    failures[identity.id] = str(exc)
                    return []
            finally:
                self.progress.advance(self.account)

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"advisor-{self.account}") as pool:
            results = list(pool.map(one, targets))
        usage = [u for records in results for u in records]
        gaps: list[CoverageGap] = []
        warnings: list[str] = []
        if self._fatal:
            failure = self._fatal[0]
            done = len(targets) - len(skipped) - len(failures)
            hint = (
                " (grant iam:GenerateServiceLastAccessedDetails and iam:GetServiceLastAccessedDetails; see docs/aws.md)"
                if failure.status == "denied"
                else ""
            )
            gaps.append(
                _gap(
                    self.account,
                    "access_advisor",
                    failure.status,
                    f"IAM Access Advisor: {failure}{hint}; service-level usage is unknown for "
                    f"{len(targets) - done} of {len(targets)} identities, so excess-privilege did not judge them",
                    ADVISOR_AFFECTS,
                )
            )
        elif failures:
            missing = [t for t in targets if t.id in failures]
            gaps.append(missing_advisor_gap(self.account, missing, len(targets), why="the Access Advisor job failed"))
            warnings.extend(f"Access Advisor report of {arn} failed: {why}" for arn, why in sorted(failures.items()))
        return UsageResult(usage, gaps, warnings)

    def report(self, arn: str) -> dict[str, Any]:
        """One principal's GetServiceLastAccessedDetails result with every page merged."""
        from botocore.exceptions import ClientError

        try:
            try:
                job = self.iam.generate_service_last_accessed_details(Arn=arn, Granularity="ACTION_LEVEL")
            except ClientError as exc:
                if error_code(exc) not in ("InvalidInput", "InvalidInputException", "ValidationError"):
                    raise
                job = self.iam.generate_service_last_accessed_details(Arn=arn, Granularity="SERVICE_LEVEL")
            job_id = job["JobId"]
            for delay in self.poll.delays():
                sleep(delay, self.cancel)
                page = self.iam.get_service_last_accessed_details(JobId=job_id, MaxItems=1000)
                status = page.get("JobStatus")
                if status == "IN_PROGRESS":
                    continue
                if status == "FAILED":
                    message = (page.get("Error") or {}).get("Message") or "no reason given"
                    raise ApiFailure("error", "iam:GetServiceLastAccessedDetails", f"the job failed: {message}")
                services = list(page.get("ServicesLastAccessed") or [])
                while page.get("IsTruncated"):
                    page = self.iam.get_service_last_accessed_details(
                        JobId=job_id, MaxItems=1000, Marker=page["Marker"]
                    )
                    services.extend(page.get("ServicesLastAccessed") or [])
                return {**page, "JobStatus": "COMPLETED", "ServicesLastAccessed": services}
        except api_errors() as exc:
            raise classify(exc, "iam:GenerateServiceLastAccessedDetails") from None
        raise ApiFailure(
            "error", "iam:GetServiceLastAccessedDetails", f"the job did not finish within {self.poll.timeout:.0f} s"
        )


@dataclass(frozen=True)
class AnalyzerRef:
    """An unused-access analyzer and the client that reads it."""

    client: Any
    arn: str
    age_days: int
    organization: bool = False


def find_unused_access_analyzer(client: Any, kind: str) -> AnalyzerRef | None:
    """The first ACTIVE analyzer of ``kind`` (ACCOUNT_UNUSED_ACCESS or ORGANIZATION_UNUSED_ACCESS)."""

    try:
        for page in client.get_paginator("list_analyzers").paginate(type=kind):
            for analyzer in page.get("analyzers", []):
                if analyzer.get("status") != "ACTIVE":
                    continue
                config = (analyzer.get("configuration") or {}).get("unusedAccess") or {}
                return AnalyzerRef(
                    client=client,
                    arn=analyzer["arn"],
                    age_days=int(config.get("unusedAccessAge") or ANALYZER_DEFAULT_AGE_DAYS),
                    organization=kind.startswith("ORGANIZATION"),
                )
    except api_errors() as exc:
        raise classify(exc, "access-analyzer:ListAnalyzers") from None
    return None


class AccessAnalyzer:
    """Unused-access findings about one account's IAM roles and users."""

    def __init__(self, account: str, region: str, progress: CollectionProgress) -> None:
        self.account = account
        self.region = region
        self.progress = progress

    def collect(self, find_account_analyzer: Callable[[], AnalyzerRef | None], org: AnalyzerRef | None) -> UsageResult:
        self.progress.stage(self.account, "Access Analyzer")
        try:
            analyzer = find_account_analyzer() or org
        except ApiFailure as failure:
            if org is None:
                return UsageResult([], [self._failure_gap(failure)], [])
            analyzer = org
        if analyzer is None:
            detail = (
                f"no active unused-access analyzer in {self.region} (account or organization): Access Analyzer "
                "evidence was not collected; Access Advisor and RoleLastUsed still were (create one, or pass "
                "--region where it lives)"
            )
            return UsageResult([], [_gap(self.account, "access_analyzer", "unavailable", detail, [])], [])
        try:
            return UsageResult(self._findings(analyzer), [], [])
        except ApiFailure as failure:
            return UsageResult([], [self._failure_gap(failure)], [])

    def _failure_gap(self, failure: ApiFailure) -> CoverageGap:
        return _gap(self.account, "access_analyzer", failure.status, f"IAM Access Analyzer: {failure}", [])

    def _findings(self, analyzer: AnalyzerRef) -> list[Usage]:

        criteria: dict[str, Any] = {"status": {"eq": ["ACTIVE"]}}
        if analyzer.organization:
            criteria["resourceOwnerAccount"] = {"eq": [self.account]}
        records: list[Usage] = []
        operation = "access-analyzer:ListFindingsV2"
        try:
            pages = analyzer.client.get_paginator("list_findings_v2").paginate(
                analyzerArn=analyzer.arn, filter=criteria
            )
            for page in pages:
                for summary in page.get("findings", []):
                    if summary.get("findingType") not in ANALYZER_FINDING_TYPES:
                        continue
                    if summary.get("resourceType") not in IAM_RESOURCE_TYPES:
                        continue
                    if summary.get("resourceOwnerAccount") not in (None, self.account):
                        continue
                    operation = "access-analyzer:GetFindingV2"
                    finding = self._finding(analyzer, summary["id"])
                    records.extend(
                        analyzer_usage(
                            finding, age_days=analyzer.age_days, where=f"Access Analyzer finding {summary['id']}"
                        )
                    )
                    operation = "access-analyzer:ListFindingsV2"
        except api_errors() as exc:
            raise classify(exc, operation) from None
        except InputError as exc:
            raise ApiFailure("error", operation, f"unexpected finding content: {exc}") from None
        return records

    @staticmethod
    def _finding(analyzer: AnalyzerRef, finding_id: str) -> dict[str, Any]:
        details: list[Any] = []
        first: dict[str, Any] | None = None
        for page in analyzer.client.get_paginator("get_finding_v2").paginate(analyzerArn=analyzer.arn, id=finding_id):
            first = first or page
            details.extend(page.get("findingDetails") or [])
        assert first is not None
        return {**first, "findingDetails": details}


__all__ = ["AccessAdvisor", "AccessAnalyzer", "AnalyzerRef", "Cancelled", "UsageResult", "find_unused_access_analyzer"]
