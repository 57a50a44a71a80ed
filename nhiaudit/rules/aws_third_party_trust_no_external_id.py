"""aws-third-party-trust-no-external-id: a role that an account outside the organization can
assume without presenting an external id."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity, Trust
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.aws_conditions import condition_tests, narrows_principal, pinning_tests
from nhiaudit.trust.aws_trust import grants_assume
from nhiaudit.trust.context import admin_evidence, organization, with_admin_note
from nhiaudit.trust.principals import aws_account_of

ORG_KEYS = ("aws:principalorgid", "aws:principalorgpaths")


class AwsThirdPartyTrustNoExternalId(Rule):
    meta = RuleMeta(
        id="aws-third-party-trust-no-external-id",
        title="Role trusts an outside account without sts:ExternalId",
        severity=Severity.HIGH,
        rationale=(
            "A role whose trust policy admits another AWS account lets that account's principals act in yours. "
            "When the other account belongs to a vendor that serves many customers, the vendor's software can be "
            "tricked into using your role on behalf of another customer (the confused deputy problem) unless the "
            "trust requires the external id the vendor gave you (sts:ExternalId). An account counts as outside "
            "when it is neither scanned nor listed as part of the organization (--org-accounts, or [organization] "
            "accounts in the config file); without that list every other account is treated as outside, with "
            "medium confidence. A trust limited to a named organization (aws:PrincipalOrgID) is not reported. An "
            "external id compared with StringLike '*' or under ...IfExists does not count: it does not have to be "
            "presented."
        ),
        remediation=(
            "Add a Condition requiring the external id the vendor assigned to you, e.g. "
            '"Condition": {"StringEquals": {"sts:ExternalId": "<id from the vendor>"}}, and name the vendor\'s '
            "role ARN instead of its whole account where the vendor documents one. If the account is one of "
            "yours, list it under [organization] accounts (or pass --org-accounts) so it is not reported."
        ),
        owasp_nhi=("NHI3:2025",),
        nist_800_207=("Tenet 2", "Tenet 4", "Tenet 6"),
        nist_800_53=("AC-20", "SA-9", "IA-8"),
        providers=("aws",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        org = organization(ctx)
        for identity in ctx.nhis(["aws"]):
            if identity.kind != "aws.role":
                continue
            outside: dict[str, list[Trust]] = {}
            for trust in ctx.trusts(identity.id):
                if trust.principal_kind not in ("account", "role", "user"):
                    continue
                if not grants_assume(trust, "sts:AssumeRole"):
                    continue
                if org.trust_inside(trust):
                    continue
                if pinning_tests(trust.conditions, ["sts:externalid"]):
                    continue
                if any(narrows_principal(t) for t in condition_tests(trust.conditions) if t.key in ORG_KEYS):
                    continue
                account = aws_account_of(trust.principal) or trust.principal
                outside.setdefault(account, []).append(trust)
            for account, trusts in sorted(outside.items()):
                principals = sorted({t.principal for t in trusts})
                severity, confidence = self.meta.severity, Confidence.HIGH
                where = "outside the organization"
                if not org.listed("aws"):
                    confidence = Confidence.MEDIUM
                    where = "outside the scanned accounts (the organization's accounts were not supplied)"
                description = (
                    f"{describe(identity)} can be assumed from account {account}, {where}, without an external id: "
                    f"its trust policy admits {', '.join(principals)} "
                    f"({', '.join(sorted({t.source or '?' for t in trusts}))})."
                )
                weak = [
                    t.label
                    for trust in trusts
                    for t in condition_tests(trust.conditions)
                    if t.key == "sts:externalid" and not t.pins()
                ]
                if weak:
                    description += f" The external-id condition present does not have to be met: {'; '.join(weak)}."
                severity, description = with_admin_note(ctx, identity.id, severity, description)
                yield self.finding(
                    ctx,
                    identity,
                    description=description,
                    severity=severity,
                    confidence=confidence,
                    key=account,
                    evidence={
                        "account": account,
                        "principals": principals,
                        "statements": [t.source for t in trusts],
                        "conditions": [t.conditions for t in trusts],
                        "organization_known": org.listed("aws"),
                        "admin_equivalent": admin_evidence(ctx, identity.id),
                    },
                )
