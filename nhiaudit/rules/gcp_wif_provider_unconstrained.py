"""gcp-wif-provider-unconstrained: a workload identity federation provider, or a service account's
binding to it, that admits more workloads than intended."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, organization, with_admin_note
from nhiaudit.trust.gcp import STRONG, powers
from nhiaudit.trust.oidc import (
    BREADTH_SEVERITY,
    Breadth,
    Issuer,
    SubjectScope,
    analyze_attribute_condition,
    analyze_subject,
    claim_scope,
    issuer_of,
)
from nhiaudit.trust.principals import parse_member

PROVIDER_RE = re.compile(r"(projects/([^/]+)/locations/[^/]+/workloadIdentityPools/([^/]+))/providers/([^/]+)")
MEMBER_RE = re.compile(r"workloadIdentityPools/[^/]+/(attribute\.[^/]+|subject|group)/(.+)$")
PROVIDER_KINDS = ("oidc", "saml", "aws")


@dataclass(frozen=True)
class Provider:
    trust: Trust
    scope: SubjectScope
    issuer: Issuer
    multi_tenant: bool

    @property
    def name(self) -> str:
        return self.trust.principal

    def severity(self, breadth: Breadth) -> Severity:
        if breadth == Breadth.ANY and not self.multi_tenant:
            return Severity.HIGH
        return BREADTH_SEVERITY[breadth]


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
            "share, is reported the same way, once per provider; pinning the repository owner is the minimum "
            "Google recommends. Separately, a service account is reported when the members allowed to "
            "impersonate it through the pool (a whole pool, principalSet://.../*, or an attribute such as "
            "attribute.repository_owner/ORG, read through the provider's attribute mapping) together with the "
            "provider's condition still admit a whole organization or more. Disabled providers are skipped."
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
        providers: dict[str, Provider] = {}
        pools: dict[str, list[Provider]] = defaultdict(list)
        attached: dict[str, list[tuple[Provider, str | None]]] = defaultdict(list)
        for trust in ctx.inventory.trusts:
            match = PROVIDER_RE.search(trust.principal)
            if trust.principal_kind not in PROVIDER_KINDS or match is None or trust.conditions.get("disabled"):
                continue
            provider = providers.get(trust.principal)
            if provider is None:
                provider = providers[trust.principal] = _provider(trust)
                pools[match.group(1)].append(provider)
            member = trust.conditions.get("member")
            attached[trust.identity_id].append((provider, str(member) if member else None))
        for name, provider in sorted(providers.items()):
            if provider.scope.breadth >= Breadth.OTHER_OWNERS:
                yield self._provider_finding(ctx, provider, PROVIDER_RE.search(name))  # type: ignore[arg-type]
        for identity in ctx.nhis(["gcp"]):
            pairs = list(attached.get(identity.id, []))
            pairs.extend(_pool_members(ctx, identity, pools, pairs))
            seen: set[tuple[str, str | None]] = set()
            for provider, member in pairs:
                if (provider.name, member) in seen:
                    continue
                seen.add((provider.name, member))
                finding = self._binding_finding(ctx, identity, provider, member)
                if finding is not None:
                    yield finding

    def _provider_finding(self, ctx: AnalysisContext, provider: Provider, match: re.Match[str]) -> Finding:
        org = organization(ctx)
        number = match.group(2)
        identity = Identity(
            id=provider.name,
            provider="gcp",
            scope=org.project_id(number) or number,
            kind="gcp.workload_identity_provider",
            name=f"{match.group(3)}/{match.group(4)}",
            classification="workload identity pool provider",
        )
        scope = provider.scope
        reaches = sorted({t.identity_id for t in ctx.inventory.trusts if t.principal == provider.name})
        description = (
            f"Workload identity provider {provider.name} ({_issuer_label(provider.trust)}): {scope.explanation}."
        )
        if reaches:
            description += f" Service accounts it can reach: {', '.join(reaches[:5])}" + (
                f" and {len(reaches) - 5} more." if len(reaches) > 5 else "."
            )
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=provider.severity(scope.breadth),
            confidence=Confidence.MEDIUM if scope.notes else Confidence.HIGH,
            evidence={
                "provider": provider.name,
                "kind": provider.trust.principal_kind,
                "issuer": provider.trust.conditions.get("issuer"),
                "attribute_condition": provider.trust.conditions.get("attributeCondition"),
                "breadth": scope.breadth.name.lower(),
                "notes": list(scope.notes),
                "service_accounts": reaches,
            },
        )

    def _binding_finding(
        self, ctx: AnalysisContext, identity: Identity, provider: Provider, member: str | None
    ) -> Finding | None:
        narrowed = _member_scope(provider, member)
        scope = provider.scope
        if narrowed is not None and narrowed.breadth < scope.breadth:
            scope = narrowed
        if scope.breadth < Breadth.OWNER:
            return None
        severity = provider.severity(scope.breadth)
        who = member or "every identity of the pool"
        description = (
            f"{describe(identity)} can be impersonated through workload identity provider {provider.name} "
            f"({_issuer_label(provider.trust)}) by {who}, which admits {scope.text}: {scope.explanation}."
        )
        severity, description = with_admin_note(ctx, identity.id, severity, description)
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=Confidence.MEDIUM if scope.notes else Confidence.HIGH,
            key=f"{provider.name}#{member}",
            evidence={
                "provider": provider.name,
                "member": member,
                "attribute_condition": provider.trust.conditions.get("attributeCondition"),
                "breadth": scope.breadth.name.lower(),
                "admin_equivalent": admin_evidence(ctx, identity.id),
            },
        )


def _provider(trust: Trust) -> Provider:
    condition = trust.conditions.get("attributeCondition")
    issuer = issuer_of(str(trust.conditions.get("issuer") or ""))
    if trust.principal_kind == "oidc":
        return Provider(trust, analyze_attribute_condition(condition, issuer), issuer, issuer.multi_tenant)
    if condition:
        return Provider(trust, SubjectScope(Breadth.PINNED, f"attribute condition {condition!r}"), issuer, False)
    what = "every role and user of the AWS account" if trust.principal_kind == "aws" else "every user of the IdP"
    return Provider(trust, SubjectScope(Breadth.ANY, f"no attribute condition: {what}"), issuer, False)


def _member_scope(provider: Provider, member: str | None) -> SubjectScope | None:
    """What the binding's member admits on its own (None: it does not narrow the pool)."""
    if member is None or member.rstrip().endswith("/*"):
        return None
    match = MEMBER_RE.search(member)
    if match is None:
        return None
    what, value = match.group(1), match.group(2)
    mapping = {str(k): str(v) for k, v in (provider.trust.conditions.get("attributeMapping") or {}).items()}
    if what == "subject":
        source = mapping.get("google.subject", "assertion.sub")
        claim = source.split(".", 1)[1] if source.startswith("assertion.") else None
        if provider.trust.principal_kind != "oidc" or claim is None:
            return SubjectScope(Breadth.PINNED, f"one subject ({value})")
        if claim == "sub":
            return analyze_subject(provider.issuer, value, wildcard=False)
        return claim_scope(provider.issuer, claim, value, wildcard=False)
    if what.startswith("attribute."):
        name = what.split(".", 1)[1]
        source = mapping.get(f"attribute.{name}", f"assertion.{name}")
        claim = source.split(".", 1)[1] if source.startswith("assertion.") else None
        if provider.trust.principal_kind != "oidc":
            return SubjectScope(Breadth.PINNED, f"{what} = {value}")
        if claim is None:
            return None  # a computed attribute: not judged
        return claim_scope(provider.issuer, claim, value, wildcard=False)
    return None


def _pool_members(
    ctx: AnalysisContext,
    identity: Identity,
    pools: dict[str, list[Provider]],
    known: list[tuple[Provider, str | None]],
) -> list[tuple[Provider, str | None]]:
    """Bindings to pool principals for which the collector did not attach provider trusts."""
    members = {m for _, m in known}
    out: list[tuple[Provider, str | None]] = []
    for trust in ctx.trusts(identity.id):
        if trust.principal_kind != "gcp_member" or trust.principal in members:
            continue
        member = parse_member(trust.principal)
        if member.pool is None or not any(p.kind == STRONG for p in powers(trust.actions, ctx.inventory)):
            continue
        out.extend((provider, trust.principal) for provider in pools.get(member.pool, []))
    return out


def _issuer_label(trust: Trust) -> str:
    if trust.principal_kind == "aws":
        account = trust.conditions.get("accountId") or trust.conditions.get("issuer")
        return f"AWS account {account}" if account else "an AWS account"
    if trust.principal_kind == "saml":
        return "a SAML identity provider"
    return issuer_of(str(trust.conditions.get("issuer") or "")).label
