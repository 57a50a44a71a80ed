"""AWS test doubles for the live collector: moto plus what moto lacks.

Everything goes through boto3's real serializers and parsers:

* moto (in-process ``mock_aws`` or ``ThreadedMotoServer``) serves IAM, STS and Organizations;
* ``AdvisorFake`` adds IAM Access Advisor to moto by patching moto's IAM response class (moto then
  serializes the result with the botocore model, so boto3's XML parser runs);
* ``AnalyzerFake`` serves IAM Access Analyzer's rest-json API from a local HTTP server on 127.0.0.1
  (``AWS_ENDPOINT_URL_ACCESSANALYZER`` points boto3 at it);
* ``page_gaad`` makes moto honour MaxItems/Marker for GetAccountAuthorizationDetails;
* ``throttle`` makes a moto IAM operation answer ``Throttling`` a number of times.

Recipes: ../shared/reference/sdk-testing.md. Nothing of nhiaudit is mocked.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.iam.responses import IamResponse
from werkzeug import Request, Response

MGMT = "123456789012"  # moto's default account
NOW = datetime.now(UTC).replace(microsecond=0)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def naive(moment: datetime) -> datetime:
    """moto stores naive UTC datetimes."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def trust(service: str = "ec2.amazonaws.com") -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def trust_account(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def allow(*actions: str, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}
    )


