"""gcp-project-level-impersonation: people may act as every service account of a project (CIS GCP 1.6)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from nhiaudit.catalogs.gcp_roles import IMPERSONATION_ROLES, TOKEN_PERMISSIONS
from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.policy.gcp import condition_text, is_human_member, member_kind
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta

CONTAINERS = ("projects/", "folders/", "organizations/")
TOKEN_ROLES = frozenset(r for r in IMPERSONATION_ROLES if r != "roles/iam.serviceAccountUser")
EVERYONE = frozenset({"allUsers", "allAuthenticatedUsers", "domain"})


class GcpProjectLevelImpersonation(Rule):
    meta = RuleMeta(
        id="gcp-project-level-impersonation",
        title="People can act as every service account of a project",
        severity=Severity.HIGH,
        rationale=(
            "Service Account User (iam.serviceAccounts.actAs) and Service Account Token Creator (tokens, "
            "signatures, keys) granted on a project, folder or organization apply to every service account "
            "below it, present and future, including the most privileged one. A person holding them can work as "
            "those machine identities: their actions are logged as the service account, and removing the person's "
            "own roles does not remove that access (CIS GCP 1.6, human use of NHIs). One finding per member and "
            "binding; the affected service accounts are in the evidence. Token Creator and the other "
            "credential-minting roles are high severity; Service Account User alone is medium unless an affected "
            "account is admin-equivalent or the member is a whole domain or everyone. Conditional bindings are "
            "one step lower. Bindings on a single service "
            "account, and service-account members, are not reported here."
        ),
        remediation=(
            "Remove the project-level binding. Grant Service Account User or Token Creator on the one service "
            "account a person really needs (gcloud iam service-accounts add-iam-policy-binding), preferably "
            "time-bound with an IAM condition or through Privileged Access Manager, and keep separation of "
            "duties between who administers service accounts and who uses them (CIS GCP 1.8)."
        ),
        owasp_nhi=("NHI10:2025", "NHI5:2025"),
        nist_800_207=("Tenet 3", "Tenet 6"),
        nist_800_53=("AC-6", "AC-5", "AC-2(9)"),
        cis=("CIS GCP v4.0.0 1.6", "CIS GCP v4.0.0 1.8"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        groups: dict[tuple[str, str, str], list[Trust]] = defaultdict(list)
        for trust in ctx.inventory.trusts:
            if trust.principal_kind != "gcp_member" or not (trust.source or "").startswith(CONTAINERS):
                continue
            if not is_human_member(trust.principal):
                continue
            if not any(self._qualifies(ctx, role) for role in trust.actions):
                continue
            identity = ctx.identity(trust.identity_id)
            if identity is None or identity.provider != "gcp":
                continue
            key = (trust.source or "", trust.principal, condition_text(trust.conditions) if trust.conditions else "")
            groups[key].append(trust)
        for (source, member, condition), trusts in sorted(groups.items()):
            yield self._finding(ctx, source, member, condition, trusts)

    def _qualifies(self, ctx: AnalysisContext, role: str) -> bool:
        if role in IMPERSONATION_ROLES:
            return True
        policy = ctx.inventory.policies.get(role)
        return role.startswith(("projects/", "organizations/")) and policy is not None and bool(policy.permissions)

    def _mints_tokens(self, ctx: AnalysisContext, role: str) -> bool:
        if role in TOKEN_ROLES:
            return True
        policy = ctx.inventory.policies.get(role)
        return policy is not None and bool(set(policy.permissions or ()) & TOKEN_PERMISSIONS)

    def _finding(self, ctx: AnalysisContext, source: str, member: str, condition: str, trusts: list[Trust]) -> Finding:
        roles = sorted({r for t in trusts for r in t.actions if self._qualifies(ctx, r)})
        accounts = sorted({t.identity_id for t in trusts})
        admins = [
            a for a in accounts if (acc := ctx.access.get(a)) is not None and acc.admin and acc.admin.account_wide
        ]
        tokens = any(self._mints_tokens(ctx, r) for r in roles)
        kind = member_kind(member)
        severity = Severity.HIGH if tokens or admins or kind in EVERYONE else Severity.MEDIUM
        confidence = Confidence.HIGH
        internal = trusts[0].internal
        scope = source.split("/", 1)[1] if source.startswith("projects/") else source
        subject = Identity(
            id=member,
            provider="gcp",
            scope=scope,
            kind="gcp.member",
            name=member.split(":", 1)[-1] if ":" in member and "://" not in member else member,
            is_nhi=False,
        )
        role_names = ", ".join(f"{IMPERSONATION_ROLES.get(r, r)} ({r})" for r in roles)
        description = (
            f"{member} holds {role_names} on {source}, so it can "
            f"{'mint tokens for and ' if tokens else ''}act as all {len(accounts)} service account"
            f"{'s' if len(accounts) != 1 else ''} there"
        )
        if admins:
            description += f", including admin-equivalent {', '.join(admins[:3])}{' ...' if len(admins) > 3 else ''}"
        description += "."
        if internal is False:
            description += " The member is outside the organization's domain."
        if condition:
            severity, confidence = severity.lowered(), Confidence.MEDIUM
            description += f" The binding is conditional ({condition}), so narrower than shown."
        return self.finding(
            ctx,
            subject,
            key=f"{source}|{condition}",
            severity=severity,
            confidence=confidence,
            description=description,
            evidence={
                "member": member,
                "member_kind": kind,
                "binding_scope": source,
                "roles": roles,
                "condition": trusts[0].conditions or None,
                "service_accounts": accounts,
                "admin_equivalent_service_accounts": admins,
                "mints_tokens": tokens,
                "internal": internal,
            },
        )
