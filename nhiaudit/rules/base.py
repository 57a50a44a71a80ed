"""What every rule is made of: metadata, the analysis context, and a finding builder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, ClassVar

from nhiaudit.model import (
    PROGRAMMATIC_CREDENTIALS,
    Confidence,
    CoverageGap,
    Credential,
    Finding,
    Identity,
    Inventory,
    References,
    Severity,
    Trust,
    Usage,
    fingerprint,
)
from nhiaudit.policy.effective import EffectiveAccess
from nhiaudit.settings import Settings

PROVIDER_LABELS = {"aws": "AWS", "gcp": "GCP", "azure": "Azure"}

KIND_LABELS = {
    "aws.role": "Role",
    "aws.user": "IAM user",
    "gcp.service_account": "Service account",
    "gcp.member": "Member",
    "azure.service_principal": "Service principal",
    "azure.managed_identity": "Managed identity",
    "azure.application": "App registration",
    "gcp.workload_identity_provider": "Workload identity provider",
}


@dataclass(frozen=True)
class RuleMeta:
    """A rule's declaration. Documentation and reports are generated from it."""

    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    owasp_nhi: tuple[str, ...]
    nist_800_207: tuple[str, ...]
    nist_800_53: tuple[str, ...] = ()
    cis: tuple[str, ...] = ()
    providers: tuple[str, ...] = ("aws", "gcp", "azure")
    settings: tuple[str, ...] = ()
    """Settings (thresholds) the rule reads, for the rules reference."""

    def references(self, provider: str | None = None) -> References:
        label = PROVIDER_LABELS.get(provider or "", "")
        cis = [c for c in self.cis if not label or c.startswith(f"CIS {label} ")]
        return References.fast(
            owasp_nhi=list(self.owasp_nhi),
            nist_800_207=list(self.nist_800_207),
            nist_800_53=list(self.nist_800_53),
            cis=cis,
        )


@dataclass
class AnalysisContext:
    """Everything a rule may look at. Rules never call a cloud API."""

    inventory: Inventory
    settings: Settings
    as_of: datetime
    access: dict[str, EffectiveAccess]
    warnings: list[str] = field(default_factory=list)
    rules_run: frozenset[str] | None = None
    """Ids of the rules this analysis runs (None = unknown), for rules that defer to another rule."""
    memo: dict[str, Any] = field(default_factory=dict, repr=False)
    """Derived structures several rules share (the trust graph, environments), built once per analysis."""

    def __post_init__(self) -> None:
        self._credentials: dict[str, list[Credential]] = defaultdict(list)
        for cred in self.inventory.credentials:
            self._credentials[cred.identity_id].append(cred)
        self._usage: dict[str, list[Usage]] = defaultdict(list)
        for usage in self.inventory.usage:
            self._usage[usage.identity_id].append(usage)
        self._trusts: dict[str, list[Trust]] = defaultdict(list)
        for trust in self.inventory.trusts:
            self._trusts[trust.identity_id].append(trust)
        self._identities = {i.id: i for i in self.inventory.identities}
        self._nhis: dict[frozenset[str] | None, list[Identity]] = {}

    # selection ------------------------------------------------------------------------------

    def nhis(self, providers: Iterable[str] | None = None) -> Iterator[Identity]:
        """Identities the rules apply to: NHIs, not provider-owned unless configured."""
        key = frozenset(providers) if providers is not None else None
        selected = self._nhis.get(key)
        if selected is None:  # every rule asks: select once per analysis
            include_owned = self.settings.include_provider_owned
            selected = self._nhis[key] = [
                identity
                for identity in self.inventory.identities
                if identity.is_nhi
                and (include_owned or not identity.provider_owned)
                and (key is None or identity.provider in key)
            ]
        return iter(selected)

    def identity(self, identity_id: str) -> Identity | None:
        return self._identities.get(identity_id)

    def credentials(self, identity_id: str) -> list[Credential]:
        return self._credentials.get(identity_id, [])

    def active_programmatic(self, identity_id: str) -> list[Credential]:
        return [c for c in self.credentials(identity_id) if c.status == "active" and c.kind in PROGRAMMATIC_CREDENTIALS]

    def usage(self, identity_id: str, target_kind: str | None = None) -> list[Usage]:
        records = self._usage.get(identity_id, [])
        return [u for u in records if target_kind is None or u.target_kind == target_kind]

    def trusts(self, identity_id: str) -> list[Trust]:
        return self._trusts.get(identity_id, [])

    def gaps(self, provider: str, scope: str) -> list[CoverageGap]:
        return [g for g in self.inventory.coverage if g.provider == provider and g.scope in (scope, "*")]

    # time -----------------------------------------------------------------------------------

    def days_since(self, moment: datetime | None) -> int | None:
        if moment is None:
            return None
        return max(0, (self.as_of - moment).days)


