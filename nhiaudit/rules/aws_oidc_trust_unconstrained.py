"""aws-oidc-trust-unconstrained: a role federated to an OIDC provider (GitHub Actions, GitLab,
Terraform Cloud, EKS, Cognito, ...) whose trust does not pin the workload."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Identity, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.aws_conditions import ConditionTest, condition_tests, has_wildcard, key_tests
from nhiaudit.trust.aws_trust import grants_assume
from nhiaudit.trust.context import admin_evidence, with_admin_note
from nhiaudit.trust.oidc import BREADTH_SEVERITY, Breadth, Issuer, SubjectScope, analyze_subject, claim_scope, issuer_of

CONTEXT_CLAIMS = frozenset({"ref", "environment", "workflow_ref", "job_workflow_ref"})
"""Claims that pin the branch, environment or workflow once the repository is pinned."""


class AwsOidcTrustUnconstrained(Rule):
    meta = RuleMeta(
        id="aws-oidc-trust-unconstrained",
        title="Role federated to an OIDC provider without a narrow subject condition",
        severity=Severity.CRITICAL,
        rationale=(
            "A role that trusts an OIDC identity provider (sts:AssumeRoleWithWebIdentity) accepts any token the "
            "provider signs for the right audience. For GitHub Actions, GitLab.com, Terraform Cloud and Cognito "
            "the provider signs tokens for everyone who uses the service, so without a condition on the subject "
            "(sub) claim any repository, project or identity pool in the world can assume the role. Subject "
            "patterns are judged by what they admit, with the operator's semantics: StringLike "
            "'repo:acme/*' admits every repository of the organization, 'repo:acme*' also organizations named "
            "acme-anything, 'repo:acme/app:*' every branch and pull request; StringEquals compares literally. "
            "Severity follows the breadth: any subject or other organizations critical, a whole organization "
            "high, any branch of one repository or a set of repositories medium; a missing audience (aud) "
            "condition alone is low (the provider's client-id list still applies), and a Cognito trust without "
            "an identity-pool audience is critical. Pinning a repository and a branch or environment is the "
            "clean pattern. Severity is raised one step when the role is, or can become, admin-equivalent."
        ),
        remediation=(
            "Add StringEquals conditions on the audience and the subject, e.g. for GitHub Actions "
            '"token.actions.githubusercontent.com:aud": "sts.amazonaws.com" and '
            '"token.actions.githubusercontent.com:sub": "repo:ORG/REPO:environment:production" (or '
            '"repo:ORG/REPO:ref:refs/heads/main"); for GitLab "project_path:GROUP/PROJECT:ref_type:branch:ref:main"; '
            'for Terraform Cloud "organization:ORG:project:PROJECT:workspace:WS:run_phase:apply"; for EKS '
            '"system:serviceaccount:NAMESPACE:NAME". Use StringLike only for the part that must vary.'
        ),
        owasp_nhi=("NHI6:2025", "NHI3:2025"),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("IA-9", "AC-3", "IA-8"),
        providers=("aws",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis(["aws"]):
            if identity.kind != "aws.role":
                continue
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "oidc" or not grants_assume(trust):
                    continue
                finding = self._judge(ctx, identity, trust)
                if finding is not None:
                    yield finding

    def _judge(self, ctx: AnalysisContext, identity: Identity, trust: Trust) -> Finding | None:
        issuer = issuer_of(trust.principal)
        prefix = issuer.host.lower()
        problems: list[str] = []
        severity: Severity | None = None
        scope = _subject_scope(issuer, key_tests(trust.conditions, f"{prefix}:sub"))
        scope = _narrowed_by_claims(issuer, prefix, trust, scope)
        aud_tests = [t for t in key_tests(trust.conditions, f"{prefix}:aud") if t.pins(always_present=True)]
        if issuer.platform == "cognito":
            if not aud_tests:
                scope = SubjectScope(
                    Breadth.ANY,
                    "no cognito-identity.amazonaws.com:aud condition: identities of any Cognito identity pool, in "
                    "any account, can assume the role",
                )
            elif scope.breadth == Breadth.ANY:
                scope = SubjectScope(Breadth.PINNED, "audience pins the identity pool")
            amr = key_tests(trust.conditions, f"{prefix}:amr")
            if any(t.matches("unauthenticated") for t in amr if t.pins(always_present=True)):
                problems.append("unauthenticated (guest) Cognito identities are admitted")
        if scope.breadth >= Breadth.ANY_REF:
            severity = BREADTH_SEVERITY[scope.breadth]
            if scope.breadth == Breadth.ANY and not issuer.multi_tenant:
                severity = Severity.HIGH
            problems.insert(0, scope.explanation)
        if not aud_tests and issuer.platform != "cognito":
            problems.append(f"no {prefix}:aud condition (any audience the provider's client-id list accepts)")
            severity = severity or Severity.LOW
        if severity is None and not problems:
            return None
        severity = severity or Severity.LOW
        description = f"{describe(identity)} trusts {issuer.label} ({trust.source}): {'; '.join(problems)}."
        severity, description = with_admin_note(ctx, identity.id, severity, description)
        return self.finding(
            ctx,
            identity,
            description=description,
            severity=severity,
            confidence=Confidence.HIGH,
            key=f"{trust.principal}#{trust.source}",
            evidence={
                "provider": trust.principal,
                "issuer": issuer.host,
                "platform": issuer.platform,
                "multi_tenant_issuer": issuer.multi_tenant,
                "statement": trust.source,
                "conditions": trust.conditions,
                "breadth": scope.breadth.name.lower(),
                "subject": scope.explanation,
                "problems": problems,
                "admin_equivalent": admin_evidence(ctx, identity.id),
            },
        )


def _narrowed_by_claims(issuer: Issuer, prefix: str, trust: Trust, scope: SubjectScope) -> SubjectScope:
    """Other claim keys in the same statement (repository, repository_owner, job_workflow_ref, where STS
    supports them) are ANDed with the subject: the narrowest wins."""
    best = scope
    context: list[str] = []
    for test in condition_tests(trust.conditions):
        claim = test.key[len(prefix) + 1 :] if test.key.startswith(f"{prefix}:") else None
        if claim in (None, "sub", "aud", "amr") or not test.pins(always_present=True):
            continue
        if claim in CONTEXT_CLAIMS and not (test.wildcard and any(has_wildcard(v) for v in test.values)):
            context.append(test.label)
            continue
        scopes = [claim_scope(issuer, claim, v, wildcard=test.wildcard) for v in test.values]
        if any(s is None for s in scopes):
            continue
        worst = max((s for s in scopes if s is not None), key=lambda s: s.breadth)
        if worst.breadth < best.breadth:
            best = worst
    if best.breadth == Breadth.ANY_REF and best.repository and context:
        explanation = f"{best.explanation}, and {'; '.join(context)}"
        return SubjectScope(Breadth.PINNED, explanation, best.owner, best.repository)
    return best


def _subject_scope(issuer: Issuer, tests: list[ConditionTest]) -> SubjectScope:
    """Conditions on one key are ANDed, values within one are ORed: the narrowest test decides,
    and within it the broadest value."""
    pinning = [t for t in tests if t.pins(always_present=True)]
    if not pinning:
        negated = [t.label for t in tests if t.negated]
        if negated:
            return SubjectScope(Breadth.ANY, f"the only subject conditions exclude values ({'; '.join(negated)})")
        if tests:
            return SubjectScope(Breadth.ANY, f"subject condition {tests[0].label} admits every subject")
        return analyze_subject(issuer, None, wildcard=False)
    best: SubjectScope | None = None
    for test in pinning:
        worst = max(
            (analyze_subject(issuer, v, wildcard=test.wildcard) for v in test.values),
            key=lambda s: s.breadth,
        )
        if best is None or worst.breadth < best.breadth:
            best = worst
    assert best is not None
    return best
