"""Microsoft Graph and Azure Resource Manager JSON -> normalized records.

Shared by the offline importer (``az`` output and raw Graph / ARM pages) and the live collector
(which serializes the SDKs' objects back to the same JSON), so both paths produce the same
inventory from the same data.

How Entra objects map to the model (see docs/azure.md):

* An app registration and its service principal in the same (home) tenant are **one identity**,
  the service principal (object id): the application's secrets, certificates, federated
  credentials and owners belong to it, because that is what signs in with them and what holds
  the role assignments. An app registration without a service principal in the tenant is an
  ``azure.application`` identity of its own.
* Service principals of other tenants' applications (third-party, multi-tenant) carry an
  ``azure_tenant`` trust to the owner tenant; Microsoft's own are provider-owned.
* Managed identities (``azure.managed_identity``) have platform-managed keys and no owners.
* SAML token-signing and token-encryption keys are not sign-in credentials of the identity:
  they are recorded in ``attributes["token_keys"]``, not as credentials.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nhiaudit.catalogs.azure import (
    APP,
    DELEGATED,
    ENTRA,
    GRAPH,
    MICROSOFT_GRAPH_APP_ID,
    MICROSOFT_TENANT_IDS,
    AzureCatalog,
    RoleDefinition,
    is_guid,
    load_azure_catalog,
    parse_role_definition,
    role_definition_id,
    role_guid,
)
from nhiaudit.collectors.records import Records
from nhiaudit.errors import InputError
from nhiaudit.model import (
    CoverageGap,
    Credential,
    CredentialKind,
    Grant,
    Identity,
    Policy,
    Scope,
    Trust,
    Usage,
)

SP_SIGNIN_SOURCE = "azure.sp_signin_activity"
CREDENTIAL_SIGNIN_SOURCE = "azure.app_credential_signin_activity"
DEFAULT_ACCESS_ROLE = "00000000-0000-0000-0000-000000000000"
"""appRoleId of an assignment that grants no app role (default access)."""

USAGE_RULES = ["identity-unused", "credential-never-used", "credential-unused"]
PERMISSION_RULES = ["admin-equivalent", "privilege-escalation", "third-party-privileged-app"]

_OFFSET = re.compile(r"([+-])(\d):(\d\d)$")


def parse_time(value: Any, where: str = "") -> datetime | None:
    """Graph / ARM timestamps ('2025-01-01T00:00:00.1234567Z'); None for null or empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InputError(f"{where}: expected a timestamp, got {type(value).__name__}")
    text = _OFFSET.sub(r"\g<1>0\2:\3", value.strip())
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{where}: not a timestamp: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass
class AzureData:
    """Raw Entra and ARM objects of one tenant, in Graph / ARM JSON shape.

    ``None`` for a list means "not collected" (the collector records why as a coverage gap);
    an empty list means "collected, none exist".
    """

    tenant_id: str
    applications: list[dict[str, Any]] = field(default_factory=list)
    service_principals: list[dict[str, Any]] = field(default_factory=list)
    federated_credentials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """application object id or appId -> federatedIdentityCredentials."""
    owners: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """application or service-principal object id -> owners (when not expanded inline as ``owners``);
    an object with neither has unknown owners."""
    app_role_assignments: list[dict[str, Any]] | None = None
    oauth2_grants: list[dict[str, Any]] | None = None
    directory_role_assignments: list[dict[str, Any]] | None = None
    directory_role_definitions: list[dict[str, Any]] = field(default_factory=list)
    role_assignments: list[dict[str, Any]] | None = None
    role_definitions: list[dict[str, Any]] = field(default_factory=list)
    group_members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """group object id -> transitive members (only service principals matter)."""
    group_names: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)
    """subscription id -> display name."""
    sp_sign_in: list[dict[str, Any]] | None = None
    app_credential_sign_in: list[dict[str, Any]] | None = None


def infer_tenant(applications: list[dict[str, Any]], service_principals: list[dict[str, Any]]) -> str | None:
    """The home tenant: the owner organization of the service principals of this tenant's apps."""
    app_ids = {a.get("appId") for a in applications}
    owners = {
        sp.get("appOwnerOrganizationId")
        for sp in service_principals
        if sp.get("appId") in app_ids and is_guid(sp.get("appOwnerOrganizationId"))
    }
    return owners.pop().lower() if len(owners) == 1 else None


