"""Principals as trust analysis sees them: whose account, project, tenant or domain they are in,
and whether that is inside the organization.

"Inside" means: a scanned account / project / subscription / tenant, a scope the collector
listed as part of the organization (``Scope.in_organization``, e.g. from
``aws organizations list-accounts``), or one named in the ``[organization]`` section of the
config file. Domains (GCP members, Azure guests) are inside when listed in ``[organization]
domains``, or as the domain of a collected GCP organization / Azure tenant scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nhiaudit.model import Inventory, Trust
from nhiaudit.settings import Settings

ARN_ACCOUNT_RE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]*::(\d{12}):")
ACCOUNT_RE = re.compile(r"^\d{12}$")
SA_EMAIL_RE = re.compile(r"^[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$")
APPSPOT_RE = re.compile(r"^([a-z][a-z0-9-]{4,28}[a-z0-9])@appspot\.gserviceaccount\.com$")
COMPUTE_DEFAULT_RE = re.compile(r"^(\d+)-compute@developer\.gserviceaccount\.com$")
GKE_WORKLOAD_RE = re.compile(r"^([a-z][a-z0-9-]{4,28}[a-z0-9])\.svc\.id\.goog\[([^/\]]+)/([^\]]+)\]$")
POOL_RE = re.compile(r"projects/(\d+)/locations/[^/]+/workloadIdentityPools/([^/]+)")
GOOGLE_AGENT_DOMAINS = (
    "gcp-sa-",
    "cloudservices.gserviceaccount.com",
    "cloudbuild.gserviceaccount.com",
    "container-engine-robot.iam.gserviceaccount.com",
    "compute-system.iam.gserviceaccount.com",
    "serverless-robot-prod.iam.gserviceaccount.com",
)


def aws_account_of(value: str) -> str | None:
    """Account id of an ARN or a bare account id."""
    if ACCOUNT_RE.match(value):
        return value
    match = ARN_ACCOUNT_RE.match(value)
    return match.group(1) if match else None


@dataclass(frozen=True)
class GcpMember:
    """A parsed IAM policy member string."""

    raw: str
    kind: str
    """user | group | domain | serviceAccount | allUsers | allAuthenticatedUsers | principal | principalSet |
    deleted | projectOwner | projectEditor | projectViewer | unknown"""
    value: str
    email: str | None = None
    domain: str | None = None
    project: str | None = None
    """Project id (or number for default compute accounts and WIF pools) the member belongs to."""
    workforce: bool = False
    """A workforce identity pool member (people signed in through an external IdP)."""
    pool: str | None = None
    """Workload identity pool ``projects/N/locations/global/workloadIdentityPools/P`` for principal(Set)."""
    google_managed: bool = False

    @property
    def human(self) -> bool:
        return self.kind in ("user", "group", "domain", "allUsers", "allAuthenticatedUsers") or self.workforce

    @property
    def public(self) -> bool:
        return self.kind in ("allUsers", "allAuthenticatedUsers")


def parse_member(member: str) -> GcpMember:
    text = member.strip()
    if text in ("allUsers", "allAuthenticatedUsers"):
        return GcpMember(text, text, text)
    kind, _, value = text.partition(":")
    if kind == "deleted":
        return GcpMember(text, "deleted", value)
    if kind in ("user", "group"):
        domain = value.rsplit("@", 1)[-1].lower() if "@" in value else None
        return GcpMember(text, kind, value, email=value.lower(), domain=domain)
    if kind == "domain":
        return GcpMember(text, "domain", value, domain=value.lower())
    if kind == "serviceAccount":
        email = value.lower()
        project = None
        for regex in (SA_EMAIL_RE, APPSPOT_RE, COMPUTE_DEFAULT_RE):
            match = regex.match(email)
            if match:
                project = match.group(1)
                break
        gke = GKE_WORKLOAD_RE.match(value)
        if gke:
            project = gke.group(1)
        managed = any(part in email.split("@", 1)[-1] for part in GOOGLE_AGENT_DOMAINS) or email.startswith("service-")
        return GcpMember(
            text,
            "serviceAccount",
            value,
            email=email,
            domain=email.rsplit("@", 1)[-1],
            project=project,
            google_managed=managed,
        )
    if kind in ("principal", "principalSet"):
        rest = text.split(":", 1)[1]
        workforce = "/workforcePools/" in rest
        pool = POOL_RE.search(rest)
        return GcpMember(
            text,
            kind,
            rest,
            workforce=workforce,
            pool=pool.group(0) if pool else None,
            project=pool.group(1) if pool else None,
        )
    if kind in ("projectOwner", "projectEditor", "projectViewer"):
        return GcpMember(text, kind, value, project=value)
    return GcpMember(text, "unknown", text)


@dataclass
class Organization:
    """What is inside the organization, from the inventory and the config file."""

    accounts: set[str] = field(default_factory=set)
    """Account / project / subscription / tenant ids (and GCP project numbers) inside."""
    scanned: set[str] = field(default_factory=set)
    domains: set[str] = field(default_factory=set)
    listed_for: set[str] = field(default_factory=set)
    """Providers whose organization members were supplied (org scopes, or "*" for the config file's list)."""
    numbers: dict[str, str] = field(default_factory=dict)
    """GCP project number -> project id (from identities' ``project_number`` and scopes' ``number``)."""

    @classmethod
    def build(cls, inventory: Inventory, settings: Settings) -> Organization:
        org = cls()
        # scanned scopes: where the data came from (identities seen only in bindings live elsewhere)
        org.scanned = {s.scope for s in inventory.sources} or {i.scope for i in inventory.identities}
        org.accounts |= org.scanned
        for identity in inventory.identities:
            number = identity.attributes.get("project_number")
            if number and identity.provider == "gcp":
                org.numbers.setdefault(str(number), identity.scope)
        for scope in inventory.scopes:
            if scope.in_organization is False:
                continue
            if scope.in_organization and scope.kind != "azure.tenant":
                org.listed_for.add(scope.provider)
                org.accounts.add(scope.id)
                number = scope.attributes.get("number") or scope.attributes.get("project_number")
                if number:
                    org.accounts.add(str(number))
                    org.numbers.setdefault(str(number), scope.id)
            if scope.kind in ("gcp.organization", "azure.tenant") and scope.name and "." in scope.name:
                org.domains.add(scope.name.lower())
            for domain in scope.attributes.get("domains") or []:
                org.domains.add(str(domain).lower())
        if settings.organization_accounts:
            org.listed_for.add("*")
            org.accounts |= set(settings.organization_accounts)
        org.domains |= {d.lower() for d in settings.organization_domains}
        return org

    def listed(self, provider: str) -> bool:
        """The organization's accounts / projects / subscriptions of this provider were supplied."""
        return provider in self.listed_for or "*" in self.listed_for

    def project_id(self, value: str | None) -> str | None:
        """A GCP project id from an id or a project number (None when the number is unknown)."""
        if value is None or not value.isdigit():
            return value
        return self.numbers.get(value)

    def contains(self, scope_id: str | None) -> bool | None:
        """True inside, False outside (when the organization is known), None when it cannot be told."""
        if scope_id is None:
            return None
        return scope_id in self.accounts

    def domain_inside(self, domain: str | None) -> bool | None:
        if domain is None or not self.domains:
            return None
        domain = domain.lower()
        return any(domain == d or domain.endswith("." + d) for d in self.domains)

    def trust_inside(self, trust: Trust) -> bool | None:
        """Whether a trust's principal is inside the organization (None = cannot tell)."""
        if trust.internal:
            return True
        kind = trust.principal_kind
        if kind in ("account", "role", "user"):
            if self.contains(aws_account_of(trust.principal)):
                return True
            return False if trust.internal is None else trust.internal
        if kind == "azure_tenant":
            return self.contains(trust.principal) or (False if trust.internal is False else None)
        if kind == "gcp_member":
            member = parse_member(trust.principal)
            if member.google_managed:
                return True
            if member.kind == "serviceAccount":
                project = self.project_id(member.project)
                if (project and project in self.accounts) or (member.project and member.project in self.accounts):
                    return True
                return trust.internal if trust.internal is not None else (False if self.listed("gcp") else None)
            if member.kind in ("principal", "principalSet"):
                if member.project and member.project in self.accounts:
                    return True
                return trust.internal
            if member.public:
                return False
            domain_inside = self.domain_inside(member.domain)
            return domain_inside if domain_inside is not None else trust.internal
        return trust.internal
