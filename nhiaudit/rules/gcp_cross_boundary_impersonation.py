"""gcp-cross-boundary-impersonation: a service account that principals from another project,
another organization or an outside domain can impersonate."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, admin_note, organization, raised
from nhiaudit.trust.gcp import binding_condition, powers
from nhiaudit.trust.principals import Organization, parse_member


class GcpCrossBoundaryImpersonation(Rule):
    meta = RuleMeta(
        id="gcp-cross-boundary-impersonation",
        title="Service account impersonable from outside its project or organization",
        severity=Severity.HIGH,
        rationale=(
            "A service account that a service account of another project can impersonate (token creator, "
            "workload identity user, act as, key creation) gives that project a path into this one: lateral "
            "movement Google's own lateral-movement insights flag. When the other project is outside the "
            "organization, or the member is a user, group or domain outside the organization's domains, a third "
            "party holds the identity (high). Inside the organization the crossing is medium. The organization "
            "is the scanned projects, projects the collector listed as members, and [organization] accounts / "
            "domains in the config file; when the organization's domains are unknown, users and groups are not "
            "judged (the scan warns). Google-managed service agents are not reported."
        ),
        remediation=(
            "Give each project its own service accounts and remove the cross-project binding; where a workload "
            "in another project truly needs access, grant it the specific roles on the specific resources "
            "instead of impersonation. Remove bindings for outside users, groups and domains, or move them to "
            "a dedicated project with a reviewed, time-bound IAM condition."
        ),
        owasp_nhi=("NHI3:2025", "NHI8:2025"),
        nist_800_207=("Tenet 2", "Tenet 4", "Tenet 6"),
        nist_800_53=("AC-20", "AC-6", "SA-9"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        org = organization(ctx)
        unknown_domains: set[str] = set()
        for identity in ctx.nhis(["gcp"]):
            crossings: list[dict[str, object]] = []
            severity: Severity | None = None
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "gcp_member":
                    continue
                granted = powers(trust.actions, ctx.inventory)
                if not granted:
                    continue
                judged = _crossing(ctx, org, identity, trust)
                if judged is None:
                    member = parse_member(trust.principal)
                    unknown = member.human and not member.public and org.domain_inside(member.domain) is None
                    if unknown and member.domain and trust.internal is None:
                        unknown_domains.add(member.domain)
                    continue
                what, level = judged
                condition = binding_condition(trust)
                if condition:
                    level = level.lowered()
                crossings.append(
                    {
                        "member": trust.principal,
                        "crossing": what,
                        "roles": sorted({p.action for p in granted}),
                        "binding": trust.source,
                        "condition": condition,
                        "severity": level.value,
                    }
                )
                if severity is None or level.rank > severity.rank:
                    severity = level
            if not crossings or severity is None:
                continue
            crossings.sort(key=lambda c: (-Severity(str(c["severity"])).rank, str(c["member"])))
            shown = "; ".join(
                f"{c['member']} ({c['crossing']}; {', '.join(c['roles'])} on {c['binding']})"  # type: ignore[arg-type]
                for c in crossings[:5]
            )
            description = f"{describe(identity)} can be impersonated across a boundary: {shown}"
            if len(crossings) > 5:
                description += f"; and {len(crossings) - 5} more"
            description += "."
            note = admin_note(ctx, identity.id)
            if note:
                severity = raised(severity)
                description += " " + note
            confidence = Confidence.HIGH if org.listed or org.domains else Confidence.MEDIUM
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=confidence,
                evidence={"members": crossings, "admin_equivalent": admin_evidence(ctx, identity.id)},
            )
        if unknown_domains:
            ctx.warnings.append(
                "gcp-cross-boundary-impersonation: the organization's domains are unknown, so users and groups of "
                f"{', '.join(sorted(unknown_domains))} were not judged; list yours under [organization] domains"
            )


def _crossing(ctx: AnalysisContext, org: Organization, identity: Identity, trust: Trust) -> tuple[str, Severity] | None:
    """(words, severity) when the member crosses a project, organization or domain boundary."""
    member = parse_member(trust.principal)
    if member.google_managed or member.public:
        return None  # service agents are Google's; public members: gcp-human-sa-impersonation
    if member.human:
        inside = org.domain_inside(member.domain) if member.domain else None
        if inside is None:
            inside = trust.internal
        if inside is False:
            return f"{member.kind} outside the organization's domains", Severity.HIGH
        return None
    if member.kind in ("serviceAccount", "principal", "principalSet") and member.project:
        known = ctx.identity(member.email) if member.email else None
        project = known.scope if known is not None else org.project_id(member.project)
        if project is None:
            own_number = identity.attributes.get("project_number")
            if own_number is None or str(own_number) == member.project:
                return None  # a project number nhiaudit cannot resolve: not judged
            project = member.project
        if project == identity.scope:
            return None
        if member.kind != "serviceAccount":
            what = f"workload identity pool in project {project}"
        elif ".svc.id.goog[" in member.value:
            what = f"GKE workload of project {project}"
        else:
            what = f"service account of project {project}"
        inside = org.contains(project)
        if inside:
            return f"{what}, another project of the organization", Severity.MEDIUM
        if trust.internal is True:
            return f"{what}, another project of the organization", Severity.MEDIUM
        if org.listed:
            return f"{what}, outside the organization", Severity.HIGH
        return f"{what}, outside the scanned projects", Severity.MEDIUM
    return None
