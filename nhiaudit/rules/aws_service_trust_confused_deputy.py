"""aws-service-trust-confused-deputy: a service role without aws:SourceAccount / aws:SourceArn,
for services that support them."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe
from nhiaudit.trust.aws_conditions import SOURCE_KEYS, condition_tests, narrows_principal, pinning_tests
from nhiaudit.trust.aws_trust import confused_deputy_services, grants_assume
from nhiaudit.trust.context import admin_evidence, with_admin_note


class AwsServiceTrustConfusedDeputy(Rule):
    meta = RuleMeta(
        id="aws-service-trust-confused-deputy",
        title="Service role open to the cross-service confused deputy",
        severity=Severity.MEDIUM,
        rationale=(
            "When an AWS service assumes a role on a customer's behalf, it serves every customer. A role trusting "
            "such a service without aws:SourceAccount or aws:SourceArn can be used by the service for a resource "
            "in another account that names the role, so another customer may act with its permissions (the "
            "cross-service confused deputy). Only services that set these keys when they assume a role are "
            "checked (a documented list shipped with nhiaudit: Step Functions, EventBridge Scheduler, CodeBuild, "
            "AWS Config, VPC Flow Logs, ECS tasks, ...). Roles trusting ec2.amazonaws.com, lambda.amazonaws.com "
            "and other services that do not set them are normal and never reported. A condition with a wildcard "
            "account, a negated operator or ...IfExists does not count."
        ),
        remediation=(
            "Add the keys to the statement that trusts the service, naming your own account and, where possible, "
            'the resources that use the role: "Condition": {"StringEquals": {"aws:SourceAccount": '
            '"<your account id>"}, "ArnLike": {"aws:SourceArn": "arn:aws:<service>:<region>:<account>:<resource>"}}. '
            "The evidence links the service's documentation."
        ),
        owasp_nhi=("NHI3:2025", "NHI6:2025"),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("AC-3", "AC-6", "SA-9"),
        providers=("aws",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        supported = confused_deputy_services()
        for identity in ctx.nhis(["aws"]):
            if identity.kind != "aws.role":
                continue
            for trust in ctx.trusts(identity.id):
                service = trust.principal.lower()
                if trust.principal_kind != "service" or service not in supported:
                    continue
                if not grants_assume(trust, "sts:AssumeRole"):
                    continue
                tests = condition_tests(trust.conditions)
                if any(narrows_principal(t) for t in tests if t.key in SOURCE_KEYS):
                    continue
                if pinning_tests(trust.conditions, ["sts:externalid"]):
                    continue  # a few services (Kinesis Firehose, Cognito SMS) use an external id instead
                present = [t.label for t in tests if t.key in SOURCE_KEYS]
                severity = self.meta.severity
                description = (
                    f"{describe(identity)} trusts {trust.principal} ({trust.source}) without pinning "
                    "aws:SourceAccount or aws:SourceArn to your account, so the service can be made to use the "
                    "role for another customer's resource."
                )
                if present:
                    description += " The source condition present narrows nothing: " + "; ".join(present) + "."
                severity, description = with_admin_note(ctx, identity.id, severity, description)
                yield self.finding(
                    ctx,
                    identity,
                    description=description,
                    severity=severity,
                    confidence=Confidence.HIGH,
                    key=service,
                    evidence={
                        "service": trust.principal,
                        "statement": trust.source,
                        "conditions": trust.conditions,
                        "documentation": supported[service],
                        "admin_equivalent": admin_evidence(ctx, identity.id),
                    },
                )
