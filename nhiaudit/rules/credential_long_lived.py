"""credential-long-lived: a user-managed secret valid for longer than the allowed lifetime, or forever."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, credential_label, describe, iso

PERMANENT_DAYS = 3650
"""A lifetime of ten years or more is treated like no expiry at all (high severity)."""
NO_EXPIRY_YEAR = 9999
"""An expiry in year 9999 is how providers write 'never' (GCP key validBeforeTime 9999-12-31)."""


class CredentialLongLived(Rule):
    meta = RuleMeta(
        id="credential-long-lived",
        title="Credential with far-future or no expiry",
        severity=Severity.MEDIUM,
        rationale=(
            "An expiry date is the backstop for every missed rotation: a leaked secret that expires next month "
            "is a small incident, one valid until 2299 is a permanent back door. The lifetime counts from the "
            "credential's creation (or, when that is unknown, from the analysis date) to its expiry. Only "
            "credentials whose provider records an expiry are judged: Azure app secrets and certificates, GCP "
            "user-managed keys (whose 9999-12-31 expiry means 'never'); AWS access keys have no expiry and are "
            "covered by credential-not-rotated. Provider-managed credentials are not counted. A credential that "
            "never expires, or lives ten years or more, is high severity."
        ),
        remediation=(
            "Replace the credential with one whose lifetime is at most the limit (Azure: a secret or certificate "
            "with an end date within a year; GCP: a key with an expiry, or better workload identity federation), "
            "then delete the old one. Enforce a maximum lifetime centrally (Entra app management policies, the GCP "
            "organization policy iam.serviceAccountKeyExpiryHours)."
        ),
        owasp_nhi=("NHI7:2025",),
        nist_800_207=("Tenet 6", "Tenet 4"),
        nist_800_53=("IA-5", "SC-12"),
        settings=("credential_max_lifetime_days",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        limit = ctx.settings.credential_max_lifetime_days
        for identity in ctx.nhis():
            for cred in ctx.active_programmatic(identity.id):
                if cred.managed_by != "user":
                    continue
                start = cred.created or ctx.as_of
                if cred.expires is None:
                    if not cred.expires_known:
                        continue
                    lifetime = None
                    text = "never expires"
                elif cred.expires.year >= NO_EXPIRY_YEAR:
                    lifetime = None
                    text = f"never expires (its expiry is {iso(cred.expires)[:10]}, the provider's 'no expiry')"
                else:
                    lifetime = (cred.expires - start).days
                    if lifetime <= limit:
                        continue
                    since = "created" if cred.created else "counted from today"
                    text = (
                        f"is valid for {lifetime:,} days ({since} {iso(start)[:10]}, expires {iso(cred.expires)[:10]})"
                    )
                permanent = lifetime is None or lifetime >= PERMANENT_DAYS
                yield self.finding(
                    ctx,
                    identity,
                    credential=cred,
                    severity=Severity.HIGH if permanent else self.meta.severity,
                    description=(
                        f"{credential_label(cred).capitalize()} of {describe(identity)} {text}; the maximum "
                        f"lifetime is {limit} days."
                    ),
                    evidence={
                        "credential": cred.id,
                        "credential_kind": cred.kind.value,
                        "created": iso(cred.created),
                        "expires": iso(cred.expires),
                        "lifetime_days": lifetime,
                        "limit_days": limit,
                        "never_expires": lifetime is None,
                    },
                )
