"""admin-equivalent: an NHI that can do everything (or grant itself everything)."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe


class AdminEquivalent(Rule):
    meta = RuleMeta(
        id="admin-equivalent",
        title="NHI holds admin-equivalent permissions",
        severity=Severity.CRITICAL,
        rationale=(
            "A non-human identity with administrator rights turns any leak of its credentials, or any "
            "compromise of the workload that runs as it, into a compromise of the whole account, project "
            "or tenant. Effective permissions are computed after explicit denies and permissions "
            "boundaries, so an admin policy that is capped or cancelled is not reported; one granted "
            "through NotAction (allow everything except a few actions) is. 'Equivalent' means at least "
            "90% of all catalog actions including every IAM permissions-management action (AWS); the basic "
            "Editor role or the right to change a project's, folder's or organization's IAM policy (GCP); a "
            "role that can write role assignments (Owner, User Access Administrator, ...) at subscription, "
            "management-group or root scope, a tier-0 Microsoft Graph application permission "
            "(RoleManagement.ReadWrite.Directory, AppRoleAssignment.ReadWrite.All, Application.ReadWrite.All, "
            "...) or a tier-0 Entra role (Azure): such an identity can grant itself the rest. Administrator "
            "roles of single services (GCP *Admin roles, CIS GCP 1.5) are reported as service-level admin "
            "with high instead of critical severity."
        ),
        remediation=(
            "Replace the admin grant with a policy limited to the services and actions this identity "
            "actually uses (start from its usage data). If broad rights are truly required, cap them with "
            "a permissions boundary, restrict who can use or assume the identity, and alert on its use."
        ),
        owasp_nhi=("NHI5:2025",),
        nist_800_207=("Tenet 3", "Tenet 6"),
        nist_800_53=("AC-6", "AC-6(5)", "AC-2(7)"),
        cis=("CIS AWS v7.0.0 2.14", "CIS GCP v4.0.0 1.5", "CIS Azure v5.0.0 5.3.3"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            access = ctx.access.get(identity.id)
            if access is None or access.admin is None:
                continue
            verdict = access.admin
            policies = ", ".join(verdict.policies)
            where = f" (admin at {', '.join(verdict.scopes)})" if verdict.scopes else ""
            if verdict.account_wide:
                description = (
                    f"{describe(identity)} is admin-equivalent{where}: it {verdict.reason}, granted by {policies}."
                )
                severity = self.meta.severity
            else:
                description = (
                    f"{describe(identity)} has service-level administrator rights{where}: it {verdict.reason}, "
                    f"granted by {policies}."
                )
                severity = Severity.HIGH
            confidence = Confidence.HIGH
            if verdict.conditional:
                severity, confidence = severity.lowered(), Confidence.MEDIUM
                description += (
                    " The grant is narrower than unconditional: only under " + "; ".join(verdict.conditions) + "."
                )
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=confidence,
                evidence={
                    "level": verdict.level,
                    "reason": verdict.reason,
                    "policies": list(verdict.policies),
                    "conditional": verdict.conditional,
                    "conditions": list(verdict.conditions),
                    "scopes": list(verdict.scopes),
                    "allowed_permissions": access.permission_count(),
                    "catalog_permissions": access.catalog_size(),
                    "notes": access.notes,
                },
            )
