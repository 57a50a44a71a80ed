"""The normalized, cross-cloud model: what collectors produce and rules consume.

Collectors turn provider data into these records; the analyzer never sees provider
responses. Two documents are (de)serialized as JSON with a schema version:

* ``Inventory`` (``kind: nhiaudit.inventory``) -- written by ``nhiaudit collect``;
* ``FindingsDocument`` (``kind: nhiaudit.findings``) -- written by ``nhiaudit analyze``.

All datetimes are timezone-aware UTC. "No data" is always ``None`` and never the same as
"unused": usage evidence lives in ``Usage`` records and ``CoverageGap`` entries say where it
could not be had.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from nhiaudit import __version__
from nhiaudit.errors import InputError

SCHEMA_VERSION = "1.0"
"""Major.minor. A reader accepts any document with the same major version."""


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_to_utc)]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse: critical=4 ... info=0."""
        return _SEVERITY_RANK[self]

    def lowered(self, steps: int = 1) -> Severity:
        order = sorted(Severity, key=lambda s: s.rank)
        return order[max(0, self.rank - steps)]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class _FastSpec:
    """How ``_Record.fast`` fills a class's fields: a template of defaults, the required fields,
    and the defaults built per record (factories, and list / dict defaults copied)."""

    template: dict[str, Any]
    required: frozenset[str]
    fresh: tuple[tuple[str, Any, bool], ...]

    @classmethod
    def of(cls, model: type[BaseModel]) -> _FastSpec:
        template: dict[str, Any] = {}
        required: set[str] = set()
        fresh: list[tuple[str, Any, bool]] = []
        for name, f in model.model_fields.items():
            template[name] = None if f.is_required() or f.default_factory is not None else f.default
            if f.default_factory is not None:
                fresh.append((name, f.default_factory, False))
            elif f.is_required():
                required.add(name)
            elif isinstance(f.default, list | dict):
                fresh.append((name, f.default, True))
        return cls(template, frozenset(required), tuple(fresh))


_FAST_SPECS: dict[type, _FastSpec] = {}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)

    @classmethod
    def fast(cls, **values: Any) -> Self:
        """Build a record from trusted, already-typed values, without validation.

        Collectors and rules create records by the tens of thousands; validation there costs
        more than the analysis itself. Files are always validated when loaded. Unlike
        ``model_construct``, an unknown or missing field is an error here, not silently ignored.
        """
        spec = _FAST_SPECS.get(cls)
        if spec is None:
            spec = _FAST_SPECS[cls] = _FastSpec.of(cls)
        data = spec.template.copy()  # every field, in declaration order
        data.update(values)
        if not spec.required <= values.keys():
            missing = next(n for n in spec.template if n in spec.required and n not in values)
            raise TypeError(f"{cls.__name__}.fast(): missing field {missing!r}")
        if len(data) != len(spec.template):
            unknown = sorted(set(values) - set(spec.template))
            raise TypeError(f"{cls.__name__}.fast(): unknown field {unknown[0]!r}")
        for name, make, copy in spec.fresh:  # defaults that must not be shared between records
            if name not in values:
                data[name] = make.copy() if copy else make()
        record = cls.__new__(cls)
        object.__setattr__(record, "__dict__", data)
        object.__setattr__(record, "__pydantic_fields_set__", set(values))
        object.__setattr__(record, "__pydantic_extra__", None)
        object.__setattr__(record, "__pydantic_private__", None)
        if cls.__pydantic_post_init__:
            record.model_post_init(None)
        return record


class Identity(_Record):
    """A principal: an AWS role or user, a GCP service account, an Azure service principal..."""

    id: str = Field(description="Stable id: ARN, service-account email, object id.")
    provider: str = Field(description="aws | gcp | azure")
    scope: str = Field(description="Account id, project id or tenant id the identity lives in.")
    kind: str = Field(description="aws.role, aws.user, gcp.service_account, azure.service_principal, ...")
    name: str
    created: UtcDatetime | None = None
    disabled: bool = False
    is_nhi: bool = True
    classification: str = Field("", description="Why this identity is (or is not) treated as an NHI.")
    provider_owned: bool = Field(False, description="Managed by the cloud provider (service-linked role, ...).")
    human_signin: bool | None = Field(None, description="A human can sign in with it; None when unknown.")
    owners: list[str] = []
    owners_known: bool = Field(
        False,
        description="True when the provider records owners for this identity and the collector read them: an "
        "empty owners list then means 'no owner'. False where the provider has no owner concept (AWS roles, "
        "GCP service accounts, managed identities) or the owners could not be read.",
    )
    tags: dict[str, str] = {}
    path: str | None = None
    description: str | None = None
    last_activity: UtcDatetime | None = Field(None, description="Latest activity the collector saw.")
    attributes: dict[str, Any] = Field({}, description="Provider-specific extras.")


