"""identity-unused: an NHI with no recorded activity for a long time."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso, source_label


class IdentityUnused(Rule):
    meta = RuleMeta(
        id="identity-unused",
        title="NHI unused",
        severity=Severity.MEDIUM,
        rationale=(
            "An identity nobody uses still carries its permissions and trust relationships; it is attack "
            "surface with no owner watching it (improper offboarding). Activity comes from the providers' own "
            "telemetry (AWS RoleLastUsed and the credential report, Access Advisor, GCP activity analysis, Entra "
            "sign-in activity), each with its observation window. An identity younger than the threshold cannot "
            "have been idle that long and is never reported; an identity without any activity evidence is not "
            "judged (the report lists the coverage gap instead). Severity is high when the identity is also "
            "admin-equivalent. Where the provider does not report a creation date (GCP service accounts) and no "
            "use was ever seen, confidence is medium."
        ),
        remediation=(
            "Confirm with the owner (tags, description) that nothing depends on the identity, remove its "
            "permissions and credentials (or disable it) for a waiting period, then delete it."
        ),
        owasp_nhi=("NHI1:2025",),
        nist_800_207=("Tenet 5", "Tenet 7"),
        nist_800_53=("AC-2", "AC-2(3)"),
        cis=("CIS AWS v7.0.0 2.11",),
        settings=("identity_unused_days",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        limit = ctx.settings.identity_unused_days
        for identity in ctx.nhis():
            if identity.disabled:
                continue  # disabled identities are judged by inactive-identity-active-credentials
            records = ctx.usage(identity.id, "identity")
            if not records:
                continue
            used = [r for r in records if r.last_used is not None]
            sources = sorted({r.source for r in records})
            if used:
                latest = max(used, key=lambda r: r.last_used)  # type: ignore[arg-type,return-value]
                idle = ctx.days_since(latest.last_used)
                since_text = (
                    f"was last active {idle} days ago on {iso(latest.last_used)[:10]} ({source_label(latest.source)})"
                )
                last_used = latest.last_used
            else:
                starts = [r.window_start for r in records if r.window_start is not None]
                window_start = min(starts) if starts else None
                begin = (
                    max(t for t in (identity.created, window_start) if t is not None)
                    if (identity.created or window_start)
                    else None
                )
                idle = ctx.days_since(begin)
                last_used = None
                if identity.created is not None and (window_start is None or identity.created >= window_start):
                    since_text = f"has no recorded activity since it was created {idle} days ago"
                else:
                    since_text = (
                        f"has no recorded activity in the {idle}-day observation window of "
                        f"{', '.join(source_label(s) for s in sources)} (since "
                        f"{iso(window_start)[:10] if window_start else 'unknown'})"
                    )
            if idle is None or idle < limit:
                continue
            access = ctx.access.get(identity.id)
            severity = Severity.HIGH if access is not None and access.admin is not None else self.meta.severity
            confidence = Confidence.HIGH
            if last_used is None and identity.created is None:
                # the provider does not say when the identity was created: it may be younger than the window
                confidence = Confidence.MEDIUM
                since_text += " (its creation date is unknown, so it may be younger than that)"
            secrets = [c for c in ctx.active_programmatic(identity.id) if c.managed_by == "user"]
            if secrets:
                since_text += (
                    f", yet it still holds {len(secrets)} active credential{'s' if len(secrets) > 1 else ''} "
                    f"({', '.join(c.name or c.id for c in secrets)})"
                )
            yield self.finding(
                ctx,
                identity,
                severity=severity,
                confidence=confidence,
                description=f"{describe(identity)} {since_text}; the limit is {limit} days.",
                evidence={
                    "last_used": iso(last_used),
                    "idle_days": idle,
                    "limit_days": limit,
                    "created": iso(identity.created),
                    "sources": sources,
                    "windows": [
                        {"source": r.source, "start": iso(r.window_start), "end": iso(r.window_end)} for r in records
                    ],
                    "admin_equivalent": access is not None and access.admin is not None,
                    "active_credentials": [c.id for c in secrets],
                },
            )
