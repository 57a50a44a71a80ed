"""The provider-neutral view of what an identity may do, as rules see it.

Each provider's engine (``policy/aws.py``, ``policy/gcp.py``, ``policy/azure.py``) evaluates
its own grant language and returns an ``EffectiveAccess``. Rules only use this interface, so a
rule such as "admin-equivalent" or "privilege escalation" is written once for every cloud.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class PermissionGrant:
    """How one permission is granted to one identity, for evidence in findings."""

    permission: str
    policies: tuple[str, ...]
    unconditional: bool = True
    """Granted by at least one statement / binding without conditions."""
    unrestricted_resource: bool = True
    """Granted on every resource ("*", a whole project or subscription)."""
    resources: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    partially_denied: bool = False
    self_only: bool = False
    """Every granting statement is limited to the identity itself (``${aws:username}``)."""

    @property
    def narrowed(self) -> bool:
        return not self.unconditional or not self.unrestricted_resource or self.partially_denied

    def narrowing(self) -> str:
        """Words for a finding: how the grant is narrower than unconditional."""
        if not self.narrowed:
            return ""
        parts = []
        if not self.unconditional:
            parts.append("only under conditions (" + ", ".join(self.conditions) + ")")
        if not self.unrestricted_resource:
            shown = ", ".join(self.resources[:3]) + (" ..." if len(self.resources) > 3 else "")
            parts.append(f"only on specific resources ({shown})")
        if self.partially_denied:
            parts.append("partly denied by a conditional or resource-scoped Deny")
        return "; ".join(parts)


@dataclass(frozen=True)
class AdminVerdict:
    level: Literal["full", "equivalent", "service"]
    """full: every permission; equivalent: can grant itself every permission (or nearly all of
    them, like GCP Editor); service: administrator of some services only (GCP ``*Admin`` roles)."""
    reason: str
    policies: tuple[str, ...]
    conditional: bool = False
    """Only through conditional or resource-scoped grants: narrower, not absent."""
    conditions: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    """Where the identity is admin when that is narrower than, or differs from, its own scope
    (Azure subscriptions and management groups, 'tenant'); empty = its whole account or project."""

    @property
    def account_wide(self) -> bool:
        """Admin of the whole account / project / tenant, not of some services only."""
        return self.level != "service"


@dataclass
class EffectiveAccess(ABC):
    """What an identity is effectively allowed to do, after denies and boundaries."""

    provider: str
    identity_id: str
    admin: AdminVerdict | None = None
    notes: list[str] = field(default_factory=list)
    """Facts worth showing: a boundary capping an admin grant, a deny cancelling it, ..."""
    unknown_permissions: list[str] = field(default_factory=list)
    """Granted names the catalog does not know (newer than the catalog, or typos)."""
    incomplete: list[str] = field(default_factory=list)
    """Why the evaluation may be incomplete (a referenced policy was missing, ...)."""

    @abstractmethod
    def allows(self, permission: str) -> PermissionGrant | None:
        """How ``permission`` is granted, or None when it is not effectively allowed."""

    @abstractmethod
    def allows_all(self, permissions: Iterable[str]) -> bool:
        """Fast check: every permission is effectively allowed (possibly narrowed)."""

    def allows_each(self, groups: tuple[tuple[str, ...], ...]) -> list[bool]:
        """``allows_all`` for many permission groups at once (engines may do this faster)."""
        return [self.allows_all(group) for group in groups]

    @abstractmethod
    def permission_count(self) -> int:
        """Number of distinct permissions effectively allowed (catalog-known ones)."""

    @abstractmethod
    def catalog_size(self) -> int | None:
        """Number of permissions the provider's catalog knows, when that is meaningful."""

    @abstractmethod
    def services(self) -> list[str]:
        """Service namespaces with at least one allowed permission."""

    @abstractmethod
    def permissions(self) -> Iterator[str]:
        """Every allowed permission (catalog-known), in catalog order."""

    @abstractmethod
    def level_counts(self) -> dict[str, int]:
        """Allowed permissions per access level (List, Read, Write, Permissions management, Tagging)."""

    def service_of(self, permission: str) -> str:
        """The service a permission belongs to, as usage evidence names it.

        The default reads the three permission syntaxes: ``s3:GetObject`` -> ``s3`` (AWS),
        ``Microsoft.Storage/storageAccounts/read`` -> ``microsoft.storage`` (Azure),
        ``storage.objects.get`` -> ``storage`` (GCP). Engines may override it.
        """
        if ":" in permission:
            return permission.split(":", 1)[0].lower()
        if "/" in permission:
            return permission.split("/", 1)[0].lower()
        return permission.split(".", 1)[0].lower()

    def service_counts(self) -> dict[str, int]:
        """Allowed permissions per service (``service_of``); engines may override it with a faster count."""
        counts: dict[str, int] = {}
        for perm in self.permissions():
            service = self.service_of(perm)
            counts[service] = counts.get(service, 0) + 1
        return counts

    def permissions_in(self, service: str) -> list[str]:
        """Allowed permissions of one service; engines may override it with a faster lookup."""
        return [p for p in self.permissions() if self.service_of(p) == service]

    @property
    def empty(self) -> bool:
        return self.permission_count() == 0 and not self.unknown_permissions
