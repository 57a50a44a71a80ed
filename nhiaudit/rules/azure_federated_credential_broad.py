"""azure-federated-credential-broad: a federated identity credential whose issuer and subject (or
claims-matching expression) admit more than one workload."""

from __future__ import annotations

import re
from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.context import admin_evidence, with_admin_note
from nhiaudit.trust.oidc import BREADTH_SEVERITY, Breadth, SubjectScope, analyze_subject, issuer_of

EXCHANGE_AUDIENCE = "api://azureadtokenexchange"
MATCHES_RE = re.compile(r"claims\[\s*['\"]sub['\"]\s*\]\s+matches\s+(['\"])(.*?)\1", re.IGNORECASE)


class AzureFederatedCredentialBroad(Rule):
    meta = RuleMeta(
        id="azure-federated-credential-broad",
        title="Federated identity credential admits more than one workload",
        severity=Severity.HIGH,
        rationale=(
            "A federated identity credential lets tokens from an outside issuer sign in as the application or "
            "managed identity when issuer, subject and audience match. The subject is compared exactly, so the "
            "breadth comes from what the subject names: 'repo:ORG/REPO:pull_request' admits every pull request, "
            "a subject without a branch or environment (possible with GitHub's customized subject templates) "
            "every workflow of the repository, 'repository_owner:ORG' every repository of the organization. "
            'Flexible credentials with a claims-matching expression (\'claims["sub"] matches "repo:ORG/*"\') '
            "are judged by their pattern. An audience other than api://AzureADTokenExchange lets tokens minted "
            "for another relying party (an AWS role, say) be replayed here (medium). Pinning a repository and a "
            "branch or deployment environment, a Terraform workspace, or a Kubernetes service account is clean."
        ),
        remediation=(
            "Use one credential per workload with a subject naming one repository and one branch or deployment "
            "environment (repo:ORG/REPO:environment:production), keep the audience api://AzureADTokenExchange, "
            "and protect the deployment environment with required reviewers."
        ),
        owasp_nhi=("NHI6:2025", "NHI9:2025"),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("IA-9", "IA-8", "AC-3"),
        providers=("azure",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis(["azure"]):
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind == "azure_federated":
                    finding = self._judge(ctx, identity, trust)
                    if finding is not None:
                        yield finding

    def _judge(self, ctx: AnalysisContext, identity: Identity, trust: Trust) -> Finding | None:
        conditions = trust.conditions or {}
        issuer = issuer_of(str(conditions.get("issuer") or trust.principal))
        scope = _scope(conditions, issuer_url=str(conditions.get("issuer") or trust.principal))
        problems: list[str] = []
        severity: Severity | None = None
        if scope.breadth >= Breadth.ANY_REF:
            severity = BREADTH_SEVERITY[scope.breadth]
            if scope.breadth == Breadth.ANY and not issuer.multi_tenant:
                severity = Severity.HIGH
            problems.append(scope.explanation)
        audiences = [str(a) for a in conditions.get("audiences") or []]
        odd = [a for a in audiences if a.lower() != EXCHANGE_AUDIENCE]
        if odd:
            problems.append(
                f"audience {', '.join(odd)} instead of api://AzureADTokenExchange: tokens minted for that relying "
                "party are accepted here too"
            )
            if severity is None or severity.rank < Severity.MEDIUM.rank:
                severity = Severity.MEDIUM
        if severity is None:
            return None
        name = trust.source or conditions.get("name") or trust.principal
        description = (
            f"{describe(identity)} accepts tokens from {issuer.label} through federated credential {name}: "
            f"{'; '.join(problems)}."
        )
        severity, description = with_admin_note(ctx, identity.id, severity, description)
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=Confidence.HIGH,
            key=f"{name}#{conditions.get('subject')}",
            evidence={
                "credential": name,
                "issuer": conditions.get("issuer") or trust.principal,
                "subject": conditions.get("subject"),
                "claims_matching_expression": conditions.get("claimsMatchingExpression"),
                "audiences": audiences,
                "breadth": scope.breadth.name.lower(),
                "problems": problems,
                "admin_equivalent": admin_evidence(ctx, identity.id),
            },
        )


def _scope(conditions: dict[str, object], issuer_url: str) -> SubjectScope:
    issuer = issuer_of(issuer_url)
    expression = conditions.get("claimsMatchingExpression")
    if isinstance(expression, dict):
        expression = expression.get("value")
    if isinstance(expression, str) and expression.strip():
        match = MATCHES_RE.search(expression)
        if match is None:
            return SubjectScope(Breadth.ANY, f"claims-matching expression {expression!r} does not constrain sub")
        return analyze_subject(issuer, match.group(2), wildcard=True)
    subject = conditions.get("subject")
    return analyze_subject(issuer, str(subject) if subject else None, wildcard=False)
