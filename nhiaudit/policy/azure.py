"""Azure evaluation: role assignments, app permissions and directory roles -> effective access.

Semantics implemented (and tested):

* Azure RBAC: a role definition's permission blocks allow ``actions`` minus ``notActions`` and
  ``dataActions`` minus ``notDataActions`` (``notActions`` subtract within the role; they are not
  a deny). Wildcards (``*``, ``Microsoft.Compute/*``, ``*/read``) match case-insensitively.
  Assignments union across roles and scopes. Control-plane ``*`` never grants data actions.
* Scope: an assignment at root, management-group or subscription scope is unrestricted for
  the resources under it; resource-group and resource scopes are narrower (``resources``).
* Conditions (ABAC conditions on assignments, conditions in role blocks) make a grant
  narrower, not absent.
* Microsoft Graph and other APIs' application permissions, admin-consented delegated scopes
  and Entra directory roles are separate planes with prefixed names (see catalogs.azure).
* Admin: a role that can write role assignments at root / management-group / subscription
  scope (Owner, User Access Administrator, ...), a tier-0 Graph application permission, or a
  tier-0 Entra role at tenant scope.

Deny assignments and PIM-eligible (not active) assignments are not evaluated (docs/azure.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from nhiaudit.catalogs.azure import (
    DATA,
    ENTRA,
    GRAPH,
    AzureCatalog,
    RoleDefinition,
    load_azure_catalog,
    parse_role_definition,
    plane,
    role_guid,
)
from nhiaudit.model import Grant, Identity, Inventory
from nhiaudit.policy.effective import AdminVerdict, EffectiveAccess, PermissionGrant
from nhiaudit.policy.engine import PolicyEngine

BROAD_SCOPES = ("root", "management group", "subscription")


def _pattern(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regex for Azure action patterns ('*' matches anything, '/' included)."""
    parts = [re.escape(p.strip()).replace(r"\*", ".*") for p in patterns if p.strip()]
    if not parts:
        return None
    return re.compile("(?:" + "|".join(parts) + ")", re.IGNORECASE)


def _entra_pattern(actions: Iterable[str]) -> re.Pattern[str] | None:
    """Entra role actions: 'allProperties' and 'allTasks' are wildcards for their segment."""
    parts = []
    for action in actions:
        segments = action[len(ENTRA) :].split("/") if action.startswith(ENTRA) else action.split("/")
        parts.append(
            "/".join(
                ".*" if s.lower() in ("allproperties", "alltasks", "allentities") else re.escape(s) for s in segments
            )
        )
    return re.compile("(?:" + "|".join(parts) + ")", re.IGNORECASE) if parts else None


def scope_kind(scope: str) -> str:
    s = scope.lower().rstrip("/")
    if s == "":
        return "root"
    if s.startswith("/providers/microsoft.management/managementgroups/"):
        return "management group"
    parts = s.split("/")
    if len(parts) == 3 and parts[1] == "subscriptions":
        return "subscription"
    if len(parts) == 5 and parts[1] == "subscriptions" and parts[3] == "resourcegroups":
        return "resource group"
    if parts[1:2] == ["subscriptions"]:
        return "resource"
    return "scope"


def scope_label(scope: str) -> str:
    kind = scope_kind(scope)
    parts = scope.rstrip("/").split("/")
    if kind == "root":
        return "root scope /"
    if kind == "management group":
        return f"management group {parts[-1]}"
    if kind == "subscription":
        return f"subscription {parts[2]}"
    if kind == "resource group":
        return f"resource group {parts[4]} (subscription {parts[2]})"
    return f"{kind} {scope}"


@dataclass
class CompiledBlock:
    actions: re.Pattern[str] | None
    not_actions: re.Pattern[str] | None
    data_actions: re.Pattern[str] | None
    not_data_actions: re.Pattern[str] | None
    condition: str | None

    def allows(self, name: str, data: bool) -> bool:
        allow, deny = (self.data_actions, self.not_data_actions) if data else (self.actions, self.not_actions)
        if allow is None or not allow.fullmatch(name):
            return False
        return deny is None or not deny.fullmatch(name)