class AzureConverter:
    def __init__(self, data: AzureData, *, snapshot: datetime, catalog: AzureCatalog | None = None) -> None:
        self.data = data
        self.tenant = data.tenant_id.lower()
        self.snapshot = snapshot
        self.catalog = catalog or load_azure_catalog()
        self.out = Records()
        self.sp_by_id: dict[str, dict[str, Any]] = {}
        self.identity_by_app_object: dict[str, str] = {}
        self.app_ids: dict[str, str] = {}
        """identity id -> appId."""

    # --- entry point ----------------------------------------------------------------------

    def convert(self) -> Records:
        for sp in self.data.service_principals:
            sp_id = _str(sp.get("id"))
            if sp_id is None:
                raise InputError("a service principal has no id")
            self.sp_by_id[sp_id.lower()] = sp
        apps_by_appid = {a["appId"].lower(): a for a in self.data.applications if _str(a.get("appId"))}
        for sp in self.data.service_principals:
            app = apps_by_appid.get(str(sp.get("appId", "")).lower())
            self._service_principal(sp, app)
        for app in self.data.applications:
            if _str(app.get("id")) is None:
                raise InputError("an application has no id")
            if app["id"].lower() not in self.identity_by_app_object:
                self._application_only(app)
        self._rbac()
        self._app_role_assignments()
        self._oauth2_grants()
        self._directory_roles()
        self._sign_in_activity()
        return self.out

    # --- identities -----------------------------------------------------------------------

    def _owner_details(self, obj: dict[str, Any], source: str) -> list[dict[str, Any]] | None:
        raw = obj.get("owners")
        if raw is None:
            raw = self.data.owners.get(str(obj.get("id", "")).lower())
        if raw is None and source == "application":
            raw = self.data.owners.get(str(obj.get("appId", "")).lower())
        if raw is None:
            return None
        details = []
        for owner in raw:
            if not isinstance(owner, dict):
                continue
            odata = str(owner.get("@odata.type", ""))
            kind = odata.rsplit(".", 1)[-1] if odata else ("user" if owner.get("userPrincipalName") else "unknown")
            upn = _str(owner.get("userPrincipalName"))
            user_type = _str(owner.get("userType"))
            guest = None
            if kind == "user":
                guest = user_type == "Guest" or (upn is not None and "#EXT#" in upn.upper())
            enabled = owner.get("accountEnabled")
            details.append(
                {
                    "id": owner.get("id"),
                    "name": upn or _str(owner.get("displayName")) or owner.get("id"),
                    "type": kind,
                    "user_type": user_type,
                    "guest": guest,
                    "enabled": enabled if isinstance(enabled, bool) else None,
                    "source": source,
                }
            )
        return details

    def _service_principal(self, sp: dict[str, Any], app: dict[str, Any] | None) -> None:
        sp_id = sp["id"]
        sp_type = sp.get("servicePrincipalType") or "Application"
        owner_org = str(sp.get("appOwnerOrganizationId") or "").lower() or None
        home = app is not None or owner_org == self.tenant
        attributes: dict[str, Any] = {
            "app_id": sp.get("appId"),
            "service_principal_type": sp_type,
            "app_owner_organization_id": owner_org,
            "home_tenant": home,
            "account_enabled": sp.get("accountEnabled", True) is not False,
        }
        provider_owned = False
        is_nhi = True
        kind = "azure.service_principal"
        if sp_type == "ManagedIdentity":
            kind = "azure.managed_identity"
            resource = next((n for n in sp.get("alternativeNames") or [] if str(n).startswith("/")), None)
            explicit = "isExplicit=True" in (sp.get("alternativeNames") or [])
            attributes["managed_identity_type"] = "user-assigned" if explicit else "system-assigned"
            attributes["managed_identity_resource"] = resource
            classification = f"{attributes['managed_identity_type']} managed identity" + (
                f" of {resource}" if resource else ""
            )
        elif sp_type == "SocialIdp":
            is_nhi = False
            classification = "social identity provider (not a workload)"
        elif app is not None:
            classification = "app registration in this tenant with its service principal"
        elif owner_org in MICROSOFT_TENANT_IDS:
            provider_owned = True
            classification = "Microsoft first-party application"
        elif owner_org and owner_org != self.tenant:
            publisher = (sp.get("verifiedPublisher") or {}).get("displayName") or sp.get("publisherName")
            classification = f"third-party multi-tenant application owned by tenant {owner_org}" + (
                f" (publisher {publisher})" if publisher else ""
            )
        else:
            classification = "service principal"
        if app is not None:
            attributes.update(
                application_object_id=app.get("id"),
                sign_in_audience=app.get("signInAudience"),
                publisher_domain=app.get("publisherDomain"),
            )
        verified = (app or sp).get("verifiedPublisher") or {}
        if verified.get("displayName"):
            attributes["verified_publisher"] = verified.get("displayName")
        if sp.get("publisherName"):
            attributes["publisher_name"] = sp.get("publisherName")
        if sp.get("preferredSingleSignOnMode"):
            attributes["sso_mode"] = sp.get("preferredSingleSignOnMode")

        owners_known = kind != "azure.managed_identity"
        owner_details: list[dict[str, Any]] = []
        for obj, source in ((app, "application"), (sp, "service_principal")):
            if obj is None:
                continue
            details = self._owner_details(obj, source)
            if details is None:
                owners_known = False
            else:
                owner_details.extend(details)
        if kind != "azure.managed_identity":
            attributes["owner_details"] = owner_details
        tags = [*(sp.get("tags") or []), *((app or {}).get("tags") or [])]
        created = parse_time(sp.get("createdDateTime"), f"servicePrincipal {sp_id}")
        if app is not None:
            created = parse_time(app.get("createdDateTime"), f"application {app.get('id')}") or created
        identity = Identity(
            id=sp_id,
            provider="azure",
            scope=self.tenant,
            kind=kind,
            name=sp.get("displayName") or (app or {}).get("displayName") or sp_id,
            created=created,
            disabled=sp.get("accountEnabled") is False,
            is_nhi=is_nhi,
            classification=classification,
            provider_owned=provider_owned,
            human_signin=False,
            owners=_owner_names(owner_details),
            owners_known=owners_known,
            tags=_tags(tags),
            description=_str(sp.get("description")) or _str((app or {}).get("description")) or _str(sp.get("notes")),
            attributes=attributes,
        )
        self._add_identity(identity, sp.get("appId"))
        if app is not None:
            self.identity_by_app_object[app["id"].lower()] = sp_id
            self._credentials(identity, app, "application", managed=False)
            self._federated(identity, app)
        self._credentials(identity, sp, "servicePrincipal", managed=kind == "azure.managed_identity")
        if owner_org and not home and owner_org not in MICROSOFT_TENANT_IDS and sp_type == "Application":
            self.out.trusts.append(
                Trust(
                    identity_id=sp_id,
                    principal_kind="azure_tenant",
                    principal=owner_org,
                    actions=["sign in as the application with credentials held by the owner tenant"],
                    conditions={
                        "app_id": sp.get("appId"),
                        "publisher": attributes.get("verified_publisher") or attributes.get("publisher_name"),
                    },
                    internal=False,
                    source="servicePrincipal.appOwnerOrganizationId",
                )
            )

    def _application_only(self, app: dict[str, Any]) -> None:
        owner_details = self._owner_details(app, "application")
        identity = Identity(
            id=app["id"],
            provider="azure",
            scope=self.tenant,
            kind="azure.application",
            name=app.get("displayName") or app["id"],
            created=parse_time(app.get("createdDateTime"), f"application {app['id']}"),
            is_nhi=True,
            classification="app registration without a service principal in this tenant",
            human_signin=False,
            owners=_owner_names(owner_details or []),
            owners_known=owner_details is not None,
            tags=_tags(app.get("tags") or []),
            description=_str(app.get("description")) or _str(app.get("notes")),
            attributes={
                "app_id": app.get("appId"),
                "application_object_id": app["id"],
                "home_tenant": True,
                "sign_in_audience": app.get("signInAudience"),
                "publisher_domain": app.get("publisherDomain"),
                "owner_details": owner_details or [],
            },
        )
        self._add_identity(identity, app.get("appId"))
        self.identity_by_app_object[app["id"].lower()] = app["id"]
        self._credentials(identity, app, "application", managed=False)
        self._federated(identity, app)

    def _add_identity(self, identity: Identity, app_id: str | None) -> None:
        self.out.identities.append(identity)
        if app_id:
            self.app_ids[identity.id] = app_id.lower()

    # --- credentials and federation ---------------------------------------------------------

    def _credentials(self, identity: Identity, obj: dict[str, Any], origin: str, *, managed: bool) -> None:
        where = f"{origin} {obj.get('id')}"
        token_keys: list[dict[str, Any]] = identity.attributes.setdefault("token_keys", [])
        saml = str(obj.get("preferredSingleSignOnMode") or "").lower() == "saml"
        for raw, kind in (
            *((c, CredentialKind.CLIENT_SECRET) for c in obj.get("passwordCredentials") or []),
            *((c, CredentialKind.CERTIFICATE) for c in obj.get("keyCredentials") or []),
        ):
            if not isinstance(raw, dict) or not _str(raw.get("keyId")):
                raise InputError(f"{where}: a credential has no keyId")
            start = parse_time(raw.get("startDateTime"), where)
            end = parse_time(raw.get("endDateTime"), where)
            usage = str(raw.get("usage") or ("Verify" if kind == CredentialKind.CERTIFICATE else "")).lower()
            if saml or (kind == CredentialKind.CERTIFICATE and usage not in ("verify", "")):
                token_keys.append(
                    {
                        "key_id": raw["keyId"],
                        "kind": kind.value,
                        "usage": raw.get("usage") or ("Sign" if saml else None),
                        "end": end.isoformat() if end else None,
                        "origin": origin,
                    }
                )
                continue
            self.out.credentials.append(
                Credential(
                    id=raw["keyId"].lower(),
                    identity_id=identity.id,
                    kind=kind,
                    name=_str(raw.get("displayName")),
                    status="expired" if end is not None and end <= self.snapshot else "active",
                    created=start,
                    expires=end,
                    expires_known=True,
                    managed_by="provider" if managed else "user",
                    attributes={
                        "origin": origin,
                        "object_id": obj.get("id"),
                        **({"certificate_type": raw.get("type")} if kind == CredentialKind.CERTIFICATE else {}),
                    },
                )
            )
        if not token_keys:
            identity.attributes.pop("token_keys")

    def _federated(self, identity: Identity, app: dict[str, Any]) -> None:
        fics = self.data.federated_credentials.get(str(app["id"]).lower())
        if fics is None:
            fics = self.data.federated_credentials.get(str(app.get("appId", "")).lower())
        if fics is None:
            fics = app.get("federatedIdentityCredentials") or []
        for fic in fics:
            issuer = _str(fic.get("issuer"))
            if issuer is None:
                raise InputError(f"application {app['id']}: a federated credential has no issuer")
            conditions: dict[str, Any] = {
                "issuer": issuer,
                "subject": fic.get("subject"),
                "audiences": list(fic.get("audiences") or []),
            }
            matching = fic.get("claimsMatchingExpression")
            if isinstance(matching, dict) and matching.get("value"):
                conditions["claimsMatchingExpression"] = matching.get("value")
            name = fic.get("name") or fic.get("id")
            self.out.trusts.append(
                Trust(
                    identity_id=identity.id,
                    principal_kind="azure_federated",
                    principal=issuer,
                    actions=["exchange an external token for the application's access tokens"],
                    conditions=conditions,
                    condition_keys=[k for k in ("subject", "claimsMatchingExpression") if conditions.get(k)],
                    internal=None,
                    source=f"federatedIdentityCredential:{name}",
                )
            )
            self.out.credentials.append(
                Credential(
                    id=str(fic.get("id") or f"{app['id']}#fic:{name}").lower(),
                    identity_id=identity.id,
                    kind=CredentialKind.FEDERATED,
                    name=name,
                    expires_known=True,
                    attributes={"issuer": issuer, "subject": fic.get("subject"), "origin": "application"},
                )
            )

    # --- grants ------------------------------------------------------------------------------

    def _principal_ids(self, principal_id: str, principal_type: str | None) -> list[tuple[str, str | None]]:
        """(identity id, via) pairs a grant to ``principal_id`` applies to."""
        key = principal_id.lower()
        if key in self.sp_by_id:
            return [(self.sp_by_id[key]["id"], None)]
        if principal_type == "Group" or key in self.data.group_members:
            members = self.data.group_members.get(key)
            if members is None:
                return []
            name = self.data.group_names.get(key) or principal_id
            via = f"group {name} ({principal_id})" if name != principal_id else f"group {principal_id}"
            return [
                (self.sp_by_id[m["id"].lower()]["id"], via)
                for m in members
                if isinstance(m, dict) and str(m.get("id", "")).lower() in self.sp_by_id
            ]
        return []

    def _role_definitions(self) -> dict[str, RoleDefinition]:
        roles: dict[str, RoleDefinition] = {}
        for raw in self.data.role_definitions:
            try:
                role = parse_role_definition(raw)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            roles[role_guid(role.id)] = role
        return roles

    def _rbac(self) -> None:
        if self.data.role_assignments is None:
            return
        defined = self._role_definitions()
        groups_without_members: set[str] = set()
        deleted: set[str] = set()
        seen: set[str] = set()
        for raw in self.data.role_assignments:
            ra = _flatten_arm(raw)
            principal = _str(ra.get("principalId"))
            role_id = _str(ra.get("roleDefinitionId"))
            scope = _str(ra.get("scope"))
            if principal is None or role_id is None or scope is None:
                raise InputError(
                    f"role assignment {ra.get('id') or ra.get('name')}: needs principalId, roleDefinitionId and scope"
                )
            key = str(ra.get("id") or f"{principal}|{role_id}|{scope}").lower()
            if key in seen:
                continue  # inherited assignments appear in every subscription's listing
            seen.add(key)
            ptype = ra.get("principalType")
            if ptype in ("User", "ForeignGroup", "Device"):
                continue
            targets = self._principal_ids(principal, ptype)
            if not targets:
                if ptype == "Group" and principal.lower() not in self.data.group_members:
                    groups_without_members.add(principal)
                elif ptype in ("ServicePrincipal", "Unknown", None):
                    deleted.add(str(ra.get("id") or principal))
                continue
            guid = role_guid(role_id)
            role = defined.get(guid) or self.catalog.builtin_roles.get(guid)
            policy_id = role_definition_id(role_id)
            name = role.name if role else (_str(ra.get("roleDefinitionName")) or guid)
            if role is not None and policy_id not in self.out.policies:
                self.out.policies[policy_id] = Policy(
                    id=policy_id,
                    provider="azure",
                    kind="azure.role_definition",
                    name=role.name,
                    document=role.document(),
                    attributes={
                        "role_type": role.role_type,
                        "source": "input" if guid in defined else "catalog",
                    },
                )
            condition = None
            if ra.get("condition"):
                condition = {"condition": ra.get("condition"), "conditionVersion": ra.get("conditionVersion")}
            for identity_id, via in targets:
                self.out.grants.append(
                    Grant(
                        identity_id=identity_id,
                        policy_id=policy_id,
                        policy_name=name,
                        kind="role_assignment",
                        scope=_normalize_scope(scope),
                        via=via,
                        condition=condition,
                    )
                )
        if deleted:
            self.out.warnings.append(
                f"{len(deleted)} Azure role assignment(s) name a service principal that is not in the tenant any more "
                f"(deleted identities keep their assignments until removed), e.g. {sorted(deleted)[0]}"
            )
        missing = sorted({g.policy_id for g in self.out.grants if g.kind == "role_assignment"} - set(self.out.policies))
        for policy_id in missing:
            names = sorted({g.policy_name for g in self.out.grants if g.policy_id == policy_id})
            self.out.coverage.append(
                CoverageGap(
                    provider="azure",
                    scope=self.tenant,
                    source=f"role_definition:{policy_id}",
                    status="partial",
                    detail=(
                        f"role {', '.join(names)} ({role_guid(policy_id)}) is assigned but its definition is neither "
                        "built in nor in the input (a custom role: export it with 'az role definition list "
                        "--custom-role-only true'); identities holding it are evaluated without it"
                    ),
                    affects=PERMISSION_RULES,
                )
            )
        if groups_without_members:
            self.out.coverage.append(
                CoverageGap(
                    provider="azure",
                    scope=self.tenant,
                    source="group_members",
                    status="partial",
                    detail=(
                        f"{len(groups_without_members)} group(s) hold Azure role assignments but their members are "
                        "not in the input, so service principals that hold roles through them are not seen: "
                        + ", ".join(sorted(groups_without_members)[:5])
                    ),
                    affects=PERMISSION_RULES,
                )
            )

    def _app_role_assignments(self) -> None:
        for ara in self.data.app_role_assignments or []:
            principal = str(ara.get("principalId") or "").lower()
            if principal not in self.sp_by_id:
                continue  # users and groups assigned to an enterprise app are not NHI grants
            role_id = str(ara.get("appRoleId") or "").lower()
            if role_id == DEFAULT_ACCESS_ROLE:
                continue
            resource_id = str(ara.get("resourceId") or "").lower()
            resource = self.sp_by_id.get(resource_id) or {}
            resource_app = str(resource.get("appId") or "").lower()
            resource_name = resource.get("displayName") or ara.get("resourceDisplayName") or resource_id
            value = None
            level = None
            if resource_app == MICROSOFT_GRAPH_APP_ID or resource_name == "Microsoft Graph":
                resource_app = MICROSOFT_GRAPH_APP_ID
                perm = self.catalog.graph_permission(role_id)
                if perm is not None:
                    value, level = perm.name, perm.privilege_level
            if value is None:
                role = next(
                    (r for r in resource.get("appRoles") or [] if str(r.get("id", "")).lower() == role_id), None
                )
                value = role.get("value") if role else None
            if value is None:
                self.out.warnings.append(
                    f"{self.sp_by_id[principal].get('displayName')}: app role {role_id} of {resource_name} is not in "
                    "the Graph permission catalog nor in the resource's appRoles; it is recorded by id only"
                )
            permission = (
                f"{GRAPH}{value}"
                if resource_app == MICROSOFT_GRAPH_APP_ID and value
                else f"{APP}{resource_app or resource_id}:{value or role_id}"
            )
            policy_id = f"azure-app-role:{resource_app or resource_id}/{role_id}"
            if policy_id not in self.out.policies:
                privilege = (
                    self.catalog.graph_privilege(value) if resource_app == MICROSOFT_GRAPH_APP_ID and value else None
                )
                self.out.policies[policy_id] = Policy(
                    id=policy_id,
                    provider="azure",
                    kind="azure.app_role",
                    name=f"{resource_name}: {value or role_id}",
                    permissions=[permission] if value else [],
                    attributes={
                        "resource_app_id": resource_app or None,
                        "resource_id": resource_id,
                        "resource_name": resource_name,
                        "app_role_id": role_id,
                        "value": value,
                        "privilege_level": level,
                        "privilege": privilege[0] if privilege else None,
                    },
                )
            self.out.grants.append(
                Grant(
                    identity_id=self.sp_by_id[principal]["id"],
                    policy_id=policy_id,
                    policy_name=self.out.policies[policy_id].name,
                    kind="app_permission",
                    scope="tenant",
                )
            )

    def _oauth2_grants(self) -> None:
        for g in self.data.oauth2_grants or []:
            client = str(g.get("clientId") or "").lower()
            if client not in self.sp_by_id:
                continue
            resource = self.sp_by_id.get(str(g.get("resourceId") or "").lower()) or {}
            resource_app = str(resource.get("appId") or "").lower() or str(g.get("resourceId"))
            resource_name = resource.get("displayName") or g.get("resourceId")
            all_users = g.get("consentType") == "AllPrincipals"
            scope = "all users" if all_users else f"user {g.get('principalId')}"
            plane = "graph" if resource_app == MICROSOFT_GRAPH_APP_ID else resource_app
            for value in str(g.get("scope") or "").split():
                policy_id = f"azure-delegated:{resource_app}/{value}"
                if policy_id not in self.out.policies:
                    self.out.policies[policy_id] = Policy(
                        id=policy_id,
                        provider="azure",
                        kind="azure.delegated_permission",
                        name=f"{resource_name}: {value} (delegated)",
                        permissions=[f"{DELEGATED}{plane}:{value}"],
                        attributes={"resource_app_id": resource_app, "resource_name": resource_name, "value": value},
                    )
                self.out.grants.append(
                    Grant(
                        identity_id=self.sp_by_id[client]["id"],
                        policy_id=policy_id,
                        policy_name=self.out.policies[policy_id].name,
                        kind="delegated_permission",
                        scope=scope,
                    )
                )

    def _directory_roles(self) -> None:
        if self.data.directory_role_assignments is None:
            return
        definitions: dict[str, dict[str, Any]] = {}
        for d in self.data.directory_role_definitions:
            for key in (d.get("id"), d.get("templateId")):
                if key:
                    definitions[str(key).lower()] = d
        for ra in self.data.directory_role_assignments:
            principal = _str(ra.get("principalId"))
            role_id = str(ra.get("roleDefinitionId") or "").lower()
            if principal is None or not role_id:
                raise InputError(f"directory role assignment {ra.get('id')}: needs principalId and roleDefinitionId")
            targets = self._principal_ids(principal, None)
            if not targets:
                continue
            definition = definitions.get(role_id) or (ra.get("roleDefinition") or {})
            template = str(definition.get("templateId") or role_id).lower()
            tier0 = self.catalog.tier0_directory_roles.get(template)
            name = definition.get("displayName") or (tier0.name if tier0 else role_id)
            policy_id = f"azure-directory-role:{template}"
            if policy_id not in self.out.policies:
                actions = [
                    f"{ENTRA}{a}"
                    for block in definition.get("rolePermissions") or []
                    for a in block.get("allowedResourceActions") or []
                ]
                self.out.policies[policy_id] = Policy(
                    id=policy_id,
                    provider="azure",
                    kind="azure.directory_role",
                    name=name,
                    permissions=actions,
                    attributes={"template_id": template, "built_in": definition.get("isBuiltIn")},
                )
            for identity_id, via in targets:
                self.out.grants.append(
                    Grant(
                        identity_id=identity_id,
                        policy_id=policy_id,
                        policy_name=name,
                        kind="directory_role",
                        scope=ra.get("directoryScopeId") or "/",
                        via=via,
                    )
                )

    # --- usage -----------------------------------------------------------------------------

    def _sign_in_activity(self) -> None:
        by_app: dict[str, list[str]] = defaultdict(list)
        for identity_id, app_id in self.app_ids.items():
            by_app[app_id].append(identity_id)
        identities = {i.id: i for i in self.out.identities}
        client_silent: set[str] = set()
        reported: set[str] = set()
        rows = self.data.sp_sign_in
        if rows is not None and not rows:
            self.out.coverage.append(
                CoverageGap(
                    provider="azure",
                    scope=self.tenant,
                    source="sp_signin_activity",
                    status="partial",
                    detail=(
                        "the service principal sign-in activity report returned no rows at all; an empty report is "
                        "not taken as evidence that nothing signed in"
                    ),
                    affects=USAGE_RULES,
                )
            )
        for row in rows or []:
            app_id = str(row.get("appId") or "").lower()
            last = _activity_time(row.get("lastSignInActivity"))
            client = [
                t
                for t in (
                    _activity_time(row.get("applicationAuthenticationClientSignInActivity")),
                    _activity_time(row.get("delegatedClientSignInActivity")),
                )
                if t
            ]
            parts = []
            for key, label in (
                ("applicationAuthenticationClientSignInActivity", "app-only as client"),
                ("delegatedClientSignInActivity", "delegated as client"),
                ("applicationAuthenticationResourceSignInActivity", "app-only as resource"),
                ("delegatedResourceSignInActivity", "delegated as resource"),
            ):
                moment = _activity_time(row.get(key))
                if moment:
                    parts.append(f"{label} {moment.date().isoformat()}")
            for identity_id in by_app.get(app_id, []):
                reported.add(identity_id)
                self.out.usage.append(
                    Usage(
                        identity_id=identity_id,
                        target_kind="identity",
                        last_used=last,
                        source=SP_SIGNIN_SOURCE,
                        window_end=self.snapshot,
                        detail="; ".join(parts) or "no sign-in recorded",
                    )
                )
                if last is not None and (identities[identity_id].last_activity or last) <= last:
                    identities[identity_id].last_activity = last
                if not client:
                    client_silent.add(identity_id)
        if rows:
            every = {i for ids in by_app.values() for i in ids}
            for identity_id in sorted(every - reported):
                if identities[identity_id].kind == "azure.application":
                    continue  # no service principal here: nothing could sign in to this tenant
                self.out.usage.append(
                    Usage(
                        identity_id=identity_id,
                        target_kind="identity",
                        last_used=None,
                        source=SP_SIGNIN_SOURCE,
                        window_end=self.snapshot,
                        detail="not in the sign-in activity report: no sign-in recorded",
                    )
                )
                client_silent.add(identity_id)
        self._credential_usage(client_silent)

    def _credential_usage(self, client_silent: set[str]) -> None:
        rows = self.data.app_credential_sign_in
        by_key: dict[str, dict[str, Any]] = {}
        for row in rows or []:
            key_id = str(row.get("keyId") or "").lower()
            if key_id:
                by_key[key_id] = row
        if rows is not None and not rows:
            self.out.coverage.append(
                CoverageGap(
                    provider="azure",
                    scope=self.tenant,
                    source="app_credential_signin_activity",
                    status="partial",
                    detail=(
                        "the app credential sign-in activity report returned no rows; credential usage comes only "
                        "from service principal sign-in activity where available"
                    ),
                    affects=["credential-never-used", "credential-unused"],
                )
            )
        for cred in self.out.credentials:
            if cred.kind not in (CredentialKind.CLIENT_SECRET, CredentialKind.CERTIFICATE) or cred.managed_by != "user":
                continue
            row = by_key.get(cred.id)
            if row is not None:
                activity = row.get("signInActivity") or {}
                cred.last_used = parse_time(activity.get("lastSignInDateTime"), f"credential {cred.id}")
                cred.usage_known = True
                cred.usage_source = CREDENTIAL_SIGNIN_SOURCE
                created = parse_time(row.get("createdDateTime"), f"credential {cred.id}")
                if created is not None and cred.created is None:
                    cred.created = created
            elif cred.identity_id in client_silent:
                cred.usage_known = True
                cred.usage_source = SP_SIGNIN_SOURCE
                cred.attributes["usage_inferred"] = (
                    "the service principal has no client sign-in in the sign-in activity report, so none of its "
                    "credentials was used"
                )


