"""orphaned-identity: an NHI whose provider records owners, and that has none."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class OrphanedIdentity(Rule):
    meta = RuleMeta(
        id="orphaned-identity",
        title="NHI has no owner",
        severity=Severity.MEDIUM,
        rationale=(
            "An identity nobody owns is nobody's job to rotate, review or retire: its secrets outlive the project "
            "and the people who created it, and nobody notices when it is misused (improper offboarding). Only "
            "identities whose provider records owners are judged (Entra app registrations and service "
            "principals); identities without an owner concept (AWS roles, GCP service accounts, managed "
            "identities) or whose owners could not be read are not reported. Severity is high when the identity "
            "is admin-equivalent and low when it holds neither permissions, active credentials nor trust."
        ),
        remediation=(
            "Find the team that uses it (sign-in activity, role assignments and app permissions are in the "
            "evidence) and make at least two of its people owners (in Entra: Owners of the app registration and "
            "of the enterprise application). If nobody claims it, disable it, wait for breakage, then delete it."
        ),
        owasp_nhi=("NHI1:2025",),
        nist_800_207=("Tenet 5", "Tenet 7"),
        nist_800_53=("AC-2", "CM-8", "PS-4"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            if not identity.owners_known or identity.owners:
                continue
            access = ctx.access.get(identity.id)
            secrets = ctx.active_programmatic(identity.id)
            trusts = ctx.trusts(identity.id)
            permissions = access.permission_count() if access is not None else 0
            admin = access is not None and access.admin is not None
            holds = []
            if secrets:
                holds.append(f"{len(secrets)} active credential{'s' if len(secrets) > 1 else ''}")
            if admin:
                holds.append("admin-equivalent access")
            elif permissions:
                holds.append(f"{permissions:,} permission{'s' if permissions > 1 else ''}")
            if trusts:
                holds.append(f"{len(trusts)} trust relationship{'s' if len(trusts) > 1 else ''}")
            if admin:
                severity = Severity.HIGH
            elif holds:
                severity = self.meta.severity
            else:
                severity = Severity.LOW
            state = " (disabled)" if identity.disabled else ""
            held = f"; it holds {', '.join(holds)}" if holds else ""
            yield self.finding(
                ctx,
                identity,
                severity=severity,
                description=f"{describe(identity)}{state} has no owner: nobody is accountable for it{held}.",
                evidence={
                    "owners": [],
                    "disabled": identity.disabled,
                    "active_credentials": [c.id for c in secrets],
                    "permissions": permissions,
                    "admin_equivalent": admin,
                    "trusts": [f"{t.principal_kind}:{t.principal}" for t in trusts],
                    "created": iso(identity.created),
                    "last_activity": iso(identity.last_activity),
                },
            )
