"""gcp-human-sa-impersonation: people who can act as or mint tokens for a service account."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from nhiaudit.model import Confidence, Finding, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, admin_note, organization, raised
from nhiaudit.trust.gcp import Power, binding_condition, binding_level, powers
from nhiaudit.trust.principals import GcpMember, parse_member

ABOVE = ("project", "folder", "organization")

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
        severity=Severity.LOW,
        rationale=(
            "Users and groups granted Service Account Token Creator, Service Account User, Workload Identity "
            "User, Service Account Key Admin or Admin on a service account itself (or a role with the same "
            "permissions: getAccessToken, signBlob, signJwt, getOpenIdToken, actAs, key creation, setIamPolicy; "
            "the basic Owner and Editor roles are not counted here) can act as it: their actions are logged as "
            "the service account, not as the person, and its permissions become theirs (human use of an NHI). "
            "A grant on one service account is usually a deliberate delegation, so it is low, raised to high when "
            "the service account is or can become admin-equivalent; allUsers or allAuthenticatedUsers is "
            "critical. Conditional bindings count one step lower, with medium confidence. Grants on the project, "
            "a folder or the organization are reported by gcp-project-level-impersonation (CIS GCP 1.6), and "
            "members outside the organization's domains by gcp-cross-boundary-impersonation."
        ),
        remediation=(
            "Keep impersonation for people rare and short-lived: grant it to a group rather than individuals, "
            "with an IAM condition that expires, or through Privileged Access Manager, and prefer Token Creator "
            "on a low-privilege service account to rights on an administrator one. Never grant these roles to "
            "allUsers or allAuthenticatedUsers, and keep who administers service accounts apart from who uses "
            "them (CIS GCP 1.8)."
        ),
        owasp_nhi=("NHI10:2025",),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("AC-2(9)", "AC-6", "AC-5"),
        cis=("CIS GCP v4.0.0 1.8",),
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
                if level in ABOVE and not member.public:
                    continue  # bindings above the account: gcp-project-level-impersonation, one finding per member
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