_REFERENCES: dict[tuple[RuleMeta, str], References] = {}


class Rule(ABC):
    """One check. Subclasses set ``meta`` and implement ``check``."""

    meta: ClassVar[RuleMeta]

    @abstractmethod
    def check(self, ctx: AnalysisContext) -> Iterable[Finding]: ...

    def _references(self, provider: str) -> References:
        """The rule's references for a provider, built once: findings share them (read-only)."""
        key = (self.meta, provider)
        found = _REFERENCES.get(key)
        if found is None:
            found = _REFERENCES[key] = self.meta.references(provider)
        return found

    def finding(
        self,
        ctx: AnalysisContext,
        identity: Identity,
        *,
        description: str,
        evidence: dict[str, Any],
        credential: Credential | None = None,
        severity: Severity | None = None,
        confidence: Confidence = Confidence.HIGH,
        remediation: str | None = None,
        key: str | None = None,
    ) -> Finding:
        """Build a finding. ``key`` distinguishes several findings of one rule on one identity."""
        credential_id = credential.id if credential else None
        return Finding.fast(
            fingerprint=fingerprint(self.meta.id, identity.provider, identity.scope, identity.id, credential_id, key),
            rule_id=self.meta.id,
            title=self.meta.title,
            severity=severity or self.meta.severity,
            confidence=confidence,
            provider=identity.provider,
            scope=identity.scope,
            identity_id=identity.id,
            identity_name=identity.name,
            identity_kind=identity.kind,
            credential_id=credential_id,
            description=description,
            evidence=evidence,
            remediation=remediation or self.meta.remediation,
            references=self._references(identity.provider),
            first_seen=ctx.as_of,
        )


def describe(identity: Identity) -> str:
    """'Role ci-deploy (123456789012)' -- how findings name an identity."""
    label = KIND_LABELS.get(identity.kind, identity.kind)
    return f"{label} {identity.name} ({identity.scope})"


def iso(moment: datetime | None) -> str | None:
    return _iso(moment, moment.utcoffset()) if moment else None


@lru_cache(maxsize=8192)
def _iso(moment: datetime, offset: object) -> str:
    """Cached: findings repeat the same few dates (usage windows, snapshot times) thousands of
    times. The offset is part of the key: equal instants in two time zones print differently."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def credential_label(cred: Credential) -> str:
    """'access key 2', 'access key AKIA...', 'client secret deploy-2025' -- never a secret value."""
    kind = cred.kind.value.replace("_", " ")
    name = cred.name or cred.id
    return name if name.lower().startswith(kind) else f"{kind} {name}"


SOURCE_LABELS = {
    "aws.role_last_used": "AWS RoleLastUsed",
    "aws.credential_report": "IAM credential report",
    "aws.access_advisor": "IAM Access Advisor",
    "aws.access_analyzer": "IAM Access Analyzer",
    "azure.sp_signin_activity": "Entra service principal sign-in activity",
    "azure.app_credential_signin_activity": "Entra app credential sign-in activity",
    "gcp.activity_analyzer": "GCP Activity Analyzer",
    "gcp.sa_insight": "GCP service-account insight",
    "gcp.policy_insight": "GCP IAM policy insight",
}
"""Evidence source id -> words for findings."""


def source_label(source: str) -> str:
    return SOURCE_LABELS.get(source, source)
