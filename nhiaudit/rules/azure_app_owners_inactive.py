"""azure-app-owners-inactive: an application or service principal whose only owners are guests
or disabled accounts."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.azure import OWNED_KINDS, owner_details
from nhiaudit.trust.context import admin_evidence, with_admin_note


class AzureAppOwnersInactive(Rule):
    meta = RuleMeta(
        id="azure-app-owners-inactive",
        title="App or service principal owned only by guests or disabled users",
        severity=Severity.MEDIUM,
        rationale=(
            "Owners can add secrets and certificates to an application or service principal and sign in as it. "
            "When every owner is a guest (someone from another organization) or a disabled account (usually a "
            "person who left), nobody accountable inside the organization looks after the identity, and the "
            "people who can still take it over are outsiders. Owner types and states come from the collector's "
            "owner details; owners whose state is unknown count as valid, and identities without owners are "
            "the concern of the orphaned-identity rules, not this one."
        ),
        remediation=(
            "Assign an accountable member of the organization (or a group of them) as owner, remove guest and "
            "disabled owners, and review the credentials the guests could have added (list them with their "
            "creation dates)."
        ),
        owasp_nhi=("NHI1:2025", "NHI3:2025"),
        nist_800_207=("Tenet 5", "Tenet 6"),
        nist_800_53=("AC-2", "PS-4", "PS-7"),
        providers=("azure",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        missing_details = 0
        for identity in ctx.nhis(["azure"]):
            if identity.kind not in OWNED_KINDS:
                continue
            owners = owner_details(identity)
            if owners is None:
                if identity.owners:
                    missing_details += 1
                continue
            if not owners or any(not o.guest and o.enabled is not False for o in owners):
                continue
            guests = [o for o in owners if o.guest]
            disabled = [o for o in owners if o.enabled is False]
            severity = self.meta.severity
            description = (
                f"{describe(identity)} has {len(owners)} owner{'s' if len(owners) > 1 else ''} and none is an "
                f"active member of the organization: {', '.join(o.label for o in owners)}."
            )
            if guests:
                description += " Guests from other organizations can add credentials to it and sign in as it."
            severity, description = with_admin_note(ctx, identity.id, severity, description)
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=Confidence.HIGH,
                evidence={
                    "owners": [
                        {"id": o.id, "name": o.name, "type": o.type, "guest": o.guest, "enabled": o.enabled}
                        for o in owners
                    ],
                    "guests": len(guests),
                    "disabled": len(disabled),
                    "admin_equivalent": admin_evidence(ctx, identity.id),
                },
            )
        if missing_details:
            ctx.warnings.append(
                f"azure-app-owners-inactive: {missing_details} applications or service principals list owners "
                "without owner details (type, guest, enabled), so their owners were not judged"
            )