@dataclass
class CompiledRole:
    role: RoleDefinition
    blocks: list[CompiledBlock]
    mask: int = 0
    """Catalog actions (control and data) the role allows."""
    everything: bool = False
    """Allows every control-plane action in the catalog."""
    memo: dict[str, CompiledBlock | None] = field(default_factory=dict, repr=False)
    """permission -> the block that allows it (rules ask the same few permissions of every identity)."""

    def allows(self, permission: str) -> CompiledBlock | None:
        if permission in self.memo:
            return self.memo[permission]
        kind = plane(permission)
        block = None
        if kind in ("control", "data"):
            name = permission[len(DATA) :] if kind == "data" else permission
            block = next((b for b in self.blocks if b.allows(name, kind == "data")), None)
        self.memo[permission] = block
        return block


@dataclass
class Assignment:
    """One grant as the engine sees it."""

    label: str
    kind: str
    policy_id: str
    scope: str
    broad: bool
    condition: str | None = None
    role: CompiledRole | None = None
    names: frozenset[str] = frozenset()
    """Lowercase permission names (non-RBAC planes)."""
    entra: re.Pattern[str] | None = None

    def allows(self, permission: str) -> tuple[bool, str | None]:
        """(allowed, condition) for one permission."""
        if self.role is not None:
            block = self.role.allows(permission)
            if block is None:
                return False, None
            return True, self.condition or block.condition
        if self.entra is not None and permission.startswith(ENTRA):
            return bool(self.entra.fullmatch(permission[len(ENTRA) :])), self.condition
        return permission.lower() in self.names, self.condition


@dataclass
class AzureAccess(EffectiveAccess):
    catalog: AzureCatalog = field(default=None, repr=False)  # type: ignore[assignment]
    assignments: list[Assignment] = field(default_factory=list, repr=False)
    rbac_mask: int = 0
    other: dict[str, str] = field(default_factory=dict)
    """Lowercase -> display name of non-RBAC permissions held (graph, app, delegated, entra)."""
    can_sign_in: bool = True
    """False for an app registration without a service principal in the tenant."""

    @property
    def empty(self) -> bool:
        """Known to hold nothing. A service principal with no visible grant is not: resources can grant
        access outside Azure RBAC, Entra roles and app permissions (Key Vault access policies, storage
        account keys, SharePoint and Exchange permissions, other tenants). Only an app registration
        without a service principal here certainly has no access to this tenant."""
        return not self.can_sign_in and super().empty

    def allows(self, permission: str) -> PermissionGrant | None:
        policies: list[str] = []
        unconditional = unrestricted = False
        resources: list[str] = []
        conditions: list[str] = []
        for a in self.assignments:
            ok, condition = a.allows(permission)
            if not ok:
                continue
            if a.label not in policies:
                policies.append(a.label)
            unconditional |= condition is None
            unrestricted |= a.broad
            if not a.broad and a.scope not in resources:
                resources.append(a.scope)
            if condition is not None and condition not in conditions:
                conditions.append(condition)
        if not policies:
            return None
        return PermissionGrant(
            permission=permission,
            policies=tuple(policies),
            unconditional=unconditional,
            unrestricted_resource=unrestricted,
            resources=tuple(resources),
            conditions=tuple(conditions),
        )

    def allows_all(self, permissions: Iterable[str]) -> bool:
        return all(any(a.allows(p)[0] for a in self.assignments) for p in permissions)

    def permission_count(self) -> int:
        return self.rbac_mask.bit_count() + len(self.other)

    def catalog_size(self) -> int | None:
        return len(self.catalog.actions) + len(self.catalog.graph_permissions)

    def services(self) -> list[str]:
        out: set[str] = set()
        for name in self.permissions():
            kind = plane(name)
            if kind in ("control", "data"):
                out.add(name.removeprefix(DATA).split("/", 1)[0])
            elif kind == "graph":
                out.add("Microsoft Graph")
            else:
                out.add(name.split(":", 2)[1] if kind in ("app", "delegated") else "Entra ID")
        return sorted(out)

    def permissions(self) -> Iterator[str]:
        mask = self.rbac_mask
        for i, name in enumerate(self.catalog.actions):
            if (mask >> i) & 1:
                yield name
        yield from sorted(self.other.values())

    def level_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for name in self.permissions():
            level = _level(name)
            counts[level] = counts.get(level, 0) + 1
        return counts

    def held(self, kind: str) -> list[str]:
        """Non-RBAC permissions of one plane ('graph', 'app', 'delegated', 'entra') by display name."""
        return sorted(v for v in self.other.values() if plane(v) == kind)


