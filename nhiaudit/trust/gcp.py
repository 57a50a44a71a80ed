"""GCP impersonation: which roles let a member become a service account, and the graph edges.

Trust records (``principal_kind = "gcp_member"``) carry the member string, the granting roles
or permissions in ``actions``, the binding condition and where the binding is (``source``:
``serviceAccount:<email>`` for a binding on the service account itself, ``projects/<id>``,
``folders/<id>`` or ``organizations/<id>`` for an inherited one). Custom roles are resolved
through the inventory's policies (``Policy.permissions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nhiaudit.model import Identity, Inventory, Trust
from nhiaudit.trust.graph import Edge
from nhiaudit.trust.principals import parse_member

if TYPE_CHECKING:
    from nhiaudit.rules.base import AnalysisContext

STRONG = "impersonate"
ACT_AS = "act-as"
CREATE_KEY = "create-key"
SET_POLICY = "set-iam-policy"
ID_TOKEN = "id-token"
"""Only OpenID Connect ID tokens: calls to services that accept them (Cloud Run, IAP) as the
account, not its IAM permissions; not a graph edge."""

ROLE_POWERS: dict[str, tuple[str, str]] = {
    "roles/iam.serviceaccounttokencreator": (
        STRONG,
        "mint access and ID tokens for {target} (Service Account Token Creator)",
    ),
    "roles/iam.workloadidentityuser": (
        STRONG,
        "exchange federated credentials for tokens of {target} (Workload Identity User)",
    ),
    "roles/iam.serviceaccountuser": (
        ACT_AS,
        "act as {target}: attach it to VMs, functions and jobs (Service Account User)",
    ),
    "roles/iam.serviceaccountkeyadmin": (CREATE_KEY, "create keys for {target} (Service Account Key Admin)"),
    "roles/iam.serviceaccountadmin": (SET_POLICY, "grant itself any role on {target} (Service Account Admin)"),
    "roles/owner": (STRONG, "do anything with {target}, token creation included (Owner)"),
    "roles/editor": (ACT_AS, "act as {target} (Editor includes iam.serviceAccounts.actAs)"),
    "roles/iam.securityadmin": (SET_POLICY, "grant itself any role on {target} (Security Admin)"),
}
"""Predefined roles (lower-cased) that let a member become a service account."""

PERMISSION_POWERS: dict[str, tuple[str, str]] = {
    "iam.serviceaccounts.getaccesstoken": (STRONG, "mint access tokens for {target}"),
    "iam.serviceaccounts.signblob": (STRONG, "sign blobs as {target}"),
    "iam.serviceaccounts.signjwt": (STRONG, "sign JWTs as {target}"),
    "iam.serviceaccounts.implicitdelegation": (STRONG, "delegate token creation for {target}"),
    "iam.serviceaccounts.actas": (ACT_AS, "act as {target}"),
    "iam.serviceaccountkeys.create": (CREATE_KEY, "create keys for {target}"),
    "iam.serviceaccounts.setiampolicy": (SET_POLICY, "change who may impersonate {target}"),
    "iam.serviceaccounts.getopenidtoken": (ID_TOKEN, "mint ID tokens for {target}"),
}
"""Permissions (lower-cased) that let a member become a service account, for custom roles."""

IMPERSONATION_ROLES = (
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.serviceAccountUser",
    "roles/iam.workloadIdentityUser",
)
"""The roles issue-level rules report (CIS GCP 1.6 names the first two)."""

DEPLOY_PERMISSIONS = (
    "compute.instances.create",
    "cloudfunctions.functions.create",
    "run.services.create",
    "run.jobs.create",
    "dataflow.jobs.create",
    "dataproc.clusters.create",
    "composer.environments.create",
    "cloudbuild.builds.create",
    "cloudscheduler.jobs.create",
    "notebooks.instances.create",
    "aiplatform.customJobs.create",
    "deploymentmanager.deployments.create",
)
"""With iam.serviceAccounts.actAs, any of these runs code as the service account."""


@dataclass(frozen=True)
class Power:
    action: str
    """The role or permission as recorded in the trust."""
    kind: str
    text: str


def powers(actions: Iterable[str], inventory: Inventory | None = None) -> list[Power]:
    """What each granting role or permission lets the member do with the service account."""
    out: list[Power] = []
    for action in actions:
        key = action.lower()
        if key in ROLE_POWERS:
            kind, text = ROLE_POWERS[key]
            out.append(Power(action, kind, text))
            continue
        if key in PERMISSION_POWERS:
            kind, text = PERMISSION_POWERS[key]
            out.append(Power(action, kind, text))
            continue
        permissions = _custom_role(action, inventory)
        what = "custom role"
        if permissions is None:
            permissions, what = _predefined_role(action), "role"
        if permissions is not None:
            granted = {p.lower() for p in permissions}
            for perm, (kind, text) in PERMISSION_POWERS.items():
                if perm in granted:
                    out.append(Power(action, kind, f"{text} ({what} {action} has {perm})"))
    return out


def _predefined_role(name: str) -> tuple[str, ...] | None:
    """Permissions of a predefined role from the packaged GCP role catalog."""
    if not name.startswith("roles/"):
        return None
    from nhiaudit.catalogs.gcp_roles import load_catalog

    info = load_catalog().role(name)
    return info.permissions if info is not None else None


def _custom_role(name: str, inventory: Inventory | None) -> list[str] | None:
    """Permissions of a role collected as a policy (custom roles: ``Policy(kind="gcp.custom_role")``)."""
    if inventory is None:
        return None
    policy = inventory.policies.get(name)
    if policy is None:
        policy = next((p for p in inventory.policies.values() if p.provider == "gcp" and p.name == name), None)
    return policy.permissions if policy is not None and policy.permissions else None


def binding_level(trust: Trust) -> str:
    """'service_account' | 'project' | 'folder' | 'organization' | 'unknown' from Trust.source."""
    source = (trust.source or "").lower()
    if source.startswith("serviceaccount:") or "/serviceaccounts/" in source:
        return "service_account"
    for prefix, level in (("projects/", "project"), ("folders/", "folder"), ("organizations/", "organization")):
        if source.startswith(prefix):
            return level
    return "unknown"


def binding_condition(trust: Trust) -> str | None:
    expression = trust.conditions.get("expression") if trust.conditions else None
    title = trust.conditions.get("title") if trust.conditions else None
    if not expression:
        return None
    return f"{title}: {expression}" if title else str(expression)


def sa_identity_key(member_email: str) -> tuple[str, str]:
    return member_email.lower(), f"projects/-/serviceAccounts/{member_email.lower()}"


def gcp_edges(ctx: AnalysisContext) -> Iterator[Edge]:
    identities = {i.id.lower(): i for i in ctx.inventory.identities if i.provider == "gcp"}
    for trust in ctx.inventory.trusts:
        if trust.principal_kind != "gcp_member":
            continue
        target = ctx.identity(trust.identity_id)
        if target is None or target.provider != "gcp":
            continue
        member = parse_member(trust.principal)
        if member.kind != "serviceAccount" or member.email is None:
            continue
        source = next((identities[k] for k in sa_identity_key(member.email) if k in identities), None)
        if source is None or source.id == target.id:
            continue
        condition = binding_condition(trust)
        ranked = sorted(
            (p for p in powers(trust.actions, ctx.inventory) if p.kind != ID_TOKEN),
            key=lambda p: p.kind == ACT_AS,  # a direct way first
        )
        for power in ranked:
            edge = _edge(ctx, source, target, trust, power, condition)
            if edge is not None:
                yield edge
                break


def _edge(
    ctx: AnalysisContext, source: Identity, target: Identity, trust: Trust, power: Power, condition: str | None
) -> Edge | None:
    where = trust.source or "a binding"
    conditions = [condition] if condition else []
    how = f"can {power.text} through {power.action} on {where}"
    if power.kind == ACT_AS:
        access = ctx.access.get(source.id)
        deploy = [p for p in DEPLOY_PERMISSIONS if access is not None and access.allows(p) is not None]
        if deploy:
            how += f", and can deploy code that runs as it ({', '.join(deploy[:3])})"
        else:
            conditions.append("needs a permission to deploy a resource that runs as the service account")
    return Edge(
        source.id,
        target.id,
        power.kind,
        how,
        conditional=bool(conditions),
        conditions=tuple(conditions),
        evidence={"binding": where, "role": power.action},
    )