class CredentialKind(StrEnum):
    ACCESS_KEY = "access_key"
    PASSWORD = "password"
    SERVICE_ACCOUNT_KEY = "service_account_key"
    CLIENT_SECRET = "client_secret"
    CERTIFICATE = "certificate"
    FEDERATED = "federated"
    SIGNING_CERTIFICATE = "signing_certificate"
    SSH_KEY = "ssh_key"


PROGRAMMATIC_CREDENTIALS = frozenset(
    {
        CredentialKind.ACCESS_KEY,
        CredentialKind.SERVICE_ACCOUNT_KEY,
        CredentialKind.CLIENT_SECRET,
        CredentialKind.CERTIFICATE,
        CredentialKind.SIGNING_CERTIFICATE,
    }
)
"""Long-lived secrets a program presents; rotation and usage rules apply to these."""


class Credential(_Record):
    """A secret or sign-in method of an identity. Only identifiers are kept, never a secret value."""

    id: str = Field(description="Key id, client-secret key id, or '<identity>#access_key_1' when no id is known.")
    identity_id: str
    kind: CredentialKind
    name: str | None = Field(None, description="Display name (key id, secret display name).")
    status: Literal["active", "inactive", "expired"] = "active"
    created: UtcDatetime | None = None
    expires: UtcDatetime | None = None
    expires_known: bool = Field(
        False,
        description="True when the provider records an expiry for this kind of credential: expires=None then "
        "means it never expires. False where expiry does not apply (AWS access keys) or is unknown.",
    )
    last_used: UtcDatetime | None = None
    last_used_service: str | None = None
    usage_known: bool = Field(False, description="True when last_used is evidence (None then means never used).")
    usage_source: str | None = None
    managed_by: Literal["user", "provider"] = "user"
    attributes: dict[str, Any] = {}


class Policy(_Record):
    """A permission document shared by grants: an AWS policy, a GCP role, an Azure role definition."""

    id: str = Field(description="ARN, role name, role-definition id, or 'aws-inline:<hash>' for inline policies.")
    provider: str
    kind: str = Field(description="aws.managed, aws.aws_managed, aws.inline, gcp.role, azure.role_definition, ...")
    name: str
    document: Any = Field(None, description="AWS policy document (parsed JSON).")
    permissions: list[str] | None = Field(None, description="GCP / Azure permission list.")
    attributes: dict[str, Any] = {}
    _parsed: Any = PrivateAttr(default=None)
    """Parsed form of ``document``, cached by whoever validated it first (never serialized)."""


class Grant(_Record):
    """An attachment of a policy to an identity, directly or through a group / scope."""

    identity_id: str
    policy_id: str
    policy_name: str
    kind: str = Field(
        description="inline | managed | group_inline | group_managed | boundary | role_binding | "
        "role_assignment | app_permission"
    )
    scope: str | None = Field(None, description="Resource scope the grant applies to (project, subscription).")
    via: str | None = Field(None, description="Group, folder or parent scope the grant is inherited from.")
    condition: Any = None


class Usage(_Record):
    """Evidence of use (or of non-use within a window) from one telemetry source."""

    identity_id: str
    credential_id: str | None = None
    target_kind: Literal["identity", "credential", "service", "action", "permission", "role"] = "identity"
    target: str | None = Field(None, description="Service namespace, action or permission; None = identity.")
    last_used: UtcDatetime | None = Field(None, description="None = no use seen within the window.")
    source: str = Field(description="aws.role_last_used, aws.credential_report, aws.access_advisor, ...")
    window_start: UtcDatetime | None = None
    window_end: UtcDatetime | None = None
    detail: str | None = None
    unobservable: list[str] = Field(
        default_factory=list,
        description="Permissions inside target this source cannot see (Access Advisor never sees iam:PassRole): "
        "never judged unused on this record's evidence.",
    )


class Trust(_Record):
    """Who can become, assume or impersonate an identity."""

    identity_id: str
    principal_kind: str = Field(
        description="account | any | service | oidc | saml | role | user | gcp_member | azure_federated | "
        "azure_tenant | unknown"
    )
    principal: str
    actions: list[str] = []
    conditions: dict[str, Any] = {}
    condition_keys: list[str] = []
    internal: bool | None = Field(None, description="Inside the scanned account/organization; None = unknown.")
    source: str | None = Field(None, description="Where the trust comes from (statement sid, binding).")


