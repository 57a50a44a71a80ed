"""human-usable-nhi: an NHI a person can sign in with, which also holds programmatic secrets."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.model import CredentialKind, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class HumanUsableNhi(Rule):
    meta = RuleMeta(
        id="human-usable-nhi",
        title="NHI usable by a human",
        severity=Severity.HIGH,
        rationale=(
            "An identity with both interactive sign-in (a console password) and programmatic credentials is "
            "either a person's account used by automation or a machine account used by people. Either way "
            "actions can no longer be attributed to a person, MFA and session controls meant for humans do not "
            "protect the keys, and offboarding the person does not revoke the machine's access."
        ),
        remediation=(
            "Split it: give the workload its own identity with only programmatic access (preferably a role or "
            "workload identity), and have people sign in with their own federated identities. Then remove the "
            "console password (or the keys) from this one."
        ),
        owasp_nhi=("NHI10:2025",),
        nist_800_207=("Tenet 4", "Tenet 6"),
        nist_800_53=("AC-2(9)", "IA-2", "AC-2(12)"),
        cis=("CIS AWS v3.0.0 1.11",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            if not identity.human_signin:
                continue
            secrets = ctx.active_programmatic(identity.id)
            if not secrets:
                continue
            passwords = [
                c for c in ctx.credentials(identity.id) if c.kind == CredentialKind.PASSWORD and c.status == "active"
            ]
            password = passwords[0] if passwords else None
            signed_in = ""
            if password is not None and password.last_used is not None:
                signed_in = (
                    f" Someone signed in interactively {ctx.days_since(password.last_used)} days ago "
                    f"({iso(password.last_used)[:10]})."
                )
            names = ", ".join(c.name or c.id for c in secrets)
            yield self.finding(
                ctx,
                identity,
                description=(
                    f"{describe(identity)} has interactive sign-in enabled and {len(secrets)} active programmatic "
                    f"credential{'s' if len(secrets) > 1 else ''} ({names}).{signed_in}"
                ),
                evidence={
                    "interactive_signin": True,
                    "password_last_used": iso(password.last_used) if password else None,
                    "programmatic_credentials": [
                        {"id": c.id, "kind": c.kind.value, "last_used": iso(c.last_used)} for c in secrets
                    ],
                },
            )
