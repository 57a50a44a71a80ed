"""credential-not-rotated: a user-managed secret older than the rotation threshold."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, credential_label, describe, iso


class CredentialNotRotated(Rule):
    meta = RuleMeta(
        id="credential-not-rotated",
        title="Credential not rotated",
        severity=Severity.MEDIUM,
        rationale=(
            "A long-lived secret has had more time to leak (into code, logs, laptops, CI caches) and keeps "
            "working after it has. Rotation bounds that window. Provider-managed keys (GCP system-managed "
            "keys, which Google rotates) are not counted; inactive or expired credentials are not counted."
        ),
        remediation=(
            "Create a new credential, move the workload to it, deactivate the old one, watch for failures, then "
            "delete it. Better: replace the static secret with a role, workload identity or managed identity "
            "so there is nothing to rotate."
        ),
        owasp_nhi=("NHI7:2025",),
        nist_800_207=("Tenet 6", "Tenet 4"),
        nist_800_53=("IA-5",),
        cis=("CIS AWS v7.0.0 2.12", "CIS GCP v4.0.0 1.7"),
        settings=("rotation_days", "rotation_critical_days"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        limit = ctx.settings.rotation_days
        for identity in ctx.nhis():
            for cred in ctx.active_programmatic(identity.id):
                if cred.managed_by != "user":
                    continue
                since = cred.created
                age = ctx.days_since(since)
                if age is None or age < limit:
                    continue
                severity = Severity.HIGH if age >= ctx.settings.rotation_critical_days else self.meta.severity
                yield self.finding(
                    ctx,
                    identity,
                    credential=cred,
                    severity=severity,
                    description=(
                        f"{credential_label(cred).capitalize()} of {describe(identity)} is {age} days old "
                        f"(created {iso(since)[:10]}); the rotation limit is {limit} days."
                    ),
                    evidence={
                        "credential": cred.id,
                        "credential_kind": cred.kind.value,
                        "created": iso(cred.created),
                        "age_days": age,
                        "limit_days": limit,
                        "last_used": iso(cred.last_used),
                    },
                )
