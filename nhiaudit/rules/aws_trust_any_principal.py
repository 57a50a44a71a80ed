"""aws-trust-any-principal: a role whose trust policy admits every AWS principal."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.aws_conditions import WEAK_NARROWING_KEYS, condition_tests, narrows_principal
from nhiaudit.trust.aws_trust import grants_assume, statement_label
from nhiaudit.trust.context import admin_evidence, with_admin_note


class AwsTrustAnyPrincipal(Rule):
    meta = RuleMeta(
        id="aws-trust-any-principal",
        title='Role trusts any AWS principal ("Principal": "*")',
        severity=Severity.CRITICAL,
        rationale=(
            'A trust policy with "Principal": "*" or {"AWS": "*"} (or an Allow with NotPrincipal) lets a principal '
            "in any AWS account, including accounts anyone can open, call sts:AssumeRole on the role. Only a "
            "condition that pins who the caller is narrows it: aws:PrincipalOrgID / aws:PrincipalOrgPaths, "
            "aws:PrincipalAccount, or aws:PrincipalArn / aws:SourceArn naming a specific account. Conditions on "
            "the network, tags or a shared external id make the role harder to use but not private (high "
            "instead of critical); negated operators, ...IfExists on keys that can be absent, and '*' patterns "
            "narrow nothing."
        ),
        remediation=(
            "Name the accounts or role ARNs that should assume the role in Principal, or keep the wildcard and "
            'add a Condition pinning the caller, e.g. "Condition": {"StringEquals": {"aws:PrincipalOrgID": '
            '"o-xxxxxxxxxx"}}.'
        ),
        owasp_nhi=("NHI3:2025", "NHI5:2025"),
        nist_800_207=("Tenet 2", "Tenet 4", "Tenet 6"),
        nist_800_53=("AC-3", "AC-20", "AC-6"),
        cis=("CIS AWS v7.0.0 2.21",),
        providers=("aws",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis(["aws"]):
            if identity.kind != "aws.role":
                continue
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind != "any" or not grants_assume(trust):
                    continue
                tests = condition_tests(trust.conditions)
                if any(narrows_principal(t) for t in tests):
                    continue
                weak = [t for t in tests if t.key in WEAK_NARROWING_KEYS and t.pins()]
                ignored = [t for t in tests if t not in weak]
                severity = self.meta.severity if not weak else Severity.HIGH
                description = (
                    f"{describe(identity)} can be assumed by any AWS principal in any account: trust policy "
                    f'{statement_label(trust)} allows {", ".join(trust.actions)} to Principal "*"'
                )
                if weak:
                    description += (
                        ", narrowed only by conditions that do not say who the caller is ("
                        + "; ".join(t.label for t in weak)
                        + ")"
                    )
                else:
                    description += " with no condition that pins the caller"
                description += "."
                if ignored:
                    description += " Conditions that narrow nothing: " + "; ".join(t.label for t in ignored) + "."
                severity, description = with_admin_note(ctx, identity.id, severity, description)
                yield self.finding(
                    ctx,
                    identity,
                    description=description,
                    severity=severity,
                    confidence=Confidence.HIGH,
                    key=trust.source,
                    evidence={
                        "statement": trust.source,
                        "actions": trust.actions,
                        "conditions": trust.conditions,
                        "weak_conditions": [t.label for t in weak],
                        "ignored_conditions": [t.label for t in ignored],
                        "admin_equivalent": admin_evidence(ctx, identity.id),
                    },
                )
