"""gcp-user-managed-key: a service account has an active user-managed key at all (CIS GCP 1.4)."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import CredentialKind, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class GcpUserManagedKey(Rule):
    meta = RuleMeta(
        id="gcp-user-managed-key",
        title="User-managed service account key",
        severity=Severity.MEDIUM,
        rationale=(
            "A user-managed key is a long-lived private key that leaves Google's control the moment it is "
            "downloaded (or was generated outside Google, for an uploaded key): it ends up in CI variables, "
            "laptops and repositories, and anyone holding a copy is the service account until the key is "
            "deleted. Google offers credential-less alternatives for almost every workload, so CIS GCP 1.4 asks "
            "for Google-managed keys only. One finding per active key; Google-managed (system) keys and "
            "disabled or expired keys are not counted. A key with a short validity (no longer than the rotation "
            "limit) is reported with low severity."
        ),
        remediation=(
            "Move the workload to a credential-less method: attach the service account to the resource "
            "(Compute Engine, Cloud Run, GKE Workload Identity), use workload identity federation for CI and "
            "other clouds, or short-lived impersonation for people. Then disable and delete the key, and enforce "
            "the organization policy constraint iam.managed.disableServiceAccountKeyCreation (and "
            "iam.serviceAccountKeyExpiryHours where keys cannot be avoided yet)."
        ),
        owasp_nhi=("NHI4:2025", "NHI7:2025"),
        nist_800_207=("Tenet 6", "Tenet 4"),
        nist_800_53=("IA-5", "IA-5(7)", "SC-12"),
        cis=("CIS GCP v4.0.0 1.4",),
        providers=("gcp",),
        settings=("rotation_days",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis(["gcp"]):
            for cred in ctx.active_programmatic(identity.id):
                if cred.kind != CredentialKind.SERVICE_ACCOUNT_KEY or cred.managed_by != "user":
                    continue
                never = bool(cred.attributes.get("never_expires")) or cred.expires is None
                lifetime = (cred.expires - cred.created).days if cred.expires and cred.created and not never else None
                uploaded = cred.attributes.get("key_origin") == "USER_PROVIDED"
                severity = self.meta.severity
                if lifetime is not None and lifetime <= ctx.settings.rotation_days:
                    severity = Severity.LOW
                age = ctx.days_since(cred.created)
                expiry = "never expires" if never else f"expires {iso(cred.expires)[:10]}"
                origin = " It was uploaded (its private key was generated outside Google)." if uploaded else ""
                used = (
                    f" Last used {iso(cred.last_used)[:10]}."
                    if cred.last_used
                    else (" Never used." if cred.usage_known else "")
                )
                yield self.finding(
                    ctx,
                    identity,
                    credential=cred,
                    severity=severity,
                    description=(
                        f"{describe(identity)} has an active user-managed key {cred.id}, created "
                        f"{iso(cred.created)[:10] if cred.created else 'at an unknown date'}"
                        f"{f' ({age} days ago)' if age is not None else ''}, which {expiry}.{origin}{used}"
                    ),
                    evidence={
                        "credential": cred.id,
                        "key_type": cred.attributes.get("key_type"),
                        "key_origin": cred.attributes.get("key_origin"),
                        "key_algorithm": cred.attributes.get("key_algorithm"),
                        "created": iso(cred.created),
                        "expires": iso(cred.expires),
                        "never_expires": never,
                        "validity_days": lifetime,
                        "last_used": iso(cred.last_used),
                        "usage_source": cred.usage_source,
                    },
                )
