"""Offline Azure import: a folder of ``az`` CLI output and raw Microsoft Graph / ARM JSON pages.

Every ``*.json`` file under the folder is read and recognized by its content, so file names
are free (docs/azure.md suggests a layout). Three shapes are understood:

* ``az`` output: a JSON array of objects (``az ad app list --all``, ``az ad sp list --all``,
  ``az role assignment list --all``, ``az role definition list``, ``az account list``, ...);
* a Microsoft Graph page: ``{"@odata.context": ..., "value": [...], "@odata.nextLink": ...}``
  (``az rest`` output);
* an ARM page: ``{"value": [...], "nextLink": ...}``.

Objects that belong to a parent whose id the data does not carry (owners of an app, members
of a group, an app's federated credentials from ``az``) are read from sub-folders named
``owners/``, ``group-members/`` and ``federated-credentials/``, one file per parent named
``<object id>.json`` (or ``<appId>.json`` for federated credentials).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nhiaudit.catalogs.azure import is_guid
from nhiaudit.collectors.azure_convert import (
    PERMISSION_RULES,
    USAGE_RULES,
    AzureConverter,
    AzureData,
    infer_tenant,
    tenant_scopes,
)
from nhiaudit.collectors.interface import Collector
from nhiaudit.errors import InputError
from nhiaudit.model import CoverageGap, Inventory, Source, load_json_file, utcnow

PARENT_FOLDERS = {"owners": "owners", "group-members": "group_members", "federated-credentials": "federated"}
_PAGE_SUFFIX = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-\d+$")
_CONTEXT = re.compile(r"\$metadata#(?P<entity>[A-Za-z0-9/]+)(?:\('(?P<parent>[^']+)'\))?(?P<rest>[^?]*)")


def classify_item(item: dict[str, Any]) -> str | None:
    """What kind of Entra / ARM object this is, from its fields (az output and Graph agree)."""
    props = item.get("properties") if isinstance(item.get("properties"), dict) else item
    odata = str(item.get("@odata.type", ""))
    if "servicePrincipalType" in item or odata == "#microsoft.graph.servicePrincipal":
        return "service_principals"
    if "signInAudience" in item or odata == "#microsoft.graph.application":
        return "applications"
    if "roleName" in props and "permissions" in props:
        return "role_definitions"
    if "principalId" in props and "roleDefinitionId" in props and "scope" in props:
        return "role_assignments"
    if "directoryScopeId" in item and "roleDefinitionId" in item:
        return "directory_role_assignments"
    if "rolePermissions" in item:
        return "directory_role_definitions"
    if "appRoleId" in item and "principalId" in item and "resourceId" in item:
        return "app_role_assignments"
    if "clientId" in item and "consentType" in item:
        return "oauth2_grants"
    if "issuer" in item and "subject" in item and "audiences" in item:
        return "federated"
    if "keyId" in item and "credentialOrigin" in item:
        return "app_credential_sign_in"
    if "lastSignInActivity" in item or "applicationAuthenticationClientSignInActivity" in item:
        return "sp_sign_in"
    if "tenantId" in item and ("subscriptionId" in item or "state" in item):
        return "subscriptions"
    if "securityEnabled" in item and "mailEnabled" in item:
        return "groups"
    return None


CONTEXT_KINDS = {
    "applications": "applications",
    "servicePrincipals": "service_principals",
    "oauth2PermissionGrants": "oauth2_grants",
    "roleManagement/directory/roleAssignments": "directory_role_assignments",
    "roleManagement/directory/roleDefinitions": "directory_role_definitions",
    "reports/servicePrincipalSignInActivities": "sp_sign_in",
    "reports/appCredentialSignInActivities": "app_credential_sign_in",
    "groups": "groups",
}


@dataclass
class ExportFiles:
    """Everything read from an export folder, by kind."""

    items: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    by_parent: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=lambda: defaultdict(dict))
    present: set[str] = field(default_factory=set)
    """Kinds with at least one file (possibly empty): 'collected, none exist' vs 'not supplied'."""
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: dict[tuple[str, str], list[bool]] = field(default_factory=lambda: defaultdict(list))
    """(kind, parent) -> has-next-link of each page, to spot a truncated export."""


def _parent_of(path: Path, root: Path) -> tuple[str, str] | None:
    """('owners' | 'group_members' | 'federated', parent id) for files in a parent folder.

    The file is named after the parent: ``<id>.json``, or ``<id>-<page>.json`` for page files."""
    rel = path.relative_to(root).parts
    if len(rel) >= 2 and rel[-2] in PARENT_FOLDERS:
        stem = path.stem.lower()
        match = _PAGE_SUFFIX.match(stem)
        return PARENT_FOLDERS[rel[-2]], match.group(1) if match else stem
    return None


def read_export(root: Path) -> ExportFiles:
    if not root.exists():
        raise InputError("folder not found", source=root)
    if not root.is_dir():
        raise InputError("not a folder: --from-dir takes the folder holding the az / Graph exports", source=root)
    out = ExportFiles()
    paths = sorted(
        p for p in root.rglob("*.json") if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not paths:
        raise InputError("no .json files in the folder (see docs/azure.md for the export commands)", source=root)
    for path in paths:
        _read_file(path, root, out)
    for (kind, parent), flags in out.pages.items():
        if flags and all(flags):
            what = kind.replace("_", " ") + (f" of {parent}" if parent else "")
            raise InputError(
                f"the export of {what} is incomplete: every page has an @odata.nextLink/nextLink but the last "
                "page is missing; fetch every page (see docs/azure.md)",
                source=root,
            )
    return out


def _read_file(path: Path, root: Path, out: ExportFiles) -> None:
    data = load_json_file(path)
    parent = _parent_of(path, root)
    context_kind: str | None = None
    context_parent: str | None = None
    next_link = False
    if isinstance(data, dict):
        kind = data.get("kind")
        if isinstance(kind, str) and kind.startswith("nhiaudit."):
            raise InputError(
                f"this is an nhiaudit {kind.split('.')[-1]} file, not an Azure export "
                "(analyze it with 'nhiaudit analyze')",
                source=path,
            )
        context = data.get("@odata.context")
        if isinstance(context, str):
            context_kind, context_parent = _context_kind(context)
        if isinstance(data.get("value"), list):
            items = data["value"]
            next_link = bool(data.get("@odata.nextLink") or data.get("nextLink"))
        elif isinstance(context, str) and context.endswith("/$entity"):
            items = [{k: v for k, v in data.items() if k != "@odata.context"}]  # one object (az rest of an item)
        elif "tenantId" in data and "id" in data:
            items = [data]  # az account show
        else:
            out.warnings.append(f"{path.name}: not an az / Graph / ARM export (no 'value' list); ignored")
            return
    elif isinstance(data, list):
        items = data
    else:
        raise InputError(f"expected a JSON array or an object with 'value', got {type(data).__name__}", source=path)
    if not all(isinstance(i, dict) for i in items):
        raise InputError("every entry must be a JSON object", source=path)
    if parent is not None:
        kind, parent_id = parent
        out.by_parent[kind][parent_id] = out.by_parent[kind].get(parent_id, []) + items
        out.present.add(kind)
        out.pages[(kind, parent_id)].append(next_link)
        out.files.append(path)
        return
    if context_kind == "federated" and context_parent:
        out.by_parent["federated"][context_parent.lower()] = (
            out.by_parent["federated"].get(context_parent.lower(), []) + items
        )
        out.present.add("federated")
        out.pages[("federated", context_parent.lower())].append(next_link)
        out.files.append(path)
        return
    kinds = {classify_item(i) or context_kind for i in items}
    if not items:
        if context_kind is None:
            out.warnings.append(f"{path.name}: an empty list; cannot tell what it is, ignored")
            return
        kinds = {context_kind}
    if None in kinds:
        unknown = next(i for i in items if classify_item(i) is None)
        keys = ", ".join(sorted(unknown)[:6])
        if len(kinds) == 1:
            out.warnings.append(f"{path.name}: not a recognized az / Graph / ARM export (fields {keys}); ignored")
            return
        raise InputError(f"mixes recognized objects with unknown ones (fields {keys})", source=path)
    if len(kinds) > 1:
        raise InputError(f"mixes different kinds of objects ({', '.join(sorted(k for k in kinds if k))})", source=path)
    kind = kinds.pop()
    assert kind is not None
    out.items[kind].extend(items)
    out.present.add(kind)
    out.pages[(kind, context_parent or "")].append(next_link)
    out.files.append(path)


def _context_kind(context: str) -> tuple[str | None, str | None]:
    match = _CONTEXT.search(context)
    if not match:
        return None, None
    entity, parent, rest = match.group("entity"), match.group("parent"), match.group("rest")
    # '#servicePrincipals('<id>')/appRoleAssignments' navigates; '#applications(owners())' only expands
    navigation = rest.split("(", 1)[0].strip("/") if rest.startswith("/") else ""
    if navigation == "$entity":
        navigation = ""  # a single object of the entity set
    if entity == "applications" and parent and navigation == "federatedIdentityCredentials":
        return "federated", parent
    if entity == "servicePrincipals" and parent and navigation in ("appRoleAssignments", "appRoleAssignedTo"):
        return "app_role_assignments", parent
    if navigation:
        return None, parent  # a navigation we do not know: classify by content
    return CONTEXT_KINDS.get(entity), parent


def _unique(items: list[dict[str, Any]], key: str = "id") -> list[dict[str, Any]]:
    """One object per id; the same object from several files (az output and Graph pages) is merged,
    so that fields only one of them has (expanded owners, say) are kept."""
    seen: dict[str, dict[str, Any]] = {}
    anonymous = []
    for item in items:
        ident = item.get(key)
        if isinstance(ident, str):
            first = seen.get(ident.lower())
            seen[ident.lower()] = item if first is None else {**item, **first}
        else:
            anonymous.append(item)
    return [*seen.values(), *anonymous]


def build_data(files: ExportFiles, tenant: str | None, root: Path) -> AzureData:
    items = files.items
    apps = _unique(items["applications"])
    sps = _unique(items["service_principals"])
    if not sps:
        raise InputError(
            "no service principals found: the folder needs the output of 'az ad sp list --all' "
            "(or Graph pages of /servicePrincipals); see docs/azure.md",
            source=root,
        )
    subscriptions = {
        str(s.get("subscriptionId") or s.get("id")).split("/")[-1].lower(): str(s.get("displayName") or s.get("name"))
        for s in items["subscriptions"]
    }
    if tenant is None:
        tenants = {str(s["tenantId"]).lower() for s in items["subscriptions"] if is_guid(s.get("tenantId"))}
        tenant = tenants.pop() if len(tenants) == 1 else infer_tenant(apps, sps)
    if tenant is None:
        raise InputError(
            "cannot tell which tenant this export is from: pass --tenant TENANT_ID (or add the output of "
            "'az account show' as account.json)",
            source=root,
        )
    if not is_guid(tenant):
        raise InputError(f"--tenant must be a tenant id (a GUID), got {tenant!r}")
    group_names = {str(g["id"]).lower(): str(g.get("displayName") or g["id"]) for g in items["groups"] if g.get("id")}
    present = files.present
    return AzureData(
        tenant_id=tenant.lower(),
        applications=apps,
        service_principals=sps,
        federated_credentials=files.by_parent.get("federated", {}),
        owners=files.by_parent.get("owners", {}),
        app_role_assignments=_unique(items["app_role_assignments"]) if "app_role_assignments" in present else None,
        oauth2_grants=_unique(items["oauth2_grants"]) if "oauth2_grants" in present else None,
        directory_role_assignments=(
            _unique(items["directory_role_assignments"]) if "directory_role_assignments" in present else None
        ),
        directory_role_definitions=_unique(items["directory_role_definitions"]),
        role_assignments=list(items["role_assignments"]) if "role_assignments" in present else None,
        role_definitions=list(items["role_definitions"]),
        group_members=files.by_parent.get("group_members", {}),
        group_names=group_names,
        subscriptions=subscriptions,
        sp_sign_in=list(items["sp_sign_in"]) if "sp_sign_in" in present else None,
        app_credential_sign_in=list(items["app_credential_sign_in"]) if "app_credential_sign_in" in present else None,
    )


def offline_gaps(data: AzureData, files: ExportFiles) -> list[CoverageGap]:
    """What an export without some files cannot show."""
    tenant = data.tenant_id
    missing: list[tuple[str, str, list[str]]] = []
    present = files.present
    if "applications" not in present:
        missing.append(
            (
                "applications",
                "no app registrations ('az ad app list --all'): their secrets, certificates and federated "
                "credentials are unknown",
                ["credential-not-rotated", "credential-long-lived", "client-secret-authentication", *USAGE_RULES],
            )
        )
    if "federated" not in present:
        missing.append(
            (
                "federated_credentials",
                "no federated identity credentials (federated-credentials/<appId>.json from "
                "'az ad app federated-credential list'): federation trust is unknown",
                ["client-secret-authentication"],
            )
        )
    if not any("owners" in a for a in (*data.applications, *data.service_principals)) and "owners" not in present:
        missing.append(
            (
                "owners",
                "no owners (owners/<object id>.json or $expand=owners): ownership is unknown",
                ["orphaned-identity"],
            )
        )
    if data.role_assignments is None:
        missing.append(
            (
                "role_assignments",
                "no Azure role assignments ('az role assignment list --all --include-inherited'): RBAC access is "
                "unknown",
                PERMISSION_RULES,
            )
        )
    if data.app_role_assignments is None:
        missing.append(
            (
                "app_role_assignments",
                "no app role assignments (Graph /servicePrincipals/{id}/appRoleAssignments pages): Microsoft Graph "
                "and API application permissions are unknown",
                PERMISSION_RULES,
            )
        )
    if data.directory_role_assignments is None:
        missing.append(
            (
                "directory_role_assignments",
                "no Entra role assignments (Graph /roleManagement/directory/roleAssignments): directory roles held "
                "by service principals are unknown",
                PERMISSION_RULES,
            )
        )
    if data.sp_sign_in is None:
        missing.append(
            (
                "sp_signin_activity",
                "no service principal sign-in activity (Graph beta /reports/servicePrincipalSignInActivities): "
                "identity activity is unknown",
                USAGE_RULES,
            )
        )
    if data.app_credential_sign_in is None:
        missing.append(
            (
                "app_credential_signin_activity",
                "no app credential sign-in activity (Graph beta /reports/appCredentialSignInActivities): "
                "per-credential usage is unknown",
                ["credential-never-used", "credential-unused"],
            )
        )
    return [
        CoverageGap(
            provider="azure", scope=tenant, source=source, status="not_supplied", detail=detail, affects=affects
        )
        for source, detail, affects in missing
    ]


class AzureExportCollector(Collector):
    provider = "azure"

    def __init__(
        self,
        directory: Path,
        *,
        tenant: str | None = None,
        snapshot_time: datetime | None = None,
        method: str = "offline",
    ) -> None:
        self.directory = directory
        self.tenant = tenant
        self.snapshot_time = snapshot_time
        self.method = method

    def collect(self) -> Inventory:
        files = read_export(self.directory)
        data = build_data(files, self.tenant, self.directory)
        snapshot = self.snapshot_time or utcnow()
        converted = AzureConverter(data, snapshot=snapshot).convert()
        return converted.to_inventory(
            snapshot_time=self.snapshot_time,
            sources=[
                Source(
                    provider="azure",
                    scope=data.tenant_id,
                    method=self.method,  # type: ignore[arg-type]
                    inputs=[str(p) for p in files.files],
                    collected_at=snapshot,
                )
            ],
            coverage=[*offline_gaps(data, files), *converted.coverage],
            warnings=[*files.warnings, *converted.warnings],
            scopes=tenant_scopes(data),
        )