class Scope(_Record):
    """An account, project, subscription, tenant or organization the collector learned about.

    Trust and environment analysis use it: its name, tags / labels and organization membership
    say which environment a scope is in and whether a principal from it is inside the
    organization. A scope need not have been scanned (``aws organizations list-accounts`` names
    every account of the organization).
    """

    provider: str
    id: str = Field(description="Account id, project id, subscription id, tenant id, organization id or domain.")
    kind: str = Field(
        description="aws.account | gcp.project | gcp.folder | gcp.organization | azure.subscription | "
        "azure.tenant | azure.management_group"
    )
    name: str | None = Field(None, description="Account name, project name, subscription display name, domain.")
    parent: str | None = Field(None, description="Organization, folder or management group it belongs to.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags or labels of the scope.")
    in_organization: bool | None = Field(None, description="Inside the scanned organization; None = unknown.")
    attributes: dict[str, Any] = Field(default_factory=dict, description="Provider extras (project number, ...).")


class CoverageGap(_Record):
    """Something the collector could not see: the report shows it, rules lower confidence."""

    provider: str
    scope: str
    source: str = Field(description="What could not be had: credential_report, access_advisor, policy:<arn>, ...")
    status: Literal["not_supplied", "unavailable", "denied", "partial", "error", "throttled"]
    detail: str
    affects: list[str] = Field([], description="Rule ids whose results are weaker.")


class Source(_Record):
    """One collection: where the inventory data came from."""

    provider: str
    scope: str
    method: Literal["offline", "live", "demo"]
    inputs: list[str] = []
    collected_at: UtcDatetime | None = None
    api_calls: dict[str, int] = {}


class Inventory(_Record):
    """Everything one or more collections saw, ready for analysis."""

    kind: Literal["nhiaudit.inventory"] = "nhiaudit.inventory"
    schema_version: str = SCHEMA_VERSION
    tool_version: str = __version__
    generated_at: UtcDatetime = Field(default_factory=utcnow)
    snapshot_time: UtcDatetime | None = Field(
        None, description="When the data describes the cloud; analysis is 'as of' this time unless told."
    )
    sources: list[Source] = []
    identities: list[Identity] = []
    credentials: list[Credential] = []
    policies: dict[str, Policy] = {}
    grants: list[Grant] = []
    usage: list[Usage] = []
    trusts: list[Trust] = []
    coverage: list[CoverageGap] = []
    warnings: list[str] = []
    scopes: list[Scope] = Field([], description="Accounts, projects, tenants known by name (trust analysis).")

    def merge(self, other: Inventory) -> Inventory:
        """Combine two inventories (for example two accounts, or AWS and GCP)."""
        policies = dict(self.policies)
        policies.update(other.policies)
        snapshot = max((t for t in (self.snapshot_time, other.snapshot_time) if t), default=None)
        return Inventory(
            generated_at=max(self.generated_at, other.generated_at),
            snapshot_time=snapshot,
            sources=[*self.sources, *other.sources],
            identities=[*self.identities, *other.identities],
            credentials=[*self.credentials, *other.credentials],
            policies=policies,
            grants=[*self.grants, *other.grants],
            usage=[*self.usage, *other.usage],
            trusts=[*self.trusts, *other.trusts],
            coverage=[*self.coverage, *other.coverage],
            warnings=[*self.warnings, *other.warnings],
            scopes=[*self.scopes, *other.scopes],
        )


class References(_Record):
    """Framework references of a rule or finding."""

    owasp_nhi: list[str] = Field([], description="OWASP NHI Top 10 (2025) ids, e.g. NHI5:2025")
    nist_800_207: list[str] = Field([], description="NIST SP 800-207 tenets, e.g. 'Tenet 3'")
    nist_800_53: list[str] = Field([], description="NIST SP 800-53 Rev. 5 controls")
    cis: list[str] = Field([], description="CIS benchmark recommendations")


class BaselineMatch(_Record):
    """How a finding compares with a baseline scan (``--baseline`` / ``nhiaudit diff``)."""

    state: Literal["new", "unchanged", "severity_changed"]
    previous_severity: Severity | None = Field(None, description="The baseline's severity when it changed.")
    baseline_first_seen: UtcDatetime | None = None


class Finding(_Record):
    """One problem with one identity (or credential), explained."""

    fingerprint: str = Field(description="Stable across scans: rule, provider, scope, identity, credential.")
    rule_id: str
    title: str
    severity: Severity
    confidence: Confidence
    provider: str
    scope: str
    identity_id: str
    identity_name: str
    identity_kind: str
    credential_id: str | None = None
    description: str
    evidence: dict[str, Any] = {}
    remediation: str
    references: References
    first_seen: UtcDatetime
    suppression: dict[str, Any] | None = Field(None, description="Set when a suppression matched.")
    baseline: BaselineMatch | None = Field(None, description="Set when the scan was compared with a baseline.")


