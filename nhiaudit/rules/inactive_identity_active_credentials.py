"""inactive-identity-active-credentials: a disabled or stripped identity whose secrets still work."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class InactiveIdentityActiveCredentials(Rule):
    meta = RuleMeta(
        id="inactive-identity-active-credentials",
        title="Disabled or decommissioned NHI still holds active credentials",
        severity=Severity.HIGH,
        rationale=(
            "Disabling an identity or stripping its permissions is how teams decommission it, but credentials "
            "left active can come back to life: a GCP or Azure identity can be re-enabled, and an AWS user with "
            "no policies regains whatever is attached to it later, or to a group it is added to. A disabled "
            "identity is not itself a risk (it is not reported as unused); one that still holds active secrets "
            "is. Provider-managed credentials (GCP system-managed keys) are not counted: nobody outside the "
            "provider holds them."
        ),
        remediation=(
            "Deactivate and delete the listed credentials. If the identity is no longer needed, delete it; if it "
            "is, re-enable it deliberately with an owner and its own fresh credential."
        ),
        owasp_nhi=("NHI1:2025",),
        nist_800_207=("Tenet 5", "Tenet 6"),
        nist_800_53=("AC-2(3)", "IA-5"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            secrets = [c for c in ctx.active_programmatic(identity.id) if c.managed_by == "user"]
            if not secrets:
                continue
            access = ctx.access.get(identity.id)
            if identity.disabled:
                state = "is disabled"
            elif access is not None and access.empty and not access.incomplete:
                state = "has no permissions left (decommissioned)"
            else:
                continue
            names = ", ".join(c.name or c.id for c in secrets)
            yield self.finding(
                ctx,
                identity,
                description=(
                    f"{describe(identity)} {state} but still holds {len(secrets)} active credential"
                    f"{'s' if len(secrets) > 1 else ''} ({names})."
                ),
                evidence={
                    "disabled": identity.disabled,
                    "permissions": access.permission_count() if access is not None else None,
                    "credentials": [
                        {"id": c.id, "kind": c.kind.value, "created": iso(c.created), "last_used": iso(c.last_used)}
                        for c in secrets
                    ],
                },
            )
