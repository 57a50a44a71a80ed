"""Azure: owners of applications and service principals, and the graph edges they create.

Conventions the Azure collector follows (docs/architecture.md):

* ``Identity.attributes["owner_details"]``: one object per owner, ``{"id", "name", "type"
  ("user" | "servicePrincipal" | "group" | ...), "user_type" ("Member" | "Guest"), "guest",
  "enabled"}``. Raw Microsoft Graph directory objects (``@odata.type``, ``userType``,
  ``accountEnabled``, ``displayName``, ``userPrincipalName``) are read too, and owner ids in
  ``Identity.owners``.
* An application registered in the home tenant and its service principal are usually one
  identity (``azure.service_principal``); where they are separate (``azure.application``), both
  carry ``attributes["app_id"]`` so that the application's credentials are linked to the
  service principal they authenticate as.

An owner of an application or service principal can add a secret or certificate to it and
sign in as it, so an owner that is itself an identity (a service principal or managed
identity) can become what it owns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nhiaudit.model import Identity
from nhiaudit.trust.graph import Edge

if TYPE_CHECKING:
    from nhiaudit.rules.base import AnalysisContext

OWNED_KINDS = ("azure.application", "azure.service_principal")


@dataclass(frozen=True)
class Owner:
    id: str
    type: str
    """user | servicePrincipal | group | unknown"""
    name: str
    guest: bool | None
    enabled: bool | None

    @property
    def label(self) -> str:
        what = "guest user" if self.guest else ("service principal" if self.type == "servicePrincipal" else self.type)
        state = "" if self.enabled is not False else ", disabled"
        return f"{self.name} ({what}{state})"


def owner_details(identity: Identity) -> list[Owner] | None:
    """The owners of an app or service principal with their type, guest and enabled state;
    None when the collector did not record details."""
    raw = identity.attributes.get("owner_details")
    if raw is None:
        raw = identity.attributes.get("owners_detail")
    if not isinstance(raw, list):
        return None
    owners = []
    for item in raw:
        if isinstance(item, dict):
            owners.append(_owner(item))
    return owners


def _owner(item: dict[str, Any]) -> Owner:
    odata = str(item.get("@odata.type", ""))
    kind = item.get("type") or (odata.rsplit(".", 1)[-1] if odata else "unknown")
    upn = item.get("user_principal_name") or item.get("userPrincipalName") or ""
    user_type = item.get("user_type") or item.get("userType")
    guest = item.get("guest") if isinstance(item.get("guest"), bool) else None
    if guest is None and user_type is not None:
        guest = str(user_type).lower() == "guest"
    elif guest is None and "#ext#" in upn.lower():
        guest = True
    enabled = item.get("enabled")
    if enabled is None:
        enabled = item.get("accountEnabled")
    name = item.get("name") or item.get("display_name") or item.get("displayName") or upn or str(item.get("id", "?"))
    return Owner(
        id=str(item.get("id", "")),
        type=str(kind),
        name=str(name),
        guest=guest,
        enabled=enabled if isinstance(enabled, bool) else None,
    )


def app_id(identity: Identity) -> str | None:
    value = identity.attributes.get("app_id") or identity.attributes.get("appId")
    return str(value).lower() if value else None


def azure_edges(ctx: AnalysisContext) -> Iterator[Edge]:
    identities = [i for i in ctx.inventory.identities if i.provider == "azure"]
    by_id = {i.id.lower(): i for i in identities}
    service_principals: dict[tuple[str, str], list[Identity]] = defaultdict(list)
    for identity in identities:
        aid = app_id(identity)
        if identity.kind == "azure.service_principal" and aid:
            service_principals[(identity.scope, aid)].append(identity)
    for identity in identities:
        if identity.kind not in OWNED_KINDS:
            continue
        owner_ids = {o.lower() for o in identity.owners}
        for owner in owner_details(identity) or []:
            if owner.id:
                owner_ids.add(owner.id.lower())
        for owner_id in sorted(owner_ids):
            source = by_id.get(owner_id)
            if source is None or source.id == identity.id:
                continue
            yield Edge(
                source.id,
                identity.id,
                "owner",
                "owns {target} and can add a secret or certificate to it and sign in as it",
                evidence={"owner": source.id},
            )
        aid = app_id(identity)
        if identity.kind == "azure.application" and aid:
            for sp in service_principals.get((identity.scope, aid), []):
                yield Edge(
                    identity.id,
                    sp.id,
                    "application",
                    "signs in as {target} with the application's credentials (same application id)",
                    evidence={"app_id": aid},
                )