def fingerprint(*parts: str | None) -> str:
    """A stable id from the parts that identify a finding (never dates or counts)."""
    text = "\x1f".join(p or "" for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class BaselineInfo(_Record):
    """The baseline a scan was compared with, and what changed since (see nhiaudit.baseline)."""

    file: str
    generated_at: UtcDatetime
    as_of: UtcDatetime
    new: int = Field(description="Active findings not in the baseline.")
    unchanged: int = Field(description="Active findings also in the baseline (including severity changes).")
    severity_changed: int = Field(0, description="... of which the severity changed.")
    fixed: list[Finding] = Field([], description="Baseline findings gone from a scope and rule this scan covered.")
    not_rescanned: list[Finding] = Field(
        [], description="Baseline findings this scan could not check (scope or rule not covered)."
    )


class SuppressionInfo(_Record):
    """The suppressions file applied to a scan (see nhiaudit.suppressions)."""

    file: str
    entries: int
    suppressed: int = Field(description="Findings suppressed.")
    expired: list[dict[str, Any]] = Field([], description="Entries past their expiry (not applied).")
    unmatched: list[dict[str, Any]] = Field([], description="Entries that matched no finding.")


class ScanMetadata(_Record):
    """How the findings were produced: inputs, coverage, settings, timings."""

    started_at: UtcDatetime
    finished_at: UtcDatetime
    as_of: UtcDatetime
    sources: list[Source] = []
    coverage: list[CoverageGap] = []
    warnings: list[str] = []
    settings: dict[str, Any] = {}
    rules_run: list[str] = []
    catalogs: dict[str, str] = Field({}, description="Catalog name -> version.")
    identities: dict[str, int] = Field({}, description="Counts: total, nhi, human, provider_owned.")
    timings_ms: dict[str, float] = {}
    baseline: BaselineInfo | None = None
    suppressions: SuppressionInfo | None = None


class IdentityRisk(_Record):
    identity_id: str
    identity_name: str
    provider: str
    scope: str
    score: int
    worst_severity: Severity
    findings: int
    rule_ids: list[str]


class Summary(_Record):
    total: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    by_owasp_nhi: dict[str, int]
    by_scope: dict[str, int]
    riskiest_identities: list[IdentityRisk]
    suppressed: int = 0


class FindingsDocument(_Record):
    kind: Literal["nhiaudit.findings"] = "nhiaudit.findings"
    schema_version: str = SCHEMA_VERSION
    tool_version: str = __version__
    generated_at: UtcDatetime = Field(default_factory=utcnow)
    scan: ScanMetadata
    summary: Summary
    findings: list[Finding]


# --- (de)serialization -------------------------------------------------------------------


def dump_json(doc: BaseModel) -> str:
    return doc.model_dump_json(indent=2, exclude_none=False) + "\n"


def _check_header(data: Any, expected_kind: str, source: str) -> None:
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object ({expected_kind}), got {type(data).__name__}", source=source)
    kind = data.get("kind")
    if kind != expected_kind:
        hint = ""
        if kind in ("nhiaudit.inventory", "nhiaudit.findings"):
            hint = f" (this is a {kind.split('.')[1]} file)"
        elif "UserDetailList" in data or "RoleDetailList" in data:
            hint = " (this looks like AWS authorization details: use 'scan aws --from-file')"
        raise InputError(f"not an {expected_kind} document{hint}", source=source)
    version = str(data.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise InputError(
            f"schema version {version or '(missing)'} is not supported (this nhiaudit reads {SCHEMA_VERSION})",
            source=source,
        )


def load_json_file(path: Path) -> Any:
    """Read a JSON file, turning every failure into a one-line InputError naming the file."""
    try:
        raw = path.read_bytes()
        # UTF-8, with or without a byte-order mark, or UTF-16 as Windows PowerShell 5 writes `az ... > file`
        encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
        text = raw.decode(encoding)
    except FileNotFoundError:
        raise InputError("file not found", source=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", source=path) from None
    if not text.strip():
        raise InputError("file is empty", source=path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = " (the file looks truncated)" if exc.pos >= len(text.rstrip()) - 1 else ""
        raise InputError(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{truncated}", source=path
        ) from None


_Doc = TypeVar("_Doc", bound=BaseModel)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"invalid field {where}: {first['msg']}{more}"


def _load_document(path: Path, cls: type[_Doc], kind: str) -> _Doc:
    data = load_json_file(path)
    _check_header(data, kind, str(path))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise InputError(_validation_message(exc), source=path) from None


def load_inventory(path: Path) -> Inventory:
    from nhiaudit.perf import fewer_gc_pauses

    with fewer_gc_pauses():
        return _load_document(path, Inventory, "nhiaudit.inventory")


def load_findings(path: Path) -> FindingsDocument:
    return _load_document(path, FindingsDocument, "nhiaudit.findings")
