"""gcp-wif-provider-unconstrained: a workload identity federation provider (or a binding to a
whole pool) that admits more workloads than intended."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, admin_note, raised
from nhiaudit.trust.gcp import STRONG, powers
from nhiaudit.trust.oidc import Breadth, SubjectScope, analyze_attribute_condition, issuer_of
from nhiaudit.trust.principals import parse_member

PROVIDER_RE = re.compile(r"(projects/([^/]+)/locations/[^/]+/workloadIdentityPools/([^/]+))/providers/([^/]+)")
PROVIDER_KINDS = ("oidc", "saml", "aws")

SEVERITY = {
    Breadth.ANY: Severity.CRITICAL,
    Breadth.OTHER_OWNERS: Severity.CRITICAL,
    Breadth.OWNER: Severity.HIGH,
    Breadth.REPOSITORY_SET: Severity.MEDIUM,
    Breadth.ANY_REF: Severity.MEDIUM,
}


class GcpWifProviderUnconstrained(Rule):
    meta = RuleMeta(
        id="gcp-wif-provider-unconstrained",
        title="Workload identity federation admits workloads it should not",
        severity=Severity.CRITICAL,
        rationale=(
            "A workload identity pool provider exchanges tokens from an outside issuer (GitHub Actions, GitLab, "
            "Terraform Cloud, an AWS account, a SAML IdP) for Google credentials. Without an attribute condition "
            "it accepts every identity the issuer signs for: for GitHub.com, GitLab.com or Terraform Cloud that "
            "is anyone (critical); for an AWS account every role and user in it, for an EKS cluster or a "
            "corporate IdP every workload or user of it (high). A condition that does not pin the organization "
            "or repository (only a branch, say), or pins it with startsWith on a prefix other organizations can "
            "share, is reported the same way; pinning the repository owner is the minimum Google recommends. "
            "Separately, a Workload Identity User binding for a whole pool (principalSet://.../*) lets every "
            "identity the pool accepts impersonate the service account; it is reported with the breadth of the "
            "pool's providers."
        ),
        remediation=(
            "Set an attribute condition on every provider that pins the owner, e.g. "
            "assertion.repository_owner == 'ORG' (GitHub), assertion.namespace_path == 'GROUP' (GitLab), "
            "assertion.terraform_organization_name == 'ORG' (Terraform Cloud), or the role ARNs for AWS; and "
            "grant roles/iam.workloadIdentityUser to principalSet://.../attribute.repository/ORG/REPO (one "
            "repository) rather than to the whole pool."
        ),
        owasp_nhi=("NHI6:2025", "NHI3:2025"),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("IA-9", "IA-8", "AC-3"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        pools: dict[str, list[tuple[Trust, SubjectScope]]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for trust in ctx.inventory.trusts:
            match = PROVIDER_RE.search(trust.principal)
            if trust.principal_kind not in PROVIDER_KINDS or match is None:
                continue
            scope = _provider_scope(trust)
            pools[match.group(1)].append((trust, scope))
            if (trust.identity_id, trust.principal) in seen:
                continue
            seen.add((trust.identity_id, trust.principal))
            if scope.breadth < Breadth.OTHER_OWNERS:
                continue
            identity = ctx.identity(trust.identity_id) or _provider_identity(trust, match)
            if identity.provider_owned and not ctx.settings.include_provider_owned:
                continue
            yield self._provider_finding(ctx, identity, trust, scope)
        yield from self._pool_bindings(ctx, pools)

    def _provider_finding(self, ctx: AnalysisContext, identity: Identity, trust: Trust, scope: SubjectScope) -> Finding:
        issuer = _issuer_label(trust)
        severity = SEVERITY[scope.breadth]
        issuer_url = str(trust.conditions.get("issuer") or "")
        public_issuer = trust.principal_kind == "oidc" and issuer_of(issuer_url).multi_tenant
        if scope.breadth == Breadth.ANY and not public_issuer:
            severity = Severity.HIGH
        subject = "the provider" if identity.id == trust.principal else describe(identity)
        description = f"Workload identity provider {trust.principal} ({issuer}) federating into {subject}: "
        admits = "" if scope.breadth == Breadth.ANY else f"admits {scope.text}: "
        description += f"{admits}{scope.explanation}."
        note = admin_note(ctx, identity.id) if ctx.identity(identity.id) else None
        if note:
            severity = raised(severity)
            description += " " + note
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=Confidence.MEDIUM if scope.notes else Confidence.HIGH,
            key=trust.principal,
            evidence={
                "provider": trust.principal,
                "kind": trust.principal_kind,
                "issuer": trust.conditions.get("issuer"),
                "attribute_condition": trust.conditions.get("attributeCondition"),
                "breadth": scope.breadth.name.lower(),
                "notes": list(scope.notes),
                "admin_equivalent": admin_evidence(ctx, identity.id) if ctx.identity(identity.id) else None,
            },
        )

    def _pool_bindings(
        self, ctx: AnalysisContext, pools: dict[str, list[tuple[Trust, SubjectScope]]]
    ) -> Iterator[Finding]:
        for identity in ctx.nhis(["gcp"]):
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "gcp_member":
                    continue
                member = parse_member(trust.principal)
                if member.kind != "principalSet" or member.pool is None or not member.value.rstrip().endswith("/*"):
                    continue
                if not any(p.kind == STRONG for p in powers(trust.actions, ctx.inventory)):
                    continue
                providers = pools.get(member.pool, [])
                if providers:
                    worst_trust, worst = max(providers, key=lambda p: p[1].breadth)
                    if worst.breadth < Breadth.OWNER:
                        continue
                    severity = SEVERITY[worst.breadth]
                    confidence = Confidence.HIGH
                    because = f"its provider {worst_trust.principal} admits {worst.text} ({worst.explanation})"
                else:
                    severity, confidence = Severity.MEDIUM, Confidence.LOW
                    because = "the pool's providers are not in the inventory, so what it accepts is unknown"
                description = (
                    f"{describe(identity)} can be impersonated by every identity of workload identity pool "
                    f"{member.pool} ({', '.join(trust.actions)} on {trust.source}), and {because}."
                )
                note = admin_note(ctx, identity.id)
                if note:
                    severity = raised(severity)
                    description += " " + note
                yield self.finding(
                    ctx,
                    identity,
                    description=description,
                    severity=severity,
                    confidence=confidence,
                    key=trust.principal,
                    evidence={
                        "member": trust.principal,
                        "pool": member.pool,
                        "binding": trust.source,
                        "roles": trust.actions,
                        "providers": [
                            {"provider": t.principal, "breadth": s.breadth.name.lower(), "why": s.explanation}
                            for t, s in providers
                        ],
                        "admin_equivalent": admin_evidence(ctx, identity.id),
                    },
                )


def _provider_scope(trust: Trust) -> SubjectScope:
    condition = trust.conditions.get("attributeCondition")
    if trust.principal_kind == "oidc":
        issuer = issuer_of(str(trust.conditions.get("issuer") or ""))
        return analyze_attribute_condition(condition, issuer)
    if condition:
        return SubjectScope(Breadth.PINNED, f"attribute condition {condition!r}")
    what = "every role and user of the AWS account" if trust.principal_kind == "aws" else "every user of the IdP"
    return SubjectScope(Breadth.ANY, f"no attribute condition: {what}")


def _issuer_label(trust: Trust) -> str:
    if trust.principal_kind == "aws":
        account = trust.conditions.get("accountId") or trust.conditions.get("issuer")
        return f"AWS account {account}" if account else "an AWS account"
    if trust.principal_kind == "saml":
        return f"SAML IdP {trust.conditions.get('issuer') or '?'}"
    return issuer_of(str(trust.conditions.get("issuer") or "")).label


def _provider_identity(trust: Trust, match: re.Match[str]) -> Identity:
    """The provider as a pseudo-identity, when the collector attached its trust to no identity."""
    return Identity(
        id=trust.principal,
        provider="gcp",
        scope=match.group(2),
        kind="gcp.workload_identity_provider",
        name=f"{match.group(3)}/{match.group(4)}",
        classification="workload identity pool provider",
    )
