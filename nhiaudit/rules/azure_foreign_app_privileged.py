"""azure-foreign-app-privileged: a multi-tenant application owned by another tenant holds high
privileges in this one."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.catalogs.privesc import load_paths
from nhiaudit.model import Confidence, Finding, Identity, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_reach, node_label, organization, path_evidence


class AzureForeignAppPrivileged(Rule):
    meta = RuleMeta(
        id="azure-foreign-app-privileged",
        title="Third-party multi-tenant application holds high privileges",
        severity=Severity.HIGH,
        rationale=(
            "The service principal of a multi-tenant application registered in another tenant runs code the "
            "vendor controls: whoever holds the application's credentials in the vendor's tenant acts in yours. "
            "That is acceptable for narrow permissions and dangerous for broad ones. 'High privilege' is read "
            "from the effective access, the same for every cloud: admin-equivalent (directly or through a "
            "path, critical), a known privilege-escalation path, or any permissions-management permission "
            "(high). Applications whose owning tenant is one of yours ([organization] accounts) are not "
            "reported, nor are third-party applications with read or ordinary write access only."
        ),
        remediation=(
            "Review why the vendor needs these permissions; replace tenant-wide application permissions with "
            "delegated or resource-scoped ones, remove role assignments at subscription or management-group "
            "scope, and require admin consent with a verified publisher for third-party applications. If the "
            "owning tenant is yours, list it under [organization] accounts."
        ),
        owasp_nhi=("NHI3:2025", "NHI5:2025"),
        nist_800_207=("Tenet 2", "Tenet 4", "Tenet 6"),
        nist_800_53=("SA-9", "AC-20", "AC-6(5)"),
        cis=("CIS Azure v3.0.0 2.12",),
        providers=("azure",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        org = organization(ctx)
        for identity in ctx.nhis(["azure"]):
            foreign = [
                t for t in ctx.trusts(identity.id) if t.principal_kind == "azure_tenant" and not org.trust_inside(t)
            ]
            if not foreign:
                continue
            privilege = _privilege(ctx, identity)
            if privilege is None:
                continue
            severity, why, evidence = privilege
            tenants = sorted({t.principal for t in foreign})
            app_name = identity.attributes.get("app_display_name") or identity.name
            description = (
                f"{describe(identity)} belongs to the multi-tenant application {app_name} owned by tenant "
                f"{', '.join(tenants)}, and {why}."
            )
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=Confidence.HIGH,
                evidence={"owner_tenants": tenants, **evidence},
            )


def _privilege(ctx: AnalysisContext, identity: Identity) -> tuple[Severity, str, dict[str, object]] | None:
    access = ctx.access.get(identity.id)
    reach = admin_reach(ctx, identity.id)
    if reach is not None:
        _, path = reach
        if path is None and access is not None and access.admin is not None and access.admin.account_wide:
            verdict = access.admin
            return (
                Severity.CRITICAL,
                f"it is admin-equivalent: it {verdict.reason}, granted by {', '.join(verdict.policies)}",
                {"privilege": "admin-equivalent", "policies": list(verdict.policies)},
            )
        if path is not None:
            return (
                Severity.CRITICAL,
                f"it can become the admin-equivalent {node_label(ctx, path.target)}",
                {"privilege": "admin-equivalent through a path", "path": path_evidence(ctx, path)},
            )
    if access is None:
        return None
    if access.admin is not None:  # administrator of some services only
        verdict = access.admin
        return (
            Severity.HIGH,
            f"it is a service-level administrator: it {verdict.reason}, granted by {', '.join(verdict.policies)}",
            {"privilege": "service-level admin", "policies": list(verdict.policies)},
        )
    for path in load_paths(identity.provider):
        if access.allows_all(path.required):
            return (
                Severity.HIGH,
                f"it can escalate its privileges ({path.id}: {path.description})",
                {"privilege": "privilege escalation", "path": path.id},
            )
    managing = access.level_counts().get("Permissions management", 0)
    if managing:
        return (
            Severity.HIGH,
            f"it holds {managing} permissions-management permission{'s' if managing > 1 else ''} (it can change "
            "who may do what)",
            {"privilege": "permissions management", "permissions_management_count": managing},
        )
    return None
