"""gcp-cross-boundary-impersonation: a service account that principals from another project,
another organization or an outside domain can impersonate."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, organization, raised, with_admin_note
from nhiaudit.trust.gcp import binding_condition, binding_level, powers
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
            "party holds the identity (high). Inside the organization the crossing is medium; either is raised "
            "when a reachable account is admin-equivalent. A binding on a service account is reported on that "
            "account; a binding on a project, folder or organization is reported once, on the member, listing "
            "every account it reaches (people granted there are reported by gcp-project-level-impersonation). "
            "The organization is the scanned projects, projects the collector listed as members, and "
            "[organization] accounts / domains in the config file; when the organization's domains are unknown, "
            "users and groups are not judged (the scan warns). Google-managed service agents are not reported."
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
        above: dict[tuple[str, str, str], list[tuple[Identity, str, Severity, list[str]]]] = defaultdict(list)
        for identity in ctx.nhis(["gcp"]):
            crossings: list[dict[str, object]] = []
            severity: Severity | None = None
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "gcp_member":
                    continue
                granted = powers(trust.actions, ctx.inventory)
                if not granted:
                    continue
                member = parse_member(trust.principal)
                level_above = binding_level(trust) in ("project", "folder", "organization")
                if level_above and member.human:
                    continue  # people granted above the account: gcp-project-level-impersonation (one per member)
                judged = _crossing(ctx, org, identity, trust)
                if judged is None:
                    unknown = member.human and not member.public and org.domain_inside(member.domain) is None
                    if unknown and member.domain and trust.internal is None:
                        unknown_domains.add(member.domain)
                    continue
                what, level = judged
                condition = binding_condition(trust)
                if condition:
                    level = level.lowered()
                roles = sorted({p.action for p in granted})
                if level_above:
                    above[(trust.principal, trust.source or "", condition or "")].append((identity, what, level, roles))
                    continue
                crossings.append(
                    {
                        "member": trust.principal,
                        "crossing": what,
                        "roles": roles,
                        "binding": trust.source,
                        "condition": condition,
                        "severity": level.value,
                    }
                )
                if severity is None or level.rank > severity.rank:
                    severity = level
            if not crossings or severity is None:
                continue
            yield self._per_account(ctx, org, identity, crossings, severity)
        for (member, source, condition), targets in sorted(above.items()):
            yield self._per_binding(ctx, org, member, source, condition, targets)
        if unknown_domains:
            ctx.warnings.append(
                "gcp-cross-boundary-impersonation: the organization's domains are unknown, so users and groups of "
                f"{', '.join(sorted(unknown_domains))} were not judged; list yours under [organization] domains"
            )

    def _per_account(
        self,
        ctx: AnalysisContext,
        org: Organization,
        identity: Identity,
        crossings: list[dict[str, object]],
        severity: Severity,
    ) -> Finding:
        crossings.sort(key=lambda c: (-Severity(str(c["severity"])).rank, str(c["member"])))
        shown = "; ".join(
            f"{c['member']} ({c['crossing']}; {', '.join(c['roles'])} on {c['binding']})"  # type: ignore[arg-type]
            for c in crossings[:5]
        )
        description = f"{describe(identity)} can be impersonated across a boundary: {shown}"
        if len(crossings) > 5:
            description += f"; and {len(crossings) - 5} more"
        description += "."
        severity, description = with_admin_note(ctx, identity.id, severity, description)
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=Confidence.MEDIUM
            if any("not listed" in str(c["crossing"]) for c in crossings)
            else Confidence.HIGH,
            evidence={"members": crossings, "admin_equivalent": admin_evidence(ctx, identity.id)},
        )

    def _per_binding(
        self,
        ctx: AnalysisContext,
        org: Organization,
        member: str,
        source: str,
        condition: str,
        targets: list[tuple[Identity, str, Severity, list[str]]],
    ) -> Finding:
        """A binding above the service accounts: one finding on the member, listing every account it reaches."""
        parsed = parse_member(member)
        subject = (ctx.identity(parsed.email) if parsed.email else None) or Identity(
            id=member,
            provider="gcp",
            scope=source.split("/", 1)[1] if source.startswith("projects/") else source,
            kind="gcp.member",
            name=parsed.email or member,
            is_nhi=False,
        )
        severity = max((level for _, _, level, _ in targets), key=lambda s: s.rank)
        what = targets[0][1]
        roles = sorted({r for _, _, _, rs in targets for r in rs})
        accounts = sorted(t.id for t, _, _, _ in targets)
        admins = [a for a in accounts if admin_evidence(ctx, a)]
        who = describe(subject) if subject.kind != "gcp.member" else member
        description = (
            f"{who} ({what}) holds {', '.join(roles)} on {source}, so it can impersonate or act as all "
            f"{len(accounts)} service account{'s' if len(accounts) != 1 else ''} there"
        )
        if admins:
            severity = raised(severity)
            description += f", including admin-equivalent {', '.join(admins[:3])}{' ...' if len(admins) > 3 else ''}"
        description += "."
        if condition:
            description += f" The binding is conditional ({condition})."
        return self.finding(
            ctx,
            subject,
            key=f"{source}|{condition}",
            description=description,
            severity=severity,
            confidence=Confidence.MEDIUM if condition or "not listed" in what else Confidence.HIGH,
            evidence={
                "member": member,
                "crossing": what,
                "binding_scope": source,
                "roles": roles,
                "condition": condition or None,
                "service_accounts": accounts,
                "admin_equivalent_service_accounts": admins,
            },
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
        project = org.project_id(member.project)
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
        if org.contains(project) or trust.internal is True:
            return f"{what}, another project of the organization", Severity.MEDIUM
        if org.listed("gcp"):
            return f"{what}, outside the organization", Severity.HIGH
        return f"{what}, outside the scanned projects (the organization's projects were not listed)", Severity.MEDIUM
    return None
