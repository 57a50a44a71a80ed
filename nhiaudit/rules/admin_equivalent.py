"""admin-equivalent: an NHI that can do everything (or grant itself everything), itself or by
becoming another identity that can (assuming a role, impersonating a service account, ...)."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity
from nhiaudit.policy.effective import AdminVerdict
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import AdminPath, admin_paths, node_label, path_evidence, path_text


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
            "with high instead of critical severity. An "
            "identity that can become an admin-equivalent identity (assume its role, impersonate it, pass it to "
            "compute it controls, create its keys, own it) is admin-equivalent too: the finding shows the path, "
            "step by step. Paths that need a condition nhiaudit cannot evaluate are reported with high severity "
            "and medium confidence."
        ),
        remediation=(
            "Replace the admin grant with a policy limited to the services and actions this identity "
            "actually uses (start from its usage data). If broad rights are truly required, cap them with "
            "a permissions boundary, restrict who can use or assume the identity, and alert on its use. For a "
            "path, break its weakest step: narrow the trust or binding that lets this identity become the next "
            "one, or the permission it uses to do so."
        ),
        owasp_nhi=("NHI5:2025",),
        nist_800_207=("Tenet 3", "Tenet 6"),
        nist_800_53=("AC-6", "AC-6(5)", "AC-2(7)"),
        cis=("CIS AWS v7.0.0 2.14", "CIS GCP v4.0.0 1.5", "CIS Azure v5.0.0 5.3.3"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        paths = admin_paths(ctx)
        for identity in ctx.nhis():
            access = ctx.access.get(identity.id)
            path = paths.get(identity.id)
            if path is not None and not identity.disabled:
                yield self._via_path(ctx, identity, path, access.admin if access is not None else None)
                continue
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

    def _via_path(self, ctx: AnalysisContext, identity: Identity, path: AdminPath, own: AdminVerdict | None) -> Finding:
        target = node_label(ctx, path.target)
        steps = len(path.hops)
        description = (
            f"{describe(identity)} is admin-equivalent through {steps} step{'s' if steps > 1 else ''}: it "
            f"{path_text(ctx, path)}; {target} {path.verdict.reason}, granted by {', '.join(path.verdict.policies)}."
        )
        severity, confidence = self.meta.severity, Confidence.HIGH
        if path.conditional:
            severity, confidence = Severity.HIGH, Confidence.MEDIUM
            description += " The path holds only under conditions: " + "; ".join(path.conditions()) + "."
        if own is not None:
            description += (
                f" Itself it is a service-level administrator: it {own.reason}, granted by {', '.join(own.policies)}."
            )
        first = path.hops[0]
        remediation = (
            f"Break the path at its first step: remove what lets this identity become "
            f"{node_label(ctx, first.target)} ({first.kind}: the trust, binding or permission named in the "
            f"evidence), or scope it to what is needed. If it must reach {target}, treat it as an administrator: "
            "cap it with a boundary, restrict who can use it, and alert on its use."
        )
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=confidence,
            remediation=remediation,
            evidence={
                "level": path.verdict.level,
                "via": "path",
                "admin_identity": path.target,
                "reason": path.verdict.reason,
                "policies": list(path.verdict.policies),
                "path": path_evidence(ctx, path),
                "conditional": path.conditional,
                "conditions": path.conditions(),
                "own_admin": (
                    {"level": own.level, "reason": own.reason, "policies": list(own.policies)} if own else None
                ),
            },
        )
