"""credential-unused: an active credential not used for a long time."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, credential_label, describe, iso


class CredentialUnused(Rule):
    meta = RuleMeta(
        id="credential-unused",
        title="Active credential unused",
        severity=Severity.MEDIUM,
        rationale=(
            "A credential that still works but has not been used for weeks belongs to a workload that moved on "
            "or was retired. It keeps the door open for whoever holds a copy. Never-used credentials are "
            "reported by credential-never-used; credentials without usage evidence are not judged."
        ),
        remediation=(
            "Confirm with the owner that nothing uses it (last-used service and date are in the evidence), then "
            "deactivate it; delete it after a waiting period."
        ),
        owasp_nhi=("NHI1:2025",),
        nist_800_207=("Tenet 5", "Tenet 6"),
        nist_800_53=("AC-2(3)", "IA-5"),
        cis=("CIS AWS v7.0.0 2.11",),
        settings=("credential_unused_days",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        limit = ctx.settings.credential_unused_days
        for identity in ctx.nhis():
            for cred in ctx.active_programmatic(identity.id):
                if not cred.usage_known or cred.last_used is None:
                    continue
                idle = ctx.days_since(cred.last_used)
                if idle is None or idle < limit:
                    continue
                service = f" (service {cred.last_used_service})" if cred.last_used_service else ""
                yield self.finding(
                    ctx,
                    identity,
                    credential=cred,
                    description=(
                        f"{credential_label(cred).capitalize()} of {describe(identity)} was last used {idle} days "
                        f"ago on {iso(cred.last_used)[:10]}{service}; the limit is {limit} days."
                    ),
                    evidence={
                        "credential": cred.id,
                        "credential_kind": cred.kind.value,
                        "last_used": iso(cred.last_used),
                        "last_used_service": cred.last_used_service,
                        "idle_days": idle,
                        "limit_days": limit,
                        "usage_source": cred.usage_source,
                    },
                )
