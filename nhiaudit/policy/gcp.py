"""GCP role-binding evaluation: grants -> effective permissions per service account.

Semantics implemented (and tested):

* A grant is one role bound to the identity on one resource (``Grant.scope``): an
  organization, folder or project (a *container*: the permissions reach every resource in
  it), or a single resource such as a service account (the permissions reach that resource
  only, so they are *narrowed*).
* Roles expand to permissions through the packaged predefined-role catalog, or through the
  custom role's permission list (``Policy.permissions``, kind ``gcp.custom_role``). A role
  known to neither makes the evaluation incomplete (warning), never silently empty.
* Conditional bindings (IAM Conditions) are recorded, not dropped: the permission is
  allowed, narrowed by the condition.
* Admin verdicts follow CIS GCP 1.5: ``roles/owner`` is full admin; ``roles/editor`` and any
  role that can change the IAM policy of a project, folder or organization are
  admin-equivalent; other ``*Admin`` roles are service-level admin.

IAM deny policies and principal access boundaries are not evaluated (see docs/gcp.md).
Each role is compiled once into a bitset; an identity's access is a handful of ORs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from nhiaudit.catalogs.gcp_roles import GcpRoleCatalog, load_catalog
from nhiaudit.model import Grant, Identity, Inventory
from nhiaudit.policy.effective import AdminVerdict, EffectiveAccess, PermissionGrant
from nhiaudit.policy.engine import PolicyEngine

OWNER = "roles/owner"
EDITOR = "roles/editor"
CONTAINER_PREFIXES = ("organizations/", "folders/", "projects/")
IAM_POLICY_SETTERS = (
    "resourcemanager.organizations.setIamPolicy",
    "resourcemanager.folders.setIamPolicy",
    "resourcemanager.projects.setIamPolicy",
)
"""Holding one of these on a container means the identity can grant itself any role there."""


WORKFORCE_MEMBER = re.compile(r"^principal(?:Set)?://iam\.googleapis\.com/locations/[^/]+/workforcePools/")


def member_kind(member: str) -> str:
    """user | group | domain | serviceAccount | principal | principalSet | allUsers | ... | deleted."""
    if member.startswith("deleted:"):
        return "deleted"
    if member in ("allUsers", "allAuthenticatedUsers"):
        return member
    if member.startswith(("principal://", "principalSet://")):
        return member.split("://", 1)[0]
    return member.split(":", 1)[0]


def is_human_member(member: str) -> bool:
    """People (or anyone): users, groups, whole domains, workforce identities, allUsers."""
    kind = member_kind(member)
    if kind in ("user", "group", "domain", "allUsers", "allAuthenticatedUsers"):
        return True
    return bool(WORKFORCE_MEMBER.match(member))


def is_container(scope: str | None) -> bool:
    """``projects/p``, ``folders/1``, ``organizations/2`` -- not a resource inside them."""
    return bool(scope) and scope.startswith(CONTAINER_PREFIXES) and scope.count("/") == 1  # type: ignore[union-attr]


def is_admin_role_name(role: str) -> bool:
    """CIS GCP 1.5: roles whose name says Admin (``roles/storage.admin``, ``roles/iam.serviceAccountAdmin``)."""
    parts = role.rsplit("/", 1)[-1].split(".")
    names = parts[1:] if len(parts) > 1 else parts  # skip the service: "roles/compute.instanceAdmin.v1"
    return any(part.lower().endswith("admin") for part in names)


def condition_text(condition: Any) -> str:
    if not isinstance(condition, dict):
        return str(condition)
    title = condition.get("title") or ""
    expression = condition.get("expression") or ""
    if title and expression:
        return f"{title}: {expression}"
    return title or expression or "condition"


@dataclass(frozen=True)
class CompiledRole:
    mask: int
    unknown: tuple[str, ...]
    title: str
    custom: bool


@dataclass
class BoundRole:
    label: str
    """What a finding shows: 'roles/editor on projects/shop-prod'."""
    role: str
    scope: str
    container: bool
    condition: dict | None
    compiled: CompiledRole

    @property
    def unconditional(self) -> bool:
        return not self.condition

    @property
    def full(self) -> bool:
        return self.container and self.unconditional


@dataclass
class GcpAccess(EffectiveAccess):
    catalog: GcpRoleCatalog = field(default=None, repr=False)  # type: ignore[assignment]
    bound: list[BoundRole] = field(default_factory=list, repr=False)
    effective_any: int = 0
    effective_full: int = 0

    # EffectiveAccess interface ------------------------------------------------------------

    def allows_all(self, permissions: Iterable[str]) -> bool:
        for perm in permissions:
            idx = self.catalog.index_of(perm)
            if idx is None:
                if not any(perm in b.compiled.unknown for b in self.bound):
                    return False
            elif not (self.effective_any >> idx) & 1:
                return False
        return True

    def allows(self, permission: str) -> PermissionGrant | None:
        idx = self.catalog.index_of(permission)
        if idx is None:
            hits = [b for b in self.bound if permission in b.compiled.unknown]
        elif (self.effective_any >> idx) & 1:
            hits = [b for b in self.bound if (b.compiled.mask >> idx) & 1]
        else:
            return None
        if not hits:
            return None
        resources = tuple(dict.fromkeys(b.scope for b in hits if not b.container))
        conditions = tuple(dict.fromkeys(condition_text(b.condition) for b in hits if b.condition))
        return PermissionGrant(
            permission=permission,
            policies=tuple(dict.fromkeys(b.label for b in hits)),
            unconditional=any(b.unconditional for b in hits),
            unrestricted_resource=any(b.container for b in hits),
            resources=resources,
            conditions=conditions,
        )

    def permission_count(self) -> int:
        return self.effective_any.bit_count()

    def catalog_size(self) -> int | None:
        return self.catalog.size

    def services(self) -> list[str]:
        extra = {p.split(".", 1)[0] for p in self.unknown_permissions}
        return sorted(set(self.catalog.services_in(self.effective_any)) | extra)

    def permissions(self) -> Iterator[str]:
        return self.catalog.names(self.effective_any)

    def level_counts(self) -> dict[str, int]:
        return self.catalog.level_counts(self.effective_any)

    # GCP extras ---------------------------------------------------------------------------

    def roles_on(self, scope: str) -> list[BoundRole]:
        return [b for b in self.bound if b.scope == scope]


class GcpPolicyEngine(PolicyEngine):
    provider = "gcp"

    def __init__(self, inventory: Inventory, catalog: GcpRoleCatalog | None = None) -> None:
        super().__init__(inventory)
        self.catalog = catalog or load_catalog()
        self._compiled: dict[str, CompiledRole | None] = {}
        self._warned: set[str] = set()
        self._setter_mask, _ = self.catalog.mask_of(IAM_POLICY_SETTERS)

    def compile_role(self, role: str) -> CompiledRole | None:
        if role in self._compiled:
            return self._compiled[role]
        compiled: CompiledRole | None = None
        policy = self.inventory.policies.get(role)
        if policy is not None and policy.permissions is not None:
            deleted = bool(policy.attributes.get("deleted"))
            perms = [] if deleted else policy.permissions
            mask, unknown = self.catalog.mask_of(perms)
            compiled = CompiledRole(mask, tuple(unknown), policy.name, policy.kind == "gcp.custom_role")
            if deleted:
                self.warnings.append(f"role {role} is deleted: bindings to it grant nothing")
            if unknown:
                shown = ", ".join(unknown[:3]) + (" ..." if len(unknown) > 3 else "")
                self.warnings.append(
                    f"role {role} grants {len(unknown)} permission{'s' if len(unknown) > 1 else ''} the GCP role "
                    f"catalog ({self.catalog.version}) does not know ({shown}); they are evaluated by name only"
                )
        else:
            info = self.catalog.role(role)
            if info is not None:
                compiled = CompiledRole(self.catalog.role_mask(role) or 0, (), info.title, False)
        self._compiled[role] = compiled
        return compiled

    def evaluate(self, identity: Identity, grants: list[Grant]) -> GcpAccess:
        access = GcpAccess(provider="gcp", identity_id=identity.id, catalog=self.catalog)
        unknown: list[str] = []
        for grant in grants:
            compiled = self.compile_role(grant.policy_id)
            if compiled is None:
                access.incomplete.append(
                    f"role {grant.policy_id} is bound on {grant.scope} but is neither in the GCP role catalog "
                    f"({self.catalog.version}) nor among the collected custom roles"
                )
                if grant.policy_id not in self._warned:
                    self._warned.add(grant.policy_id)
                    self.warnings.append(
                        f"role {grant.policy_id} is unknown (not in the catalog, not a collected custom role): "
                        "identities bound to it are evaluated without it"
                    )
                continue
            scope = grant.scope or ""
            condition = grant.condition if isinstance(grant.condition, dict) and grant.condition else None
            label = f"{grant.policy_id} on {scope}" if scope else grant.policy_id
            if condition:
                label += f" if {condition.get('title') or condition.get('expression') or 'condition'}"
            bound = BoundRole(label, grant.policy_id, scope, is_container(scope), condition, compiled)
            access.bound.append(bound)
            access.effective_any |= compiled.mask
            if bound.full:
                access.effective_full |= compiled.mask
            unknown.extend(p for p in compiled.unknown if p not in unknown)
        access.unknown_permissions = unknown
        access.admin = self._admin_verdict(access)
        if not access.bound and not access.incomplete:
            # bindings on individual resources (buckets, datasets, secrets, ...) are not collected, so
            # "no permissions" is not proof that the account was decommissioned
            access.incomplete.append(
                "no organization, folder, project or service-account binding grants it anything; bindings on "
                "other resources (buckets, datasets, ...) are not collected"
            )
        return access

    # admin --------------------------------------------------------------------------------

    def _admin_verdict(self, access: GcpAccess) -> AdminVerdict | None:
        containers = [b for b in access.bound if b.container]
        levels: dict[str, list[BoundRole]] = {"full": [], "equivalent": [], "service": []}
        for b in containers:
            if b.role == OWNER:
                levels["full"].append(b)
            elif b.role == EDITOR or b.compiled.mask & self._setter_mask:
                levels["equivalent"].append(b)
            elif is_admin_role_name(b.role):
                levels["service"].append(b)
        for level in ("full", "equivalent", "service"):
            hits = levels[level]
            if not hits:
                continue
            strong = [b for b in hits if b.unconditional]
            chosen = strong or hits
            conditions = () if strong else tuple(dict.fromkeys(condition_text(b.condition) for b in hits))
            return AdminVerdict(
                level=level,  # type: ignore[arg-type]
                reason=self._reason(level, chosen, access),
                policies=tuple(dict.fromkeys(b.label for b in chosen)),
                conditional=not strong,
                conditions=conditions,
            )
        return None

    def _reason(self, level: str, bound: list[BoundRole], access: GcpAccess) -> str:
        scopes = ", ".join(dict.fromkeys(b.scope for b in bound))
        count = access.effective_any.bit_count()
        if level == "full":
            return (
                f"holds the basic Owner role on {scopes}: every permission there ({count:,} of the "
                f"{self.catalog.size:,} in the GCP catalog), including changing who has access"
            )
        if level == "equivalent":
            if any(b.role == EDITOR for b in bound):
                return (
                    f"holds the basic Editor role on {scopes}: write access to nearly every service ({count:,} "
                    "permissions), including creating keys for and acting as every service account there, "
                    "which leads to any role those accounts hold"
                )
            roles = ", ".join(dict.fromkeys(b.role for b in bound))
            return f"can change the IAM policy of {scopes} ({roles}), so it can grant itself any role there"
        roles = ", ".join(dict.fromkeys(b.role for b in bound))
        return (
            f"holds administrator role{'s' if len(bound) > 1 else ''} {roles} on {scopes} (full control of "
            f"{', '.join(self._main_services(bound))})"
        )

    def _main_services(self, bound: list[BoundRole]) -> list[str]:
        """The services a role administers: those holding most of its permissions."""
        counts: dict[str, int] = {}
        for b in bound:
            for svc in self.catalog.services_in(b.compiled.mask):
                counts[svc] = counts.get(svc, 0) + (b.compiled.mask & self.catalog.service_mask(svc)).bit_count()
        ranked = sorted(counts, key=lambda s: (-counts[s], s))
        top = counts[ranked[0]] if ranked else 0
        return [s for s in ranked if counts[s] * 4 >= top][:4] or ["no known service"]