def set_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, no config files, no endpoint overrides: nothing can reach real AWS."""
    for name in list(__import__("os").environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def backend(account: str = MGMT) -> Any:
    return iam_backends[account]["aws"]


def backdate_key(account: str, key_id: str, *, created: datetime, last_used: datetime | None = None) -> None:
    from moto.iam.models import AccessKeyLastUsed

    key = backend(account).access_keys[key_id]
    key.create_date = naive(created)
    if last_used is not None:
        key.last_used = AccessKeyLastUsed(timestamp=naive(last_used), service="s3", region="us-east-1")


def backdate_role(account: str, name: str, *, created: datetime, last_used: datetime | None = None) -> None:
    role = next(r for r in backend(account).roles.values() if r.name == name)
    role.create_date = naive(created)
    if last_used is not None:
        role.last_used = naive(last_used)
        role.last_used_region = "us-east-1"


def backdate_user(account: str, name: str, *, created: datetime) -> None:
    backend(account).users[name].create_date = naive(created)


def member_session(account: str, role: str = "OrganizationAccountAccessRole") -> boto3.Session:
    """Set-up credentials inside a member account (moto maps assumed-role keys to the account)."""
    creds = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test-setup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


# --- IAM Access Advisor -----------------------------------------------------------------------


def service(namespace: str, last: datetime | None = None, actions: dict[str, datetime | None] | None = None) -> dict:
    """One ServicesLastAccessed entry (``last`` None = not accessed in the tracking period)."""
    entry: dict[str, Any] = {
        "ServiceName": f"Service {namespace}",
        "ServiceNamespace": namespace,
        "TotalAuthenticatedEntities": 1 if last else 0,
    }
    if last is not None:
        entry.update(LastAuthenticated=last, LastAuthenticatedRegion="us-east-1")
    if actions is not None:
        entry["TrackedActionsLastAccessed"] = [
            {"ActionName": name, **({"LastAccessedTime": when, "LastAccessedRegion": "us-east-1"} if when else {})}
            for name, when in actions.items()
        ]
    return entry


@dataclass
class AdvisorFake:
    """Service-last-accessed jobs for moto, keyed by principal ARN."""

    data: dict[str, list[dict]] = field(default_factory=dict)
    polls_in_progress: int = 0
    """Answer IN_PROGRESS this many times per job before COMPLETED (exercises polling)."""
    page_size: int | None = None
    """Force this many services per page (exercises Marker paging)."""
    failing: set[str] = field(default_factory=set)
    """Principals whose job ends FAILED."""
    jobs: dict[str, dict] = field(default_factory=dict)
    generated: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> AdvisorFake:
        fake = self

        def generate(resp: IamResponse) -> ActionResult:
            arn = resp._get_param("Arn")
            granularity = resp._get_param("Granularity") or "SERVICE_LEVEL"
            job_id = str(uuid.uuid4())
            with fake.lock:
                fake.jobs[job_id] = {"arn": arn, "polls": 0, "type": granularity, "created": datetime.now(UTC)}
                fake.generated.append((arn, granularity))
            return ActionResult({"JobId": job_id})

        def get(resp: IamResponse) -> ActionResult:
            job = fake.jobs[resp._get_param("JobId")]
            with fake.lock:
                job["polls"] += 1
                polls = job["polls"]
            base = {"JobType": job["type"], "JobCreationDate": job["created"], "IsTruncated": False}
            if polls <= fake.polls_in_progress:
                return ActionResult({**base, "JobStatus": "IN_PROGRESS", "ServicesLastAccessed": []})
            done = {**base, "JobCompletionDate": datetime.now(UTC)}
            if job["arn"] in fake.failing:
                return ActionResult(
                    {
                        **done,
                        "JobStatus": "FAILED",
                        "ServicesLastAccessed": [],
                        "Error": {"Code": "InternalFailure", "Message": "report generation failed"},
                    }
                )
            entries = fake.data.get(job["arn"], [])
            start = int(resp._get_param("Marker") or 0)
            size = fake.page_size or int(resp._get_param("MaxItems") or 100)
            page = entries[start : start + size]
            result = {**done, "JobStatus": "COMPLETED", "ServicesLastAccessed": page}
            if start + size < len(entries):
                result.update(IsTruncated=True, Marker=str(start + size))
            return ActionResult(result)

        monkeypatch.setattr(IamResponse, "generate_service_last_accessed_details", generate, raising=False)
        monkeypatch.setattr(IamResponse, "get_service_last_accessed_details", get, raising=False)
        return self


# --- IAM Access Analyzer ------------------------------------------------------------------------


@dataclass
class AnalyzerFake:
    """The Access Analyzer rest-json API on a local HTTP server (pytest-httpserver)."""

    account: str = MGMT
    analyzers: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    page_size: int = 2
    requests: list[str] = field(default_factory=list)
    denied: bool = False

    def add_analyzer(self, kind: str = "ACCOUNT_UNUSED_ACCESS", age: int = 90, account: str | None = None) -> str:
        arn = f"arn:aws:access-analyzer:us-east-1:{account or self.account}:analyzer/unused-{len(self.analyzers)}"
        self.analyzers.append(
            {
                "arn": arn,
                "name": f"unused-{len(self.analyzers)}",
                "type": kind,
                "createdAt": 1700000000,
                "status": "ACTIVE",
                "configuration": {"unusedAccess": {"unusedAccessAge": age}},
            }
        )
        return arn

    def add_finding(
        self, analyzer: str, resource: str, finding_type: str, details: list[dict], *, owner: str | None = None
    ) -> None:
        now = NOW.timestamp()
        self.findings.append(
            {
                "analyzerArn": analyzer,
                "id": str(uuid.uuid4()),
                "analyzedAt": now,
                "createdAt": now - 86400 * 30,
                "updatedAt": now,
                "resource": resource,
                "resourceType": "AWS::IAM::Role" if ":role/" in resource else "AWS::IAM::User",
                "resourceOwnerAccount": owner or resource.split(":")[4],
                "status": "ACTIVE",
                "findingType": finding_type,
                "findingDetails": details,
            }
        )

    def serve(self, httpserver: Any) -> str:
        def denied() -> Response:
            return Response(
                json.dumps({"message": "User is not authorized to perform: access-analyzer:ListAnalyzers"}),
                status=403,
                headers={"x-amzn-ErrorType": "AccessDeniedException", "Content-Type": "application/json"},
            )

        def list_analyzers(request: Request) -> Response:
            self.requests.append("ListAnalyzers")
            if self.denied:
                return denied()
            kind = request.args.get("type")
            found = [a for a in self.analyzers if kind is None or a["type"] == kind]
            return Response(json.dumps({"analyzers": found}), content_type="application/json")

        def list_findings(request: Request) -> Response:
            self.requests.append("ListFindingsV2")
            body = json.loads(request.data or b"{}")
            criteria = body.get("filter") or {}
            matches = [
                f
                for f in self.findings
                if f["analyzerArn"] == body["analyzerArn"]
                and all(f.get(key) in cond.get("eq", [f.get(key)]) for key, cond in criteria.items())
            ]
            start = int(body.get("nextToken") or 0)
            page = matches[start : start + self.page_size]
            out: dict[str, Any] = {
                "findings": [{k: v for k, v in f.items() if k not in ("analyzerArn", "findingDetails")} for f in page]
            }
            if start + self.page_size < len(matches):
                out["nextToken"] = str(start + self.page_size)
            return Response(json.dumps(out), content_type="application/json")

        def get_finding(request: Request) -> Response:
            self.requests.append("GetFindingV2")
            finding_id = request.path.rsplit("/", 1)[-1]
            finding = next(f for f in self.findings if f["id"] == finding_id)
            start = int(request.args.get("nextToken") or 0)
            details = finding["findingDetails"]
            out = {k: v for k, v in finding.items() if k != "analyzerArn"}
            out["findingDetails"] = details[start : start + 1]  # one detail per page: exercises paging
            if start + 1 < len(details):
                out["nextToken"] = str(start + 1)
            return Response(json.dumps(out), content_type="application/json")

        httpserver.expect_request("/analyzer", method="GET").respond_with_handler(list_analyzers)
        httpserver.expect_request("/findingv2", method="POST").respond_with_handler(list_findings)
        httpserver.expect_request(re.compile(r"^/findingv2/[^/]+$"), method="GET").respond_with_handler(get_finding)
        return httpserver.url_for("").rstrip("/")


# --- moto behaviour patches -----------------------------------------------------------------------


class Throttled(ServiceException):
    code = "Throttling"
    message = "Rate exceeded"


Throttled.__module__ = "moto.iam.exceptions"  # moto picks the error model by the exception's module
warnings.filterwarnings("ignore", message=r"Exception\((Throttled|Denied)\) with code", category=UserWarning)


class Denied(ServiceException):
    code = "AccessDenied"
    message = "User is not authorized to perform this action"


Denied.__module__ = "moto.iam.exceptions"


def throttle(
    monkeypatch: pytest.MonkeyPatch, operation: str, times: int, *, only: str | None = None, error: type = Throttled
) -> dict[str, int]:
    """The moto IAM handler ``operation`` answers Throttling (or ``error``) ``times`` times, then works;
    with ``only``, just for requests whose Arn / UserName parameter is ``only``."""
    original = getattr(IamResponse, operation)
    seen = {"calls": 0}

    def handler(resp: IamResponse) -> Any:
        if only is not None and only not in (resp._get_param("Arn"), resp._get_param("UserName")):
            return original(resp)
        seen["calls"] += 1
        if seen["calls"] <= times:
            raise error()
        return original(resp)

    monkeypatch.setattr(IamResponse, operation, handler)
    return seen


def page_gaad(monkeypatch: pytest.MonkeyPatch, page_size: int) -> list[int]:
    """GetAccountAuthorizationDetails pages by MaxItems/Marker (moto returns everything at once)."""
    original = IamResponse.get_account_authorization_details
    keys = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")
    pages: list[int] = []

    def handler(resp: IamResponse) -> ActionResult:
        full = original(resp).result
        items = [(k, x) for k in keys for x in list(full[k])]
        start = int(resp._get_param("Marker") or 0)
        size = min(page_size, int(resp._get_param("MaxItems") or 100))
        chunk = items[start : start + size]
        result: dict[str, Any] = {k: [x for kk, x in chunk if kk == k] for k in keys}
        result["IsTruncated"] = start + size < len(items)
        if result["IsTruncated"]:
            result["Marker"] = str(start + size)
        pages.append(len(chunk))
        return ActionResult(result)

    monkeypatch.setattr(IamResponse, "get_account_authorization_details", handler)
    return pages


def stale_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """Serve the first credential report again and again, as AWS does for four hours (moto rebuilds it)."""
    original = IamResponse.get_credential_report
    cached: list[Any] = []

    def handler(resp: IamResponse) -> Any:
        if not cached:
            cached.append(original(resp))
        return cached[0]

    monkeypatch.setattr(IamResponse, "get_credential_report", handler)
