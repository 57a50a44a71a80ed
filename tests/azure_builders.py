"""Small builders for Azure inventories in tests: Graph-shaped objects through the real converter."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from nhiaudit.collectors.azure_convert import AzureConverter, AzureData
from nhiaudit.model import Inventory
from tests.conftest import SNAPSHOT

TENANT = "0f3b8c2e-1d4a-4e6b-9c7d-2a5e8f1b3c6d"
OTHER_TENANT = "9c1e5a7b-3d2f-4b8e-a6c4-1f0d7e9b2a35"
MICROSOFT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
GRAPH_SP = "5e1d9a47-2c3b-4f6e-8a0d-7b9c1e3f5a24"
OWNER = "2b7e4c1a-9d3f-4a6b-8e5c-0f1d2a3b4c5d"
SUB = "7a2c4e6b-8d0f-4a1b-9c3d-5e7f9a1b3c5d"
ROLE = {
    "Owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
    "User Access Administrator": "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    "Role Based Access Control Administrator": "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
}
GRAPH_ROLE = {
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Directory.Read.All": "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
    "GroupMember.ReadWrite.All": "dbaae8cf-10b5-4b86-a4a1-f871c94c6695",
}


def gid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"nhiaudit-test/{name}"))


def graph_sp() -> dict[str, Any]:
    return {
        "id": GRAPH_SP,
        "appId": GRAPH_APP,
        "displayName": "Microsoft Graph",
        "servicePrincipalType": "Application",
        "appOwnerOrganizationId": MICROSOFT,
        "accountEnabled": True,
    }


def owner(name: str = "ann", *, guest: bool = False, enabled: bool = True) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.user",
        "id": gid(f"user/{name}"),
        "userPrincipalName": f"{name}@contoso.example",
        "userType": "Guest" if guest else "Member",
        "accountEnabled": enabled,
    }


def secret(name: str, start: str = "2026-09-01T00:00:00Z", end: str | None = "2027-03-01T00:00:00Z") -> dict[str, Any]:
    return {
        "keyId": gid(f"secret/{name}"),
        "displayName": name,
        "startDateTime": start,
        "endDateTime": end,
        "hint": "Qx7",  # the first characters of the secret: never kept
        "secretText": None,
    }


def cert(name: str, start: str = "2026-09-01T00:00:00Z", end: str = "2027-03-01T00:00:00Z", usage: str = "Verify"):
    return {
        "keyId": gid(f"cert/{name}"),
        "displayName": f"CN={name}",
        "startDateTime": start,
        "endDateTime": end,
        "type": "AsymmetricX509Cert",
        "usage": usage,
    }


def app_with_sp(
    name: str,
    *,
    secrets: list[dict[str, Any]] = (),  # type: ignore[assignment]
    certs: list[dict[str, Any]] = (),  # type: ignore[assignment]
    owners: list[dict[str, Any]] | None = None,
    enabled: bool = True,
    created: str = "2025-01-01T00:00:00Z",
    fics: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    app_id = gid(f"{name}/appId")
    app = {
        "id": gid(f"{name}/app"),
        "appId": app_id,
        "displayName": name,
        "createdDateTime": created,
        "signInAudience": "AzureADMyOrg",
        "passwordCredentials": list(secrets),
        "keyCredentials": list(certs),
    }
    if owners is not None:
        app["owners"] = owners
    if fics is not None:
        app["federatedIdentityCredentials"] = fics
    sp = {
        "id": gid(f"{name}/sp"),
        "appId": app_id,
        "displayName": name,
        "servicePrincipalType": "Application",
        "appOwnerOrganizationId": TENANT,
        "accountEnabled": enabled,
        "owners": [],
    }
    return app, sp


def foreign_sp(name: str, *, tenant: str = OTHER_TENANT, publisher: str = "Vendor Inc") -> dict[str, Any]:
    return {
        "id": gid(f"{name}/sp"),
        "appId": gid(f"{name}/appId"),
        "displayName": name,
        "servicePrincipalType": "Application",
        "appOwnerOrganizationId": tenant,
        "accountEnabled": True,
        "verifiedPublisher": {"displayName": publisher},
        "owners": [owner()],
    }


def rbac(principal: str, role: str, scope: str, *, condition: str | None = None, ptype: str = "ServicePrincipal"):
    return {
        "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{gid(principal + role + scope)}",
        "principalId": principal,
        "principalType": ptype,
        "roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/"
        + ROLE.get(role, role),
        "roleDefinitionName": role,
        "scope": scope,
        "condition": condition,
        "conditionVersion": "2.0" if condition else None,
    }


def graph_grant(sp: dict[str, Any], permission: str) -> dict[str, Any]:
    return {
        "principalId": sp["id"],
        "principalType": "ServicePrincipal",
        "resourceId": GRAPH_SP,
        "resourceDisplayName": "Microsoft Graph",
        "appRoleId": GRAPH_ROLE[permission],
    }


def inventory(
    *,
    apps: list[dict[str, Any]] = (),  # type: ignore[assignment]
    sps: list[dict[str, Any]] = (),  # type: ignore[assignment]
    snapshot: datetime = SNAPSHOT,
    **kwargs: Any,
) -> Inventory:
    data = AzureData(tenant_id=TENANT, applications=list(apps), service_principals=[graph_sp(), *sps], **kwargs)
    out = AzureConverter(data, snapshot=snapshot).convert()
    return Inventory(
        snapshot_time=snapshot,
        identities=out.identities,
        credentials=out.credentials,
        policies=out.policies,
        grants=out.grants,
        usage=out.usage,
        trusts=out.trusts,
        coverage=out.coverage,
        warnings=out.warnings,
    )
