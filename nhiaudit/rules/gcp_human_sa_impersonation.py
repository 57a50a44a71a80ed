"""gcp-human-sa-impersonation: people who can act as or mint tokens for a service account."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nhiaudit.model import Confidence, Finding, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, admin_note, organization, raised
from nhiaudit.trust.gcp import Power, binding_condition, binding_level, powers
from nhiaudit.trust.principals import GcpMember, parse_member

BASIC_ROLES = frozenset({"roles/owner", "roles/editor"})
"""People holding basic roles can act as every service account too, but that is one consequence of an
over-broad basic role, not a delegation of the service account; the graph still uses it."""

LEVEL_SEVERITY = {
    "project": Severity.HIGH,
    "folder": Severity.HIGH,
    "organization": Severity.HIGH,
    "service_account": Severity.LOW,
    "unknown": Severity.MEDIUM,
}


@dataclass(frozen=True)
class Holder:
    member: GcpMember
    trust: Trust
    powers: tuple[Power, ...]
    level: str
    condition: str | None
    severity: Severity

    def as_dict(self) -> dict[str, object]:
        return {
            "member": self.member.raw,
            "roles": sorted({p.action for p in self.powers}),
            "can": sorted({p.kind for p in self.powers}),
            "binding": self.trust.source,
            "level": self.level,
            "condition": self.condition,
        }


class GcpHumanSaImpersonation(Rule):
    meta = RuleMeta(
        id="gcp-human-sa-impersonation",
        title="People can impersonate a service account",
        severity=Severity.HIGH,
        rationale=(
            "Users and groups holding Service Account Token Creator, Service Account User or Workload Identity "
            "User (or a role with the same permissions: getAccessToken, signBlob, signJwt, actAs, key creation; "
            "the basic Owner and Editor roles are not counted here) "
            "can act as the service account: its actions are then logged as the service account, not as the "
            "person, and its permissions become theirs. Granted on the project (or a folder or the "
            "organization) the right covers every service account in it, which CIS GCP 1.6 forbids (high); "
            "granted on one service account it is a deliberate delegation that is still worth knowing (low, "
            "raised when the service account is or can become admin-equivalent). allUsers or "
            "allAuthenticatedUsers is critical. Conditional bindings count one step lower, with medium "
            "confidence. Members from outside the organization's domains are reported by "
            "gcp-cross-boundary-impersonation instead."
        ),
        remediation=(
            "Remove project-level Service Account User / Token Creator bindings for users and groups; grant "
            "impersonation on the individual service account that a person must use, to a group, with an IAM "
            "condition (for example an expiry) where possible, and prefer short-lived access through a "
            "privileged access manager. Never grant these roles to allUsers or allAuthenticatedUsers."
        ),
        owasp_nhi=("NHI10:2025",),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("AC-2(9)", "AC-6", "AC-5"),
        cis=("CIS GCP v4.0.0 1.6", "CIS GCP v4.0.0 1.8"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        org = organization(ctx)
        for identity in ctx.nhis(["gcp"]):
            holders: list[Holder] = []
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "gcp_member":
                    continue
                member = parse_member(trust.principal)
                if not member.human:
                    continue
                if not member.public and org.trust_inside(trust) is False:
                    continue  # an outside person: gcp-cross-boundary-impersonation
                granted = tuple(p for p in powers(trust.actions, ctx.inventory) if p.action.lower() not in BASIC_ROLES)
                if not granted:
                    continue
                level = binding_level(trust)
                condition = binding_condition(trust)
                severity = Severity.CRITICAL if member.public else LEVEL_SEVERITY[level]
                if condition:
                    severity = severity.lowered()
                holders.append(Holder(member, trust, granted, level, condition, severity))
            if not holders:
                continue
            holders.sort(key=lambda h: (-h.severity.rank, h.member.raw))
            worst = holders[0]
            severity = worst.severity
            confidence = Confidence.MEDIUM if all(h.condition for h in holders) else Confidence.HIGH
            described = [
                f"{h.member.raw} ({', '.join(sorted({p.action for p in h.powers}))} on {h.trust.source}"
                + (f", only if {h.condition}" if h.condition else "")
                + ")"
                for h in holders[:5]
            ]
            description = (
                f"{describe(identity)} can be impersonated by {len(holders)} "
                f"{'person or group' if len(holders) == 1 else 'people or groups'}: {'; '.join(described)}"
                + (f"; and {len(holders) - 5} more" if len(holders) > 5 else "")
                + "."
            )
            if any(h.level in ("project", "folder", "organization") for h in holders):
                description += " A binding above the service account covers every service account beneath it."
            note = admin_note(ctx, identity.id)
            if note:
                if severity != Severity.CRITICAL:
                    severity = raised(severity, 2 if severity == Severity.LOW else 1)
                description += " " + note
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=confidence,
                evidence={
                    "members": [h.as_dict() for h in holders],
                    "admin_equivalent": admin_evidence(ctx, identity.id),
                },
            )
