"""credential-never-used: an active credential that has never been used."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, credential_label, describe, iso


class CredentialNeverUsed(Rule):
    meta = RuleMeta(
        id="credential-never-used",
        title="Active credential never used",
        severity=Severity.HIGH,
        rationale=(
            "An active secret that has never been used is pure exposure: it grants access nobody needs, and "
            "because it never shows up in logs, its misuse would stand out to no one. It is the worst kind of "
            "unused credential, not a pass. A grace period after creation avoids flagging a key that was "
            "created today. Only credentials with usage evidence are judged; where the provider gave no usage "
            "data the report lists a coverage gap instead."
        ),
        remediation="Deactivate the credential now and delete it after a short waiting period.",
        owasp_nhi=("NHI1:2025", "NHI7:2025"),
        nist_800_207=("Tenet 5", "Tenet 6"),
        nist_800_53=("AC-2(3)", "IA-5"),
        cis=("CIS AWS v7.0.0 2.11", "CIS AWS v3.0.0 1.11"),
        settings=("new_credential_grace_days",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        grace = ctx.settings.new_credential_grace_days
        for identity in ctx.nhis():
            for cred in ctx.active_programmatic(identity.id):
                if not cred.usage_known or cred.last_used is not None:
                    continue
                age = ctx.days_since(cred.created)
                if age is None or age < grace:
                    continue
                yield self.finding(
                    ctx,
                    identity,
                    credential=cred,
                    description=(
                        f"{credential_label(cred).capitalize()} of {describe(identity)} is active but has never "
                        f"been used since it was created {age} days ago ({iso(cred.created)[:10]})."
                    ),
                    evidence={
                        "credential": cred.id,
                        "credential_kind": cred.kind.value,
                        "created": iso(cred.created),
                        "age_days": age,
                        "usage_source": cred.usage_source,
                        "grace_days": grace,
                    },
                )
