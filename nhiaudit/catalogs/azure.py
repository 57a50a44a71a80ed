"""Azure catalogs: built-in role definitions, Microsoft Graph application permissions and our
curated tier-0 lists (package data; attribution in NOTICE).

Permission names the Azure engine, the escalation paths and the rules use. The prefixes keep
the planes apart: an Azure ``*`` action never matches a Graph permission, and Owner's ``*``
does not grant data actions.

* control-plane actions as written in role definitions: ``Microsoft.Compute/virtualMachines/write``
* ``data:`` + a data action: ``data:Microsoft.KeyVault/vaults/secrets/getSecret/action``
* ``graph:`` + a Microsoft Graph application permission: ``graph:Application.ReadWrite.All``
* ``app:<resource appId>:`` + an application permission (app role value) of another API
* ``delegated:graph:`` / ``delegated:<resource appId>:`` + a delegated scope consented to the app
* ``entra:`` + an Entra directory role action: ``entra:microsoft.directory/applications/credentials/update``
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
MICROSOFT_TENANT_IDS = frozenset(
    {
        "f8cdef31-a31e-4b4a-93e4-5f571e91255a",  # Microsoft Services: first-party applications
        "72f988bf-86f1-41af-91ab-2d7cd011db47",  # Microsoft corporate tenant
    }
)
"""appOwnerOrganizationId values of Microsoft's own (first-party) applications."""

ROLE_DEFINITION_PREFIX = "/providers/Microsoft.Authorization/roleDefinitions/"

DATA = "data:"
GRAPH = "graph:"
APP = "app:"
DELEGATED = "delegated:"
ENTRA = "entra:"
PREFIXES = (DATA, GRAPH, APP, DELEGATED, ENTRA)

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: Any) -> bool:
    return isinstance(value, str) and bool(_GUID.match(value))


