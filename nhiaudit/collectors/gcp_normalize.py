"""GCP data -> normalized records, shared by the offline import and the live collector.

Both collectors gather the same JSON shapes (the REST / ``gcloud --format=json`` shapes: camelCase
keys, enum names as strings, RFC 3339 times) into a ``GcpRawData`` and call ``normalize``.
Nothing here reads a file or calls an API.

What it produces, per the model conventions in docs/architecture.md:

* one ``Identity`` per service account (id = email, scope = project id); service accounts seen
  only in IAM bindings (other projects' accounts, Google service agents) become identities too,
  marked as not listed, and service agents are provider-owned;
* one ``Credential`` per service-account key (system-managed keys ``managed_by="provider"``;
  ``expires`` is ``validBeforeTime`` as given, 9999-12-31 meaning "never");
* one ``Grant`` per role bound to a service account on an organization, folder, project or a
  single service account, with its IAM condition;
* ``Trust`` records (``gcp_member``) for every member that can act as, mint tokens for, or
  create keys of a service account, from the account's own policy and from project / folder /
  organization policies, plus workload identity federation providers behind ``principal://``
  and ``principalSet://`` members;
* ``Usage`` records from Activity Analyzer, service-account insights and IAM policy insights.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nhiaudit.catalogs.gcp_roles import IMPERSONATION_PERMISSIONS, GcpRoleCatalog, load_catalog
from nhiaudit.errors import InputError
from nhiaudit.model import (
    CoverageGap,
    Credential,
    CredentialKind,
    Grant,
    Identity,
    Inventory,
    Policy,
    Source,
    Trust,
    Usage,
    utcnow,
)
from nhiaudit.policy.gcp import member_kind

PROVIDER = "gcp"

RECOMMENDATION_OPEN_STATES = frozenset({"ACTIVE", "CLAIMED"})

ACTIVITY_RULES = ["identity-unused", "credential-never-used", "credential-unused"]
PERMISSION_RULES = ["admin-equivalent", "privilege-escalation"]

_COMPUTE_DEFAULT = re.compile(r"^(\d+)-compute@developer\.gserviceaccount\.com$")
_APPENGINE_DEFAULT = re.compile(r"^([a-z][a-z0-9:.-]*)@appspot\.gserviceaccount\.com$")
_CLOUDBUILD_LEGACY = re.compile(r"^(\d+)@cloudbuild\.gserviceaccount\.com$")
_USER_MANAGED = re.compile(r"^[^@]+@([a-z][a-z0-9-]*)\.iam\.gserviceaccount\.com$")
_AGENT_LOCAL = re.compile(r"^service-(?:org-|folder-)?(\d+)$")
_AGENT_DOMAINS = frozenset({"cloudservices.gserviceaccount.com", "system.gserviceaccount.com"})
_POOL_MEMBER = re.compile(
    r"^principal(?:Set)?://iam\.googleapis\.com/projects/([^/]+)/locations/([^/]+)/workloadIdentityPools/([^/]+)(?:/|$)"
)
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


# --- raw data ------------------------------------------------------------------------------------


@dataclass
class ContainerData:
    """A folder or organization above the scanned projects."""

    name: str
    """``folders/123`` or ``organizations/456``."""
    display_name: str | None = None
    """For an organization: its primary domain."""
    parent: str | None = None
    iam_policy: dict | None = None
    custom_roles: list[dict] | None = None
    where: str = ""


@dataclass
class ProjectData:
    """Everything collected for one project; None = not collected (see ``gaps``)."""

    project_id: str
    number: str | None = None
    display_name: str | None = None
    parent: str | None = None
    ancestors: list[str] | None = None
    """Folders and organization above the project, nearest first; None when unknown."""
    labels: dict[str, str] = field(default_factory=dict)
    iam_policy: dict | None = None
    service_accounts: list[dict] | None = None
    keys: dict[str, list[dict]] = field(default_factory=dict)
    """Service-account email -> its keys; an email missing here had its keys not collected."""
    sa_policies: dict[str, dict] = field(default_factory=dict)
    custom_roles: list[dict] | None = None
    recommendations: list[dict] | None = None
    policy_insights: list[dict] | None = None
    sa_insights: list[dict] | None = None
    sa_activity: list[dict] | None = None
    key_activity: list[dict] | None = None
    wif_pools: list[dict] | None = None
    wif_providers: dict[str, list[dict]] = field(default_factory=dict)
    """Pool resource name -> its providers."""
    gaps: list[CoverageGap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    where: str = ""
    """The project's folder or API, for error messages."""