def _level(name: str) -> str:
    kind = plane(name)
    if kind == "data":
        return "Data"
    if kind in ("graph", "app"):
        return "Application permissions"
    if kind == "delegated":
        return "Delegated permissions"
    if kind == "entra":
        return "Directory role actions"
    low = name.lower()
    if low.endswith("/read"):
        return "Read"
    if low.startswith("microsoft.authorization/"):
        return "Permissions management"
    return "Write"


class AzurePolicyEngine(PolicyEngine):
    provider = "azure"

    def __init__(self, inventory: Inventory, catalog: AzureCatalog | None = None) -> None:
        super().__init__(inventory)
        self.catalog = catalog or load_azure_catalog()
        self._roles: dict[str, CompiledRole | None] = {}
        self._control_all = 0
        for i, name in enumerate(self.catalog.actions):
            if plane(name) == "control":
                self._control_all |= 1 << i
        self._warned: set[str] = set()

    # roles ----------------------------------------------------------------------------------

    def role(self, policy_id: str) -> CompiledRole | None:
        if policy_id in self._roles:
            return self._roles[policy_id]
        policy = self.inventory.policies.get(policy_id)
        definition: RoleDefinition | None = None
        if policy is not None and isinstance(policy.document, dict):
            try:
                definition = parse_role_definition({"id": policy.id, **policy.document})
            except ValueError as exc:
                self.warnings.append(f"role definition {policy.name} ({policy.id}) cannot be evaluated: {exc}")
        if definition is None:
            definition = self.catalog.builtin_role(policy_id)
        compiled = None
        if definition is not None:
            blocks = [
                CompiledBlock(
                    _pattern(b.actions),
                    _pattern(b.not_actions),
                    _pattern(b.data_actions),
                    _pattern(b.not_data_actions),
                    b.condition,
                )
                for b in definition.permissions
            ]
            compiled = CompiledRole(definition, blocks)
            mask = 0
            for i, name in enumerate(self.catalog.actions):
                if compiled.allows(name) is not None:
                    mask |= 1 << i
            compiled.mask = mask
            compiled.everything = (mask & self._control_all) == self._control_all
        self._roles[policy_id] = compiled
        return compiled

    # evaluation -----------------------------------------------------------------------------

    def evaluate(self, identity: Identity, grants: list[Grant]) -> AzureAccess:
        access = AzureAccess(
            provider="azure",
            identity_id=identity.id,
            catalog=self.catalog,
            can_sign_in=identity.kind != "azure.application",
        )
        for grant in grants:
            assignment = self._assignment(grant, access)
            if assignment is None:
                continue
            access.assignments.append(assignment)
            if assignment.role is not None:
                access.rbac_mask |= assignment.role.mask
        access.admin = self._admin(access)
        return access

    def _assignment(self, grant: Grant, access: AzureAccess) -> Assignment | None:
        via = f" (via {grant.via})" if grant.via else ""
        if grant.kind == "role_assignment":
            role = self.role(grant.policy_id)
            scope = grant.scope or "/"
            if role is None:
                access.incomplete.append(
                    f"role {grant.policy_name} ({role_guid(grant.policy_id)}) is assigned at {scope} but its "
                    "definition is not in the input"
                )
                return None
            condition = None
            if isinstance(grant.condition, dict) and grant.condition.get("condition"):
                condition = str(grant.condition["condition"])
            elif isinstance(grant.condition, str) and grant.condition:
                condition = grant.condition
            return Assignment(
                label=f"{role.role.name} at {scope_label(scope)}{via}",
                kind=grant.kind,
                policy_id=grant.policy_id,
                scope=scope,
                broad=scope_kind(scope) in BROAD_SCOPES,
                condition=condition,
                role=role,
            )
        policy = self.inventory.policies.get(grant.policy_id)
        if policy is None:
            access.incomplete.append(
                f"{grant.policy_name} ({grant.policy_id}) is granted but not described in the input"
            )
            return None
        names = policy.permissions or []
        if not names and grant.kind == "app_permission":
            unknown = f"{grant.policy_name} (app role {policy.attributes.get('app_role_id')})"
            access.unknown_permissions.append(unknown)
        for name in names:
            access.other[name.lower()] = name
        scope = grant.scope or "tenant"
        if grant.kind == "directory_role":
            broad = scope == "/"
            label = f"Entra role {policy.name}" + ("" if broad else f" scoped to {scope}") + via
            return Assignment(
                label=label,
                kind=grant.kind,
                policy_id=grant.policy_id,
                scope=scope,
                broad=broad,
                names=frozenset(n.lower() for n in names),
                entra=_entra_pattern(names),
            )
        broad = scope in ("tenant", "all users")
        label = policy.name + ("" if grant.kind != "delegated_permission" else f" for {scope}") + via
        return Assignment(
            label=label,
            kind=grant.kind,
            policy_id=grant.policy_id,
            scope=scope,
            broad=broad,
            names=frozenset(n.lower() for n in names),
        )

    # admin ----------------------------------------------------------------------------------

    def _admin(self, access: AzureAccess) -> AdminVerdict | None:
        candidates: list[tuple[str, str, str, str, str | None]] = []
        """(level, reason, label, scope, condition)."""
        for a in access.assignments:
            if a.role is not None and a.broad:
                hits = [a.allows(action) for action in self.catalog.rbac_admin_actions]
                if not any(ok for ok, _ in hits):
                    continue
                condition = next((c for ok, c in hits if ok and c), None)
                where = scope_label(a.scope)
                if a.role.everything:
                    level = "full"
                    reason = f"holds {a.role.role.name} at {where}, which allows every control-plane action"
                else:
                    level = "equivalent"
                    reason = (
                        f"holds {a.role.role.name} at {where}, which can write role assignments: it can give "
                        "itself (or anyone) Owner there"
                    )
                candidates.append((level, reason, a.label, where, condition))
            elif a.kind == "app_permission":
                for name in sorted(a.names):
                    display = access.other.get(name, name)
                    entry = (
                        self.catalog.tier0_graph.get(display.removeprefix(GRAPH)) if plane(display) == "graph" else None
                    )
                    if entry is not None:
                        reason = f"holds the tier-0 Microsoft Graph application permission {entry.name}: {entry.why}"
                        candidates.append(("equivalent", reason, a.label, "tenant", None))
            elif a.kind == "directory_role" and a.broad:
                policy = self.inventory.policies.get(a.policy_id)
                template = (policy.attributes.get("template_id") if policy else None) or ""
                entry = self.catalog.tier0_directory_roles.get(template)
                if entry is not None:
                    reason = f"holds the tier-0 Entra role {entry.name}: {entry.why}"
                    candidates.append((entry.level, reason, a.label, "tenant", None))
        if not candidates:
            return None
        firm = [c for c in candidates if c[4] is None]
        chosen = firm or candidates
        chosen.sort(key=lambda c: (c[0] != "full", c[3] != "tenant"))
        level, reason, _, _, _ = chosen[0]
        if len(chosen) > 1:
            reason += f" (and {len(chosen) - 1} more admin grant{'s' if len(chosen) > 2 else ''})"
        return AdminVerdict(
            level=level,  # type: ignore[arg-type]
            reason=reason,
            policies=tuple(dict.fromkeys(c[2] for c in chosen)),
            conditional=not firm,
            conditions=tuple(dict.fromkeys(c[4] for c in chosen if c[4])),
            scopes=tuple(dict.fromkeys(c[3] for c in chosen)),
        )