def _activity_time(activity: Any) -> datetime | None:
    if not isinstance(activity, dict):
        return None
    return parse_time(activity.get("lastSignInDateTime"), "signInActivity")


def _owner_names(details: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(d["name"]) for d in details if d.get("name")))


def _tags(tags: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for tag in tags:
        if not isinstance(tag, str):
            continue
        for sep in ("=", ":"):
            if sep in tag:
                key, _, value = tag.partition(sep)
                out[key.strip()] = value.strip()
                break
        else:
            out[tag] = ""
    return out


def _flatten_arm(raw: dict[str, Any]) -> dict[str, Any]:
    """An ARM resource ({id, name, properties: {...}}) or az output (already flat) as one flat dict."""
    if not isinstance(raw, dict):
        raise InputError("a role assignment is not a JSON object")
    props = raw.get("properties")
    if isinstance(props, dict):
        return {**props, "id": raw.get("id"), "name": raw.get("name")}
    return raw


def _normalize_scope(scope: str) -> str:
    """ARM scopes as ARM writes them, without a trailing slash (except the root '/')."""
    return scope if scope == "/" else scope.rstrip("/")


def tenant_scopes(data: AzureData) -> list[Scope]:
    """The tenant and its subscriptions by name, for trust and environment analysis (docs/trust.md)."""
    scopes = [Scope(provider="azure", id=data.tenant_id, kind="azure.tenant", in_organization=True)]
    scopes.extend(
        Scope(
            provider="azure",
            id=sub,
            kind="azure.subscription",
            name=name or None,
            parent=data.tenant_id,
            in_organization=True,
        )
        for sub, name in sorted(data.subscriptions.items())
    )
    return scopes