@dataclass
class GcpRawData:
    projects: dict[str, ProjectData] = field(default_factory=dict)
    containers: dict[str, ContainerData] = field(default_factory=dict)
    extra_roles: list[dict] = field(default_factory=list)
    """Predefined roles fetched live because the packaged catalog does not know them."""
    gaps: list[CoverageGap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    method: str = "offline"
    snapshot: datetime | None = None


# --- small parsers ---------------------------------------------------------------------------------


def parse_time(value: Any, *, where: str) -> datetime | None:
    """RFC 3339 text (``2024-01-10T12:00:00.123456789Z``) -> aware UTC datetime; empty -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise InputError(f"{where}: not a timestamp: {value!r}")
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match and match.group(2) and len(match.group(2)) > 7:
        text = match.group(1) + match.group(2)[:7] + match.group(3)  # nanoseconds -> microseconds
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: not a timestamp: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_duration(value: Any) -> timedelta | None:
    """``"7776000s"`` (the JSON form of a protobuf Duration) -> timedelta."""
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if match:
            return timedelta(seconds=float(match.group(1)))
    return None


def service_account_flavour(email: str) -> tuple[str | None, str | None, bool]:
    """(default kind, home project id or number, provider_owned) of a service-account email.

    default kind is ``compute`` (Compute Engine default), ``appengine`` (App Engine default),
    ``cloudbuild`` (legacy Cloud Build account) or None.
    """
    email = email.lower()
    local, _, domain = email.partition("@")
    if m := _COMPUTE_DEFAULT.match(email):
        return "compute", m.group(1), False
    if m := _APPENGINE_DEFAULT.match(email):
        return "appengine", m.group(1), False
    if m := _CLOUDBUILD_LEGACY.match(email):
        return "cloudbuild", m.group(1), False
    agent = _AGENT_LOCAL.match(local)
    if agent or domain.startswith("gcp-sa-") or domain in _AGENT_DOMAINS:
        number = agent.group(1) if agent else (local if local.isdigit() else None)
        return None, number, True
    if m := _USER_MANAGED.match(email):
        return None, m.group(1), False
    if domain.endswith(".gserviceaccount.com"):
        return None, None, True  # another Google-owned account domain
    return None, None, False


_NUMBERED_NAME = re.compile(r"^projects/(\d+)/")


def infer_project_number(project: ProjectData) -> str | None:
    """The project number when project.json was not exported: recommendations, insights and activity
    records name the project by number, and the Compute Engine default account carries it."""
    for sa in project.service_accounts or []:
        default, number, _ = service_account_flavour(str(sa.get("email", "")))
        if default == "compute" and number:
            return number
    for records in (project.recommendations, project.policy_insights, project.sa_insights):
        for record in records or []:
            match = _NUMBERED_NAME.match(str(record.get("name", "")))
            if match:
                return match.group(1)
    for records in (project.sa_activity, project.key_activity):
        for record in records or []:
            detail = (record.get("activity") or {}).values()
            number = next((d.get("projectNumber") for d in detail if isinstance(d, dict)), None)
            if number:
                return str(number)
    return None


def _require_list(value: Any, key: str, where: str, what: str) -> list[dict]:
    """A gcloud list (a JSON array) or the REST page shape ``{key: [...]}``."""
    if isinstance(value, dict) and key in value:
        value = value[key]
    elif isinstance(value, dict) and not value:
        value = []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a JSON list of {what}, got {type(value).__name__}")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise InputError(f"{where}: item {n} of the {what} is not an object")
    return value


def service_accounts_of(value: Any, where: str) -> list[dict]:
    items = _require_list(value, "accounts", where, "service accounts")
    for n, item in enumerate(items):
        if not isinstance(item.get("email"), str) or "@" not in item["email"]:
            hint = " (this looks like an IAM policy)" if "bindings" in item or "role" in item else ""
            raise InputError(f"{where}: service account {n} has no email{hint}")
    return items


def keys_of(value: Any, where: str) -> list[dict]:
    items = _require_list(value, "keys", where, "service-account keys")
    for n, item in enumerate(items):
        if not isinstance(item.get("name"), str) or "/keys/" not in item["name"]:
            raise InputError(f"{where}: key {n} has no key name (projects/.../serviceAccounts/.../keys/ID)")
    return items


def policy_of(value: Any, where: str) -> dict:
    if isinstance(value, list):
        raise InputError(f"{where}: expected an IAM policy object (with bindings), got a list")
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an IAM policy object, got {type(value).__name__}")
    bindings = value.get("bindings", [])
    if not isinstance(bindings, list):
        raise InputError(f"{where}: bindings must be a list")
    for n, b in enumerate(bindings):
        if not isinstance(b, dict) or not isinstance(b.get("role"), str):
            raise InputError(f"{where}: binding {n} has no role")
        members = b.get("members", [])
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise InputError(f"{where}: binding {n} ({b['role']}): members must be a list of strings")
    return value


def roles_of(value: Any, where: str) -> list[dict]:
    items = _require_list(value, "roles", where, "roles")
    for n, item in enumerate(items):
        if not isinstance(item.get("name"), str):
            raise InputError(f"{where}: role {n} has no name")
        perms = item.get("includedPermissions", [])
        if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
            raise InputError(f"{where}: role {item['name']}: includedPermissions must be a list of strings")
    return items


def activities_of(value: Any, where: str) -> list[dict]:
    return _require_list(value, "activities", where, "activities")


def recommendations_of(value: Any, where: str) -> list[dict]:
    return _require_list(value, "recommendations", where, "recommendations")


def insights_of(value: Any, where: str) -> list[dict]:
    return _require_list(value, "insights", where, "insights")


# --- the conversion -------------------------------------------------------------------------------


@dataclass
class _Binding:
    role: str
    member: str
    condition: dict | None
    scope: str


class GcpNormalizer:
    def __init__(self, raw: GcpRawData, *, catalog: GcpRoleCatalog | None = None) -> None:
        self.raw = raw
        self.catalog = catalog or load_catalog()
        self.snapshot = raw.snapshot or utcnow()
        self.identities: dict[str, Identity] = {}
        self.credentials: list[Credential] = []
        self.policies: dict[str, Policy] = {}
        self.grants: list[Grant] = []
        self.usage: list[Usage] = []
        self.trusts: list[Trust] = []
        self.coverage: list[CoverageGap] = list(raw.gaps)
        self.warnings: list[str] = list(raw.warnings)
        for project in raw.projects.values():
            project.number = project.number or infer_project_number(project)
        self.numbers = {p.number: p.project_id for p in raw.projects.values() if p.number}
        self.project_ids = set(raw.projects)
        self.org_domains = {
            c.display_name.lower()
            for c in raw.containers.values()
            if c.name.startswith("organizations/") and c.display_name and "." in c.display_name
        }
        self._listed: dict[str, list[str]] = defaultdict(list)
        """Project id -> emails of the service accounts listed in it."""
        self._grant_keys: set[tuple] = set()
        self._role_cache: dict[str, frozenset[str] | None] = {}
        self._role_services: dict[str, set[str]] = {}
        self._internal: dict[str, bool | None] = {}

    # helpers ------------------------------------------------------------------------------------

    def project_of(self, ref: str | None) -> str | None:
        """A project id from an id or a number."""
        if ref is None:
            return None
        return self.numbers.get(ref, ref)

    def scope_name(self, resource: str) -> str:
        """``//cloudresourcemanager.googleapis.com/projects/123`` or ``projects/123`` -> ``projects/<id>``."""
        name = resource.split("googleapis.com/", 1)[-1] if resource.startswith("//") else resource
        if name.startswith("projects/"):
            parts = name.split("/")
            parts[1] = self.project_of(parts[1]) or parts[1]
            return "/".join(parts)
        return name

    def role_permissions(self, role: str) -> frozenset[str] | None:
        if role not in self._role_cache:
            policy = self.policies.get(role)
            if policy is not None and policy.permissions is not None:
                perms: frozenset[str] | None = frozenset(policy.permissions)
            else:
                info = self.catalog.role(role)
                perms = frozenset(info.permissions) if info else None
            self._role_cache[role] = perms
        return self._role_cache[role]

    def _services_of(self, role: str, granted: frozenset[str] | None) -> set[str]:
        if role not in self._role_services:
            self._role_services[role] = {p.split(".", 1)[0] for p in (granted or ())}
        return self._role_services[role]

    def internal(self, member: str) -> bool | None:
        if member not in self._internal:
            self._internal[member] = self._is_internal(member)
        return self._internal[member]

    def _is_internal(self, member: str) -> bool | None:
        kind = member_kind(member)
        if kind in ("allUsers", "allAuthenticatedUsers"):
            return False
        if kind == "serviceAccount":
            email = member.split(":", 1)[1].split("?", 1)[0]
            _, home, owned = service_account_flavour(email)
            if owned:
                return None
            return True if self.project_of(home) in self.project_ids else None
        if kind in ("user", "group", "domain"):
            if not self.org_domains:
                return None
            value = member.split(":", 1)[1].lower()
            domain = value.rsplit("@", 1)[-1]
            return any(domain == d or domain.endswith("." + d) for d in self.org_domains)
        return None

    # identities ----------------------------------------------------------------------------------

    def add_service_accounts(self, project: ProjectData) -> None:
        if project.service_accounts is None:
            return
        for n, sa in enumerate(project.service_accounts):
            email = str(sa["email"]).lower()
            where = f"{project.where}: service account {n} ({email})"
            default, _, owned = service_account_flavour(email)
            scope = sa.get("projectId") or project.project_id
            classification = {
                "compute": "Compute Engine default service account",
                "appengine": "App Engine default service account",
                "cloudbuild": "legacy Cloud Build service account",
            }.get(default or "", "Google-managed service agent" if owned else "user-managed service account")
            if not isinstance(sa.get("disabled", False), bool):
                raise InputError(f"{where}: disabled must be true or false")
            identity = Identity(
                id=email,
                provider=PROVIDER,
                scope=str(scope),
                kind="gcp.service_account",
                name=email.split("@", 1)[0],
                disabled=bool(sa.get("disabled", False)),
                is_nhi=True,
                classification=classification,
                provider_owned=owned,
                human_signin=False,
                description=sa.get("description") or None,
                attributes={
                    k: v
                    for k, v in {
                        "unique_id": sa.get("uniqueId"),
                        "display_name": sa.get("displayName") or None,
                        "resource_name": sa.get("name"),
                        "oauth2_client_id": sa.get("oauth2ClientId"),
                        "project_number": project.number,
                        "project_labels": project.labels or None,
                        "default": default,
                        "listed": True,
                    }.items()
                    if v is not None
                },
            )
            self.identities[email] = identity
            self._listed[project.project_id].append(email)

    def ensure_identity(self, email: str, seen_in: str) -> Identity:
        email = email.lower()
        identity = self.identities.get(email)
        if identity is not None:
            return identity
        default, home, owned = service_account_flavour(email)
        home_project = self.project_of(home)
        if owned:
            classification = "Google-managed service agent (seen in IAM bindings)"
        elif home_project in self.project_ids:
            classification = (
                "service account seen in IAM bindings but not in its project's service-account list "
                "(deleted, or the list was incomplete)"
            )
        else:
            classification = "service account of a project that was not scanned (seen in IAM bindings)"
        identity = Identity(
            id=email,
            provider=PROVIDER,
            scope=home_project or email.rsplit("@", 1)[-1],
            kind="gcp.service_account",
            name=email.split("@", 1)[0],
            is_nhi=True,
            classification=classification,
            provider_owned=owned,
            human_signin=False,
            attributes={"listed": False, "seen_in": seen_in, **({"default": default} if default else {})},
        )
        self.identities[email] = identity
        return identity

    # credentials ---------------------------------------------------------------------------------

    def add_keys(self, project: ProjectData) -> None:
        for email, keys in project.keys.items():
            email = email.lower()
            for n, key in enumerate(keys):
                where = f"{project.where}: key {n} of {email}"
                key_id = key["name"].rsplit("/keys/", 1)[1]
                key_type = str(key.get("keyType") or "KEY_TYPE_UNSPECIFIED")
                created = parse_time(key.get("validAfterTime"), where=where)
                expires = parse_time(key.get("validBeforeTime"), where=where)
                disabled = key.get("disabled", False)
                if not isinstance(disabled, bool):
                    raise InputError(f"{where}: disabled must be true or false")
                status = "inactive" if disabled else "active"
                if expires is not None and expires <= self.snapshot and status == "active":
                    status = "expired"
                self.ensure_identity(email, f"keys of {email}")
                self.credentials.append(
                    Credential(
                        id=key_id,
                        identity_id=email,
                        kind=CredentialKind.SERVICE_ACCOUNT_KEY,
                        name=key_id,
                        status=status,  # type: ignore[arg-type]
                        created=created,
                        expires=expires,
                        managed_by="provider" if key_type == "SYSTEM_MANAGED" else "user",
                        attributes={
                            "key_type": key_type,
                            "key_origin": key.get("keyOrigin"),
                            "key_algorithm": key.get("keyAlgorithm"),
                            "never_expires": expires is not None and expires.year >= 9999,
                            "resource_name": key["name"],
                        },
                    )
                )

    # roles ----------------------------------------------------------------------------------------

    def add_roles(self, roles: Iterable[dict], *, scope: str, kind: str = "gcp.custom_role") -> None:
        for role in roles:
            name = role["name"]
            perms = role.get("includedPermissions")
            if perms is None and not role.get("deleted"):
                self.warnings.append(
                    f"custom role {name} has no permission list (export it with 'gcloud iam roles describe'); "
                    "bindings to it are evaluated without it"
                )
            self.policies[name] = Policy(
                id=name,
                provider=PROVIDER,
                kind=kind,
                name=role.get("title") or name,
                permissions=list(perms) if perms is not None else ([] if role.get("deleted") else None),
                attributes={
                    k: v
                    for k, v in {
                        "scope": scope,
                        "stage": role.get("stage"),
                        "deleted": bool(role.get("deleted", False)) or None,
                        "description": role.get("description") or None,
                    }.items()
                    if v is not None
                },
            )

    # bindings -------------------------------------------------------------------------------------

    def bindings(self, policy: dict | None, scope: str) -> list[_Binding]:
        if not policy:
            return []
        out: list[_Binding] = []
        for b in policy.get("bindings", []):
            condition = b.get("condition") or None
            if condition is not None:
                condition = {k: v for k, v in condition.items() if v}
            for member in b.get("members", []):
                out.append(_Binding(b["role"], member, condition or None, scope))
        return out

    def add_grant(self, binding: _Binding) -> None:
        email = binding.member.split(":", 1)[1].split("?", 1)[0].lower()
        self.ensure_identity(email, binding.scope)
        key = (email, binding.role, binding.scope, repr(sorted((binding.condition or {}).items())))
        if key in self._grant_keys:
            return
        self._grant_keys.add(key)
        self.grants.append(
            Grant(
                identity_id=email,
                policy_id=binding.role,
                policy_name=binding.role,
                kind="role_binding",
                scope=binding.scope,
                condition=binding.condition,
            )
        )

    def impersonates(self, role: str) -> bool:
        perms = self.role_permissions(role)
        return bool(perms and perms & IMPERSONATION_PERMISSIONS)

    # usage -----------------------------------------------------------------------------------------

    def add_activity(self, project: ProjectData) -> None:
        for kind, records in (("sa", project.sa_activity), ("key", project.key_activity)):
            if records is None:
                continue
            for n, rec in enumerate(records):
                where = f"{project.where}: activity {n}"
                detail = rec.get("activity") or {}
                sub = detail.get("serviceAccount" if kind == "sa" else "serviceAccountKey") or {}
                full = rec.get("fullResourceName") or sub.get("fullResourceName") or ""
                period = rec.get("observationPeriod") or {}
                start = parse_time(period.get("startTime"), where=where)
                end = parse_time(period.get("endTime"), where=where)
                last = parse_time(detail.get("lastAuthenticatedTime"), where=where)
                if "/serviceAccounts/" not in full:
                    self.warnings.append(f"{where}: activity without a service-account resource name skipped")
                    continue
                rest = full.split("/serviceAccounts/", 1)[1]
                ref = rest.split("/keys/", 1)[0].lower()
                email = ref if "@" in ref else self._email_by_unique_id(ref, sub)
                if email is None:
                    self.warnings.append(f"{where}: activity for unknown service account {ref} skipped")
                    continue
                if kind == "sa":
                    self.ensure_identity(email, "activity analysis")
                    self.usage.append(
                        Usage(
                            identity_id=email,
                            target_kind="identity",
                            last_used=last,
                            source="gcp.activity_analyzer",
                            window_start=start,
                            window_end=end,
                            detail=None if last else "no authentication seen in the observation period",
                        )
                    )
                    continue
                key_id = rest.rsplit("/keys/", 1)[1]
                self._key_activity[key_id] = (last, start, end)

    def _email_by_unique_id(self, unique_id: str, sub: Mapping[str, Any]) -> str | None:
        uid = str(sub.get("serviceAccountId") or unique_id)
        for identity in self.identities.values():
            if str(identity.attributes.get("unique_id")) == uid:
                return identity.id
        return None

    def apply_key_activity(self, collected: set[str]) -> None:
        """Key last-use evidence onto credentials. ``collected``: emails whose project's key activity
        was queried successfully."""
        for cred in self.credentials:
            if cred.identity_id not in collected or cred.managed_by != "user":
                continue
            hit = self._key_activity.get(cred.id)
            if hit is None:
                cred.attributes["usage_note"] = "not in the Activity Analyzer results (too new, or not reported)"
                continue
            last, start, end = hit
            self.usage.append(
                Usage(
                    identity_id=cred.identity_id,
                    credential_id=cred.id,
                    target_kind="credential",
                    target=cred.id,
                    last_used=last,
                    source="gcp.activity_analyzer",
                    window_start=start,
                    window_end=end,
                )
            )
            if last is None and start is not None and cred.created is not None and cred.created < start:
                # created before the observation period: "not used since <start>", not "never used"
                cred.attributes["usage_note"] = f"no authentication seen since {start:%Y-%m-%d} (key is older)"
                continue
            cred.last_used = last
            cred.usage_known = True
            cred.usage_source = "gcp.activity_analyzer"

    def add_sa_insights(self, project: ProjectData) -> None:
        for n, insight in enumerate(project.sa_insights or []):
            where = f"{project.where}: service-account insight {n}"
            content = insight.get("content") or {}
            email = str(content.get("email") or "").lower()
            if not email:
                continue
            if str((insight.get("stateInfo") or {}).get("state", "ACTIVE")) not in RECOMMENDATION_OPEN_STATES:
                continue
            end = parse_time(insight.get("lastRefreshTime"), where=where) or self.snapshot
            period = parse_duration(insight.get("observationPeriod"))
            self.ensure_identity(email, "service-account insight")
            self.usage.append(
                Usage(
                    identity_id=email,
                    target_kind="identity",
                    last_used=parse_time(content.get("lastAuthenticatedTime"), where=where),
                    source="gcp.sa_insight",
                    window_start=end - period if period else None,
                    window_end=end,
                    detail=insight.get("description") or None,
                )
            )

    def add_policy_insights(self, project: ProjectData) -> None:
        for n, insight in enumerate(project.policy_insights or []):
            where = f"{project.where}: policy insight {n}"
            content = insight.get("content") or {}
            member = str(content.get("member") or "")
            role = content.get("role")
            if member_kind(member) != "serviceAccount" or not isinstance(role, str):
                continue
            if str((insight.get("stateInfo") or {}).get("state", "ACTIVE")) not in RECOMMENDATION_OPEN_STATES:
                continue
            email = member.split(":", 1)[1].lower()
            end = parse_time(insight.get("lastRefreshTime"), where=where) or self.snapshot
            period = parse_duration(insight.get("observationPeriod"))
            start = end - period if period else None
            exercised = [
                p.get("permission") if isinstance(p, dict) else p for p in content.get("exercisedPermissions") or []
            ]
            exercised = [p for p in exercised if isinstance(p, str)]
            targets = [self.scope_name(t) for t in insight.get("targetResources") or []]
            on = targets[0] if targets else project.project_id
            granted = self.role_permissions(role)
            total = content.get("currentTotalPermissionsCount")
            total_n = int(total) if str(total or "").isdigit() else (len(granted) if granted else None)
            self.ensure_identity(email, "policy insight")
            self.usage.append(
                Usage(
                    identity_id=email,
                    target_kind="role",
                    target=role,
                    last_used=end if exercised else None,
                    source="gcp.policy_insight",
                    window_start=start,
                    window_end=end,
                    detail=(
                        f"{len(exercised)} of {total_n if total_n is not None else '?'} permissions of {role} on "
                        f"{on} exercised in the observation window"
                    ),
                )
            )
            used_services = {p.split(".", 1)[0] for p in exercised}
            for svc in sorted(self._services_of(role, granted) | used_services):
                self.usage.append(
                    Usage(
                        identity_id=email,
                        target_kind="service",
                        target=svc,
                        last_used=end if svc in used_services else None,
                        source="gcp.policy_insight",
                        window_start=start,
                        window_end=end,
                        detail=f"through {role} on {on}"
                        + ("; exact date not reported" if svc in used_services else ""),
                    )
                )
            for perm in exercised:
                self.usage.append(
                    Usage(
                        identity_id=email,
                        target_kind="permission",
                        target=perm,
                        last_used=end,
                        source="gcp.policy_insight",
                        window_start=start,
                        window_end=end,
                        detail=f"exercised through {role} on {on}; exact date not reported",
                    )
                )
            if granted is None:
                self.warnings.append(
                    f"{where}: role {role} is unknown, so the unused services of its binding could not be listed"
                )
            self._insights[insight.get("name", "")] = {"exercised": len(exercised), "total": total_n}

    def add_recommendations(self, project: ProjectData) -> None:
        for n, rec in enumerate(project.recommendations or []):
            where = f"{project.where}: recommendation {n}"
            subtype = str(rec.get("recommenderSubtype") or "")
            if not subtype.startswith(("REMOVE_ROLE", "REPLACE_ROLE")):
                continue
            content = rec.get("content") or {}
            overview = content.get("overview") or {}
            member = str(overview.get("member") or "")
            removed = overview.get("removedRole")
            resource = overview.get("resource")
            condition = ""
            for group in content.get("operationGroups") or []:
                for op in group.get("operations") or []:
                    filters = op.get("pathFilters") or {}
                    if op.get("action") == "remove":
                        member = member or str(filters.get("/iamPolicy/bindings/*/members/*") or "")
                        removed = removed or filters.get("/iamPolicy/bindings/*/role")
                        resource = resource or op.get("resource")
                        condition = str(filters.get("/iamPolicy/bindings/*/condition/expression") or "")
            if member_kind(member) != "serviceAccount" or not removed:
                continue
            email = member.split(":", 1)[1].lower()
            identity = self.ensure_identity(email, "IAM recommendation")
            details = ((rec.get("primaryImpact") or {}).get("securityProjection") or {}).get("details") or {}
            insights = [a.get("insight") for a in rec.get("associatedInsights") or [] if isinstance(a, dict)]
            identity.attributes.setdefault("recommendations", []).append(
                {
                    "name": rec.get("name"),
                    "subtype": subtype,
                    "role": removed,
                    "added_roles": list(overview.get("addedRoles") or []),
                    "resource": self.scope_name(str(resource)) if resource else None,
                    "condition": condition or None,
                    "state": str((rec.get("stateInfo") or {}).get("state") or "ACTIVE"),
                    "priority": rec.get("priority"),
                    "last_refresh": _iso(parse_time(rec.get("lastRefreshTime"), where=where)),
                    "description": rec.get("description"),
                    "revoked_permissions": _whole(details.get("revokedIamPermissionsCount")),
                    "observation_days": overview.get("minimumObservationPeriodInDays"),
                    "insights": [i for i in insights if i],
                }
            )

    # workload identity federation -------------------------------------------------------------

    def wif_providers(self) -> dict[tuple[str, str], list[tuple[str, dict]]]:
        """(project id, pool id) -> [(provider resource name, provider)]."""
        out: dict[tuple[str, str], list[tuple[str, dict]]] = defaultdict(list)
        for project in self.raw.projects.values():
            for pool_name, providers in project.wif_providers.items():
                parts = pool_name.split("/")
                if len(parts) < 6:
                    continue
                key = (self.project_of(parts[1]) or parts[1], parts[5])
                for prov in providers:
                    out[key].append((str(prov.get("name", "")), prov))
        return out

    # the whole conversion ------------------------------------------------------------------------

    def run(self) -> Inventory:
        self._key_activity: dict[str, tuple[datetime | None, datetime | None, datetime | None]] = {}
        self._insights: dict[str, dict] = {}
        raw = self.raw
        for project in raw.projects.values():
            self.add_service_accounts(project)
        for project in raw.projects.values():
            self.add_keys(project)
            if project.custom_roles:
                self.add_roles(project.custom_roles, scope=f"projects/{project.project_id}")
            self.warnings.extend(project.warnings)
            self.coverage.extend(project.gaps)
        for container in raw.containers.values():
            if container.custom_roles:
                self.add_roles(container.custom_roles, scope=container.name)
        if raw.extra_roles:
            self.add_roles(raw.extra_roles, scope="predefined", kind="gcp.predefined_role")

        # container bindings: grants for service accounts, impersonators for trusts
        container_bindings: dict[str, list[_Binding]] = {}
        for container in raw.containers.values():
            container_bindings[container.name] = self.bindings(container.iam_policy, container.name)
        for project in raw.projects.values():
            scope = f"projects/{project.project_id}"
            container_bindings[scope] = self.bindings(project.iam_policy, scope)
        deleted = 0
        groups: dict[str, int] = defaultdict(int)
        for scope, bindings in container_bindings.items():
            for b in bindings:
                kind = member_kind(b.member)
                if kind == "serviceAccount":
                    self.add_grant(b)
                elif kind == "deleted":
                    deleted += 1
                elif kind == "group":
                    groups[scope] += 1

        # service-account-level bindings
        sa_bindings: dict[str, list[_Binding]] = {}
        for project in raw.projects.values():
            for email, policy in project.sa_policies.items():
                email = email.lower()
                scope = f"projects/{project.project_id}/serviceAccounts/{email}"
                sa_bindings[email] = self.bindings(policy, scope)
                for b in sa_bindings[email]:
                    kind = member_kind(b.member)
                    if kind == "serviceAccount":
                        self.add_grant(b)
                    elif kind == "deleted":
                        deleted += 1
        if deleted:
            self.warnings.append(
                f"{deleted} IAM binding member{'s' if deleted > 1 else ''} name deleted principals (deleted:...); "
                "they grant nothing and were skipped"
            )

        self._add_trusts(container_bindings, sa_bindings)

        activity_ok: set[str] = set()
        for project in raw.projects.values():
            self.add_activity(project)
            if project.key_activity is not None:
                activity_ok.update(self._listed.get(project.project_id, []))
            self.add_sa_insights(project)
            self.add_policy_insights(project)
            self.add_recommendations(project)
        self.apply_key_activity(activity_ok)
        for identity in self.identities.values():
            for rec in identity.attributes.get("recommendations", []):
                for name in rec["insights"]:
                    if name in self._insights:
                        rec.update({"exercised_permissions": self._insights[name]["exercised"]})
                        rec.update({"granted_permissions": self._insights[name]["total"]})

        if groups:
            where = ", ".join(f"{scope} ({count})" for scope, count in sorted(groups.items()))
            self.coverage.append(
                CoverageGap(
                    provider=PROVIDER,
                    scope="*",
                    source="group_membership",
                    status="not_supplied",
                    detail=(
                        f"Google groups hold roles on {where}; group membership is not collected, so a service "
                        "account that is a group member may hold more than reported"
                    ),
                    affects=PERMISSION_RULES,
                )
            )

        self._last_activity()
        sources = [
            Source(
                provider=PROVIDER,
                scope=p.project_id,
                method=raw.method,  # type: ignore[arg-type]
                inputs=p.inputs,
                collected_at=self.snapshot,
                api_calls=dict(sorted(p.api_calls.items())),
            )
            for p in raw.projects.values()
        ]
        return Inventory(
            snapshot_time=raw.snapshot,
            sources=sources,
            identities=list(self.identities.values()),
            credentials=self.credentials,
            policies=self.policies,
            grants=self.grants,
            usage=self.usage,
            trusts=self.trusts,
            coverage=self.coverage,
            warnings=list(dict.fromkeys(self.warnings)),
        )

    def _add_trusts(
        self, container_bindings: dict[str, list[_Binding]], sa_bindings: dict[str, list[_Binding]]
    ) -> None:
        providers = self.wif_providers()
        unknown_roles: set[str] = set()

        def qualifying(bindings: list[_Binding]) -> list[_Binding]:
            out = []
            for b in bindings:
                if member_kind(b.member) == "deleted":
                    continue
                if self.role_permissions(b.role) is None:
                    unknown_roles.add(b.role)
                    continue
                if self.impersonates(b.role):
                    out.append(b)
            return out

        by_container = {scope: qualifying(bs) for scope, bs in container_bindings.items()}
        missing_pools: set[tuple[str, str]] = set()
        for project in self.raw.projects.values():
            chain = [f"projects/{project.project_id}", *(project.ancestors or [])]
            for email in sorted(self._listed.get(project.project_id, [])):
                found: list[tuple[_Binding, str]] = [
                    (b, f"serviceAccount:{email}") for b in qualifying(sa_bindings.get(email, []))
                ]
                for scope in chain:
                    found.extend((b, scope) for b in by_container.get(scope, []))
                grouped: dict[tuple[str, str, str], list[_Binding]] = defaultdict(list)
                for b, source in found:
                    member = b.member
                    if member_kind(member) == "serviceAccount" and member.split(":", 1)[1].lower() == email:
                        continue  # an account acting as itself adds nothing
                    grouped[(member, source, repr(sorted((b.condition or {}).items())))].append(b)
                for (member, source, _), bs in grouped.items():
                    roles = list(dict.fromkeys(b.role for b in bs))
                    condition = bs[0].condition or {}
                    self.trusts.append(
                        Trust(
                            identity_id=email,
                            principal_kind="gcp_member",
                            principal=member,
                            actions=roles,
                            conditions=dict(condition),
                            internal=self.internal(member),
                            source=source,
                        )
                    )
                    pool = _POOL_MEMBER.match(member)
                    if pool:
                        key = (self.project_of(pool.group(1)) or pool.group(1), pool.group(3))
                        if key not in providers:
                            missing_pools.add(key)
                        for name, prov in providers.get(key, []):
                            self.trusts.append(_wif_trust(email, name, prov, member, roles, source))
        known_gaps = {(g.scope, g.source) for g in self.coverage}
        for project, pool_id in sorted(missing_pools):
            if (project, f"wif_providers:{pool_id}") in known_gaps:
                continue
            self.coverage.append(
                CoverageGap(
                    provider=PROVIDER,
                    scope=project,
                    source=f"wif_providers:{pool_id}",
                    status="not_supplied",
                    detail=(
                        f"bindings let workload identity pool {pool_id} of {project} act as service accounts, but "
                        "the pool's providers (issuer, attribute condition) were not collected"
                    ),
                    affects=[],
                )
            )
        for role in sorted(unknown_roles):
            self.warnings.append(
                f"role {role} is unknown (not in the catalog, not a collected custom role): who it lets act as "
                "service accounts could not be judged"
            )

    def _last_activity(self) -> None:
        latest: dict[str, datetime] = {}
        for u in self.usage:
            if u.last_used is None or u.target_kind not in ("identity", "credential"):
                continue
            if u.identity_id not in latest or u.last_used > latest[u.identity_id]:
                latest[u.identity_id] = u.last_used
        for email, moment in latest.items():
            identity = self.identities.get(email)
            if identity is not None:
                identity.last_activity = moment


def _wif_trust(email: str, name: str, prov: dict, member: str, roles: list[str], source: str) -> Trust:
    if "oidc" in prov:
        kind = "oidc"
        issuer = (prov.get("oidc") or {}).get("issuerUri")
        audiences = list((prov.get("oidc") or {}).get("allowedAudiences") or [])
    elif "aws" in prov:
        kind, issuer, audiences = "aws", (prov.get("aws") or {}).get("accountId"), []
    elif "saml" in prov:
        kind, issuer, audiences = "saml", "SAML identity provider (metadata in the provider)", []
    elif "x509" in prov:
        kind, issuer, audiences = "x509", "X.509 trust store", []
    else:
        kind, issuer, audiences = "unknown", None, []
    condition = prov.get("attributeCondition") or None
    return Trust(
        identity_id=email,
        principal_kind=kind,
        principal=name,
        actions=roles,
        conditions={
            "attributeCondition": condition,
            "issuer": issuer,
            "allowedAudiences": audiences,
            "attributeMapping": dict(prov.get("attributeMapping") or {}),
            "member": member,
            "disabled": bool(prov.get("disabled", False)) or str(prov.get("state", "ACTIVE")) != "ACTIVE",
        },
        condition_keys=sorted(re.findall(r"\b(?:assertion|attribute)\.[A-Za-z_][\w.]*", condition or "")),
        internal=None,
        source=source,
    )


def _whole(value: Any) -> Any:
    """Numbers from a protobuf Struct arrive as floats (104.0); keep counts as integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def normalize(raw: GcpRawData, *, catalog: GcpRoleCatalog | None = None) -> Inventory:
    return GcpNormalizer(raw, catalog=catalog).run()
