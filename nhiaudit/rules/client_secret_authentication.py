"""client-secret-authentication: an NHI that signs in with a client secret (a shared password)."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import CredentialKind, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class ClientSecretAuthentication(Rule):
    meta = RuleMeta(
        id="client-secret-authentication",
        title="NHI authenticates with a client secret",
        severity=Severity.MEDIUM,
        rationale=(
            "A client secret is a password: it is pasted into pipelines, configuration files and chat, it works "
            "from anywhere, and a copy cannot be told from the original. A certificate proves possession of a "
            "private key that can stay in a key vault or HSM, and a managed identity or a federated identity "
            "credential (workload identity federation) leaves no secret to steal at all. Severity is high when "
            "the identity already has a federated credential or a certificate (the secret is then a redundant "
            "back door, often left over from before the migration) or is admin-equivalent."
        ),
        remediation=(
            "Move the workload off the secret: code running in Azure uses a managed identity; GitHub Actions, "
            "Kubernetes, other clouds and CI systems use a federated identity credential; anything else uses a "
            "certificate kept in a key vault. Then delete the client secret and block new ones with an app "
            "management policy."
        ),
        owasp_nhi=("NHI4:2025",),
        nist_800_207=("Tenet 6", "Tenet 4"),
        nist_800_53=("IA-5", "IA-5(2)", "IA-9"),
        providers=("azure",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            secrets = [
                c
                for c in ctx.active_programmatic(identity.id)
                if c.kind == CredentialKind.CLIENT_SECRET and c.managed_by == "user"
            ]
            if not secrets:
                continue
            others = ctx.credentials(identity.id)
            federated = [c for c in others if c.kind == CredentialKind.FEDERATED and c.status == "active"]
            certificates = [c for c in others if c.kind == CredentialKind.CERTIFICATE and c.status == "active"]
            access = ctx.access.get(identity.id)
            admin = access is not None and access.admin is not None
            names = ", ".join(c.name or c.id for c in secrets)
            description = (
                f"{describe(identity)} authenticates with {len(secrets)} client secret"
                f"{'s' if len(secrets) > 1 else ''} ({names})."
            )
            if federated:
                issuers = sorted({str(c.attributes.get("issuer") or c.name) for c in federated})
                description += (
                    f" It already has {len(federated)} federated credential{'s' if len(federated) > 1 else ''} "
                    f"({', '.join(issuers)}), so the secret is a redundant back door."
                )
            elif certificates:
                description += " It already has a certificate credential, so the secret is a redundant back door."
            if admin:
                description += " The identity is admin-equivalent."
            used = [c for c in secrets if c.last_used is not None]
            if used:
                latest = max(used, key=lambda c: c.last_used)  # type: ignore[arg-type,return-value]
                description += f" A secret was last used on {iso(latest.last_used)[:10]}."
            severity = Severity.HIGH if federated or certificates or admin else self.meta.severity
            yield self.finding(
                ctx,
                identity,
                severity=severity,
                description=description,
                evidence={
                    "client_secrets": [
                        {
                            "id": c.id,
                            "name": c.name,
                            "created": iso(c.created),
                            "expires": iso(c.expires),
                            "last_used": iso(c.last_used),
                        }
                        for c in secrets
                    ],
                    "federated_credentials": [
                        {"name": c.name, "issuer": c.attributes.get("issuer"), "subject": c.attributes.get("subject")}
                        for c in federated
                    ],
                    "certificates": [c.id for c in certificates],
                    "admin_equivalent": admin,
                },
            )
