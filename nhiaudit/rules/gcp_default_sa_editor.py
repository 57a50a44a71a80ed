"""gcp-default-sa-editor: a Compute Engine or App Engine default service account holds Editor or Owner."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe

BASIC_ROLES = {"roles/editor": "Editor", "roles/owner": "Owner"}
DEFAULT_KINDS = {"compute": "Compute Engine default", "appengine": "App Engine default"}
CONTAINERS = ("projects/", "folders/", "organizations/")


class GcpDefaultSaEditor(Rule):
    meta = RuleMeta(
        id="gcp-default-sa-editor",
        title="Default service account holds a basic role",
        severity=Severity.HIGH,
        rationale=(
            "Google creates the Compute Engine and App Engine default service accounts in every project and, "
            "unless the organization policy iam.automaticIamGrantsForDefaultServiceAccounts is enforced, grants "
            "them Editor on the project. Every VM, function or app created without an explicit service account "
            "runs as them, so any code execution on any such workload gets write access to nearly every service "
            "in the project (CIS GCP 4.1 / 4.2 are about instances using these accounts; this rule reports the "
            "grant that makes it dangerous). A disabled default account is reported with low severity."
        ),
        remediation=(
            "Remove roles/editor (or roles/owner) from the default service account, give each workload its own "
            "service account with only the roles it needs, and enforce the organization policy constraint "
            "iam.automaticIamGrantsForDefaultServiceAccounts so that new projects do not get the grant again."
        ),
        owasp_nhi=("NHI5:2025", "NHI9:2025"),
        nist_800_207=("Tenet 3", "Tenet 6"),
        nist_800_53=("AC-6", "AC-6(5)", "CM-6"),
        cis=("CIS GCP v4.0.0 4.1", "CIS GCP v4.0.0 4.2", "CIS GCP v4.0.0 1.5"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        grants = {}
        for grant in ctx.inventory.grants:
            if grant.policy_id in BASIC_ROLES and (grant.scope or "").startswith(CONTAINERS):
                grants.setdefault(grant.identity_id, []).append(grant)
        for identity in ctx.nhis(["gcp"]):
            kind = identity.attributes.get("default")
            if kind not in DEFAULT_KINDS or identity.id not in grants:
                continue
            held = grants[identity.id]
            unconditional = [g for g in held if not g.condition]
            shown = unconditional or held
            roles = ", ".join(dict.fromkeys(f"{g.policy_id} on {g.scope}" for g in shown))
            severity, confidence = self.meta.severity, Confidence.HIGH
            notes = ""
            if not unconditional:
                severity, confidence = severity.lowered(), Confidence.MEDIUM
                notes += " The binding is conditional, so narrower than shown."
            if identity.disabled:
                severity = Severity.LOW
                notes += " The account is disabled, so the grant is dormant until someone re-enables it."
            yield self.finding(
                ctx,
                identity,
                severity=severity,
                confidence=confidence,
                description=(
                    f"{describe(identity)} is the {DEFAULT_KINDS[kind]} service account and holds {roles}: every "
                    f"workload created without its own service account runs with these rights.{notes}"
                ),
                evidence={
                    "default_service_account": kind,
                    "bindings": [{"role": g.policy_id, "scope": g.scope, "condition": g.condition} for g in held],
                    "disabled": identity.disabled,
                },
            )