def role_guid(role_definition_id: str) -> str:
    """The GUID at the end of any form of role-definition id (or the GUID itself), lowercase."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()


def role_definition_id(raw: str) -> str:
    """The tenant-neutral id of a role definition.

    Assignments name the same built-in role as ``/subscriptions/<sub>/providers/...`` in one
    subscription and ``/providers/...`` at management-group scope; the GUID is what identifies it.
    """
    return ROLE_DEFINITION_PREFIX + role_guid(raw)


def plane(permission: str) -> str:
    """'control', 'data', 'graph', 'app', 'delegated' or 'entra'."""
    for prefix in PREFIXES:
        if permission.startswith(prefix):
            return prefix[:-1]
    return "control"


# --- role definitions ---------------------------------------------------------------------


@dataclass(frozen=True)
class RolePermission:
    """One permission block of a role definition."""

    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    condition: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "actions": list(self.actions),
            "notActions": list(self.not_actions),
            "dataActions": list(self.data_actions),
            "notDataActions": list(self.not_data_actions),
            "condition": self.condition,
        }


@dataclass(frozen=True)
class RoleDefinition:
    id: str
    """Tenant-neutral: ``/providers/Microsoft.Authorization/roleDefinitions/<guid>``."""
    name: str
    role_type: str
    """BuiltInRole or CustomRole."""
    permissions: tuple[RolePermission, ...]
    assignable_scopes: tuple[str, ...] = ()
    description: str | None = None

    def document(self) -> dict[str, Any]:
        """What ``Policy.document`` holds for a role definition."""
        return {
            "roleName": self.name,
            "roleType": self.role_type,
            "permissions": [p.to_dict() for p in self.permissions],
            "assignableScopes": list(self.assignable_scopes),
        }


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"{where} must be a list of strings")


def parse_role_definition(raw: Any) -> RoleDefinition:
    """A role definition from the packaged catalog, ``az role definition list``, an ARM page
    (``properties`` nested) or a ``Policy.document``. Raises ValueError on a malformed one."""
    if not isinstance(raw, dict):
        raise ValueError("a role definition must be a JSON object")
    props = raw.get("properties") if isinstance(raw.get("properties"), dict) else raw
    ident = raw.get("id") or raw.get("name")
    if not isinstance(ident, str) or not ident:
        raise ValueError("role definition without an id")
    name = props.get("roleName")
    if not isinstance(name, str):
        raise ValueError(f"role definition {ident} has no roleName")
    perms_raw = props.get("permissions", [])
    if not isinstance(perms_raw, list):
        raise ValueError(f"role definition {name}: permissions must be a list")
    permissions = []
    for block in perms_raw:
        if not isinstance(block, dict):
            raise ValueError(f"role definition {name}: a permission block is not an object")
        where = f"role definition {name}"
        permissions.append(
            RolePermission(
                actions=_strings(block.get("actions"), f"{where} actions"),
                not_actions=_strings(block.get("notActions"), f"{where} notActions"),
                data_actions=_strings(block.get("dataActions"), f"{where} dataActions"),
                not_data_actions=_strings(block.get("notDataActions"), f"{where} notDataActions"),
                condition=block.get("condition") or None,
            )
        )
    role_type = props.get("roleType") or props.get("type") or "BuiltInRole"
    if role_type not in ("BuiltInRole", "CustomRole"):
        role_type = "CustomRole" if "custom" in str(role_type).lower() else "BuiltInRole"
    return RoleDefinition(
        id=role_definition_id(ident),
        name=name,
        role_type=role_type,
        permissions=tuple(permissions),
        assignable_scopes=_strings(props.get("assignableScopes"), f"role definition {name} assignableScopes"),
        description=props.get("description"),
    )


# --- Graph permissions and tier 0 ------------------------------------------------------------


@dataclass(frozen=True)
class GraphPermission:
    id: str
    name: str
    privilege_level: int | None


@dataclass(frozen=True)
class Tier0Entry:
    name: str
    why: str
    reference: str | None = None
    level: str = "equivalent"


@dataclass
class AzureCatalog:
    """Everything the Azure engine and collectors look up, loaded once."""

    version: str
    builtin_roles: dict[str, RoleDefinition]
    """role GUID -> definition."""
    graph_permissions: dict[str, GraphPermission]
    """Microsoft Graph appRole id -> permission."""
    tier0_graph: dict[str, Tier0Entry]
    """Graph permission name -> why it is tier 0."""
    high_privilege_graph: dict[str, str]
    """Graph permission name -> why it is high privilege (not tier 0)."""
    high_privilege_min_level: int
    tier0_directory_roles: dict[str, Tier0Entry]
    """Entra role template id -> why it is tier 0."""
    rbac_admin_actions: tuple[str, ...]
    actions: list[str] = field(default_factory=list)
    """Concrete control-plane and data actions named in built-in roles (data ones prefixed 'data:')."""

    def __post_init__(self) -> None:
        self.graph_by_name = {p.name.lower(): p for p in self.graph_permissions.values()}
        self.builtin_by_name = {r.name.lower(): r for r in self.builtin_roles.values()}
        if not self.actions:
            control: dict[str, str] = {}
            data: dict[str, str] = {}
            for role in self.builtin_roles.values():
                for block in role.permissions:
                    for a in (*block.actions, *block.not_actions):
                        if "*" not in a:
                            control.setdefault(a.lower(), a)
                    for a in (*block.data_actions, *block.not_data_actions):
                        if "*" not in a:
                            data.setdefault(a.lower(), a)
            self.actions = sorted(control.values(), key=str.lower) + sorted(
                (DATA + a for a in data.values()), key=str.lower
            )

    def builtin_role(self, role_id: str) -> RoleDefinition | None:
        return self.builtin_roles.get(role_guid(role_id))

    def graph_permission(self, app_role_id: str) -> GraphPermission | None:
        return self.graph_permissions.get(app_role_id.lower())

    def graph_privilege(self, name: str) -> tuple[str, str] | None:
        """('tier0' | 'high', why) for a Graph application permission name, else None."""
        entry = self.tier0_graph.get(name)
        if entry is not None:
            return "tier0", entry.why
        why = self.high_privilege_graph.get(name)
        if why is not None:
            return "high", why
        perm = self.graph_by_name.get(name.lower())
        if (
            perm is not None
            and perm.privilege_level is not None
            and perm.privilege_level >= self.high_privilege_min_level
        ):
            return "high", f"Microsoft rates it privilege level {perm.privilege_level} of 4"
        return None


def _read_data(name: str) -> bytes:
    return (resources.files("nhiaudit.catalogs") / "data" / "azure" / name).read_bytes()


@cache
def load_azure_catalog() -> AzureCatalog:
    roles_doc = json.loads(gzip.decompress(_read_data("built-in-roles.json.gz")))
    graph_doc = json.loads(_read_data("graph-app-permissions.json"))
    tier0_doc = json.loads(_read_data("tier0.json"))
    builtin: dict[str, RoleDefinition] = {}
    for raw in roles_doc["roles"]:
        role = parse_role_definition({**raw, "roleType": "BuiltInRole", "assignableScopes": ["/"]})
        builtin[role_guid(role.id)] = role
    graph = {
        k.lower(): GraphPermission(k.lower(), v["name"], v.get("privilegeLevel"))
        for k, v in graph_doc["appRoles"].items()
    }
    return AzureCatalog(
        version=f"built-in roles: {_commit(roles_doc['source'])}; graph permissions: {_commit(graph_doc['source'])}",
        builtin_roles=builtin,
        graph_permissions=graph,
        tier0_graph={
            e["name"]: Tier0Entry(e["name"], e["why"], e.get("reference")) for e in tier0_doc["graph_app_permissions"]
        },
        high_privilege_graph={e["name"]: e["why"] for e in tier0_doc["high_privilege_graph_app_permissions"]},
        high_privilege_min_level=int(tier0_doc["high_privilege_min_level"]),
        tier0_directory_roles={
            e["id"]: Tier0Entry(e["name"], e["why"], e.get("reference"), e.get("level", "equivalent"))
            for e in tier0_doc["directory_roles"]
        },
        rbac_admin_actions=tuple(tier0_doc["rbac_admin_actions"]),
    )


def _commit(source: str) -> str:
    """'iann0036/iam-dataset ... at commit 2073fa5 (2026-08-22)' -> 'iam-dataset 2073fa5 (2026-08-22)'."""
    match = re.search(r"([\w.-]+/)?([\w.-]+) .*?commit (\w+)(?: \(([\d-]+)\))?", source)
    if not match:
        return source[:40]
    repo, commit, date = match.group(2), match.group(3), match.group(4)
    return f"{repo} {commit}" + (f" ({date})" if date else "")
