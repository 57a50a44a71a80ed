"""botocore plumbing for the live AWS collector: the read-only guard, API call counting, retries,
error classification and polling.

Every client the collector uses is made by ``make_client``, which hooks two botocore events:

* ``before-call``: refuses any operation outside ``READ_ONLY_OPERATIONS`` (before a request is
  signed, so a programming error can never write to the cloud) and counts the call;
* ``after-call``: adds the retry attempts botocore made (throttling, 5xx) to the log.

boto3 is imported lazily by the callers; this module imports botocore only inside functions.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nhiaudit import __version__

if TYPE_CHECKING:
    import boto3

READ_ONLY_OPERATIONS = frozenset(
    {
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
)
"""Every AWS operation a scan may call ('service:Operation', service as in IAM action names).
The Generate* operations start report jobs inside IAM; they change no configuration."""

PERMISSION_OF: dict[str, str | None] = {
    "sts:GetCallerIdentity": None,  # needs no permission
    "access-analyzer:ListFindingsV2": "access-analyzer:ListFindings",
    "access-analyzer:GetFindingV2": "access-analyzer:GetFinding",
}
"""Operations whose IAM action differs from the operation name."""


def required_permissions() -> set[str]:
    """The IAM actions a scan needs: the minimum read-only policy of docs/aws.md."""
    return {PERMISSION_OF.get(op, op) for op in READ_ONLY_OPERATIONS} - {None}  # type: ignore[return-value]


DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "UnauthorizedAccess",
        "Forbidden",
        "403",
    }
)
THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "Rate exceeded",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidToken",
    }
)
UNSUPPORTED_CODES = frozenset({"NotImplemented", "404", "501", "UnknownOperationException", "InvalidAction"})

_CLIENT_LOCK = threading.Lock()
"""boto3 sessions are not thread-safe; clients are. Clients are created under this lock."""


class ReadOnlyViolation(RuntimeError):
    """An operation outside the read-only allowlist was about to be called (a bug, never user input)."""


def operation_name(model: Any) -> str:
    """'iam:GetAccountAuthorizationDetails' from a botocore OperationModel (IAM action naming)."""
    service = model.service_model
    prefix = service.signing_name or service.endpoint_prefix
    return f"{prefix}:{model.name}"


class ApiCallLog:
    """Counts API calls per operation and retry attempts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.retries = 0

    def _before_call(self, model: Any, **_: Any) -> None:
        name = operation_name(model)
        if name not in READ_ONLY_OPERATIONS:
            raise ReadOnlyViolation(f"refusing to call {name}: not in nhiaudit's read-only allowlist")
        with self._lock:
            self.calls[name] += 1

    def _after_call(self, parsed: Any = None, **_: Any) -> None:
        meta = parsed.get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        attempts = meta.get("RetryAttempts") or 0
        if attempts:
            with self._lock:
                self.retries += attempts

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._before_call)
        client.meta.events.register("after-call", self._after_call)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def merge(self, other: ApiCallLog) -> None:
        with self._lock:
            self.calls.update(other.calls)
            self.retries += other.retries


@dataclass(frozen=True)
class ClientSettings:
    max_attempts: int = 6
    """botocore adaptive retry mode: attempts per call, first one included."""
    pool_size: int = 10
    connect_timeout: float = 10
    read_timeout: float = 60


def make_client(
    session: boto3.Session,
    service: str,
    log: ApiCallLog,
    settings: ClientSettings,
    *,
    region: str | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A client with adaptive retries, the read-only guard and call counting. ``AWS_ENDPOINT_URL``
    and ``AWS_ENDPOINT_URL_<SERVICE>`` are honoured by botocore itself."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "adaptive", "max_attempts": max_attempts or settings.max_attempts},
        max_pool_connections=settings.pool_size,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        user_agent_extra=f"nhiaudit/{__version__}",
    )
    with _CLIENT_LOCK:
        client = session.client(service, region_name=region or session.region_name, config=config)
    log.attach(client)
    return client


@dataclass
class ApiFailure(Exception):
    """A call that failed for good (after botocore's retries), classified for a coverage gap."""

    status: str  # denied | throttled | unavailable | error
    operation: str
    detail: str

    def __str__(self) -> str:
        return f"{self.operation}: {self.detail}"


def classify(exc: BaseException, operation: str) -> ApiFailure:
    """Turn a botocore exception into an ``ApiFailure`` with a one-line detail."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ApiFailure):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or "")
        message = " ".join(str(error.get("Message") or "").split())
        message = "(an HTML error page)" if message.startswith("<") else message[:300]
        status_code = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = f"{code}: {message}" if message else code
        if code in DENIED_CODES or status_code == 403:
            return ApiFailure("denied", operation, text)
        if code in THROTTLED_CODES or status_code == 429:
            return ApiFailure("throttled", operation, f"{text} (still throttled after retries)")
        if code in CREDENTIAL_CODES:
            return ApiFailure("error", operation, f"{text} (the credentials are invalid or expired)")
        if code in UNSUPPORTED_CODES or (isinstance(status_code, int) and status_code in (404, 501)):
            return ApiFailure("unavailable", operation, f"{text} (the endpoint does not offer this API)")
        if isinstance(status_code, int) and status_code >= 500:
            return ApiFailure("error", operation, f"server error {status_code} after retries: {text}")
        return ApiFailure("error", operation, text)
    if isinstance(exc, ResponseParserError):
        return ApiFailure(
            "unavailable", operation, "unparseable response (the endpoint does not seem to implement this API)"
        )
    if isinstance(exc, NoCredentialsError):
        return ApiFailure("error", operation, "no AWS credentials found")
    if isinstance(exc, ConnectionError | BotoCoreError):
        return ApiFailure("error", operation, " ".join(str(exc).split())[:300])
    raise exc


def api_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a botocore call raises when it fails: service errors, transport and parse errors."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    return (ClientError, BotoCoreError, ResponseParserError)


def error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


@dataclass(frozen=True)
class PollPolicy:
    """Delays between polls of an asynchronous AWS report job: first, growing by factor, capped."""

    first: float = 1.0
    factor: float = 1.5
    longest: float = 8.0
    timeout: float = 300.0

    def delays(self) -> Iterator[float]:
        waited, delay = 0.0, self.first
        while waited < self.timeout:
            yield delay
            waited += delay
            delay = min(self.longest, delay * self.factor)


def sleep(seconds: float, cancel: threading.Event | None) -> None:
    """Sleep, waking early (and raising) when the scan is cancelled."""
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled()


class Cancelled(Exception):
    """The scan was interrupted; workers stop at the next poll."""
