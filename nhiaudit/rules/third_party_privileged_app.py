"""third-party-privileged-app: another tenant's application holds high privileges in this one."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.catalogs.azure import GRAPH, RoleDefinition, load_azure_catalog
from nhiaudit.model import Finding, Severity
from nhiaudit.policy.azure import AzureAccess
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_paths, organization, path_evidence, path_text


class ThirdPartyPrivilegedApp(Rule):
    meta = RuleMeta(
        id="third-party-privileged-app",
        title="Third-party multi-tenant app holds high privileges",
        severity=Severity.HIGH,
        rationale=(
            "A multi-tenant application registered in another organization's tenant signs in to yours with "
            "credentials that organization holds: you cannot see, rotate or expire them. Whatever it was "
            "granted here is exposed to the vendor's security, and a breach of the vendor (or of its app "
            "registration) is a breach of your tenant. High privilege means admin-equivalent access, a tier-0 or "
            "high-privilege Microsoft Graph application permission (Microsoft's privilege level 4, mail, files, "
            "directory writes), the same consented as delegated permissions for all users, or an Azure role "
            "that can change resources at subscription or management-group scope. Critical when the app is "
            "admin-equivalent (itself, or because it can become an admin-equivalent identity, e.g. as owner of an "
            "administrator's application) or holds a tier-0 permission. Applications owned by one of your own "
            "tenants, listed under [organization] accounts in the config file, are not third parties."
        ),
        remediation=(
            "Confirm with the vendor and the business owner which permissions the integration really needs; "
            "revoke the others (Enterprise applications > Permissions) and prefer narrow ones (Sites.Selected, "
            "Exchange application access policies, a resource-group-scoped role). Give the enterprise application "
            "an internal owner, restrict it with Conditional Access for workload identities, and remove it when "
            "the integration ends."
        ),
        owasp_nhi=("NHI3:2025", "NHI5:2025"),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("SA-9", "AC-20", "AC-6"),
        providers=("azure",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        catalog = None
        org = organization(ctx)
        paths = admin_paths(ctx)
        for identity in ctx.nhis(["azure"]):
            foreign = [
                t
                for t in ctx.trusts(identity.id)
                if t.principal_kind == "azure_tenant" and t.internal is False and not org.trust_inside(t)
            ]
            access = ctx.access.get(identity.id)
            if not foreign or not isinstance(access, AzureAccess):
                continue
            catalog = catalog or load_azure_catalog()
            reasons: list[dict[str, str]] = []
            covered: set[str] = set()
            tier0 = False
            if access.admin is not None:
                reasons.append({"grant": ", ".join(access.admin.policies), "why": f"it {access.admin.reason}"})
                covered.update(access.admin.policies)
            path = paths.get(identity.id)
            if path is not None:  # it can become an admin-equivalent identity (owner of an admin app, ...)
                reasons.append({"grant": path.hops[0].kind, "why": f"it {path_text(ctx, path)}"})
            for name in access.held("graph"):
                privilege = catalog.graph_privilege(name.removeprefix(GRAPH))
                grant = access.allows(name)
                if privilege is None or grant is None:
                    continue
                tier0 |= privilege[0] == "tier0"
                if not covered.intersection(grant.policies):
                    reasons.append({"grant": grant.policies[0], "why": privilege[1]})
            for name in access.held("delegated"):
                _, api, value = name.split(":", 2)
                grant = access.allows(name)
                if api != "graph" or grant is None or not grant.unrestricted_resource:
                    continue  # consented by one user only: limited to what that user can do
                privilege = catalog.graph_privilege(value)
                if privilege is not None and (privilege[0] == "tier0" or value in catalog.high_privilege_graph):
                    reasons.append({"grant": grant.policies[0], "why": f"on behalf of any user, {privilege[1]}"})
            for a in access.assignments:
                if a.role is not None and a.broad and a.label not in covered and _writes(a.role.role):
                    reasons.append({"grant": a.label, "why": "it can change resources across that scope"})
            if not reasons:
                continue
            severity = (
                Severity.CRITICAL if access.admin is not None or tier0 or path is not None else self.meta.severity
            )
            owner = foreign[0]
            publisher = owner.conditions.get("publisher")
            by = f"tenant {owner.principal}" + (f" (publisher {publisher})" if publisher else "")
            grants = "; ".join(f"{r['grant']} ({r['why']})" for r in reasons[:4])
            more = f" and {len(reasons) - 4} more" if len(reasons) > 4 else ""
            yield self.finding(
                ctx,
                identity,
                severity=severity,
                description=(
                    f"{describe(identity)} belongs to an application owned by another organization, {by}, and holds "
                    f"high privileges here: {grants}{more}. Whoever controls that application's credentials has "
                    "this access."
                ),
                evidence={
                    "owner_tenant": owner.principal,
                    "publisher": publisher,
                    "app_id": identity.attributes.get("app_id"),
                    "high_privileges": reasons,
                    "admin_equivalent": access.admin is not None,
                    "admin_path": path_evidence(ctx, path) if path is not None else None,
                },
            )


def _writes(role: RoleDefinition) -> bool:
    """A role whose control-plane actions go beyond reading."""
    return any(not a.lower().endswith("/read") for block in role.permissions for a in block.actions)
