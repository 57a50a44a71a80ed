"""multiple-active-credentials: more than one active long-lived secret on one identity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from nhiaudit.model import Credential, Finding, Severity
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso


class MultipleActiveCredentials(Rule):
    meta = RuleMeta(
        id="multiple-active-credentials",
        title="Several active credentials on one NHI",
        severity=Severity.MEDIUM,
        rationale=(
            "Two active keys on one identity usually mean a rotation that was never finished, or one identity "
            "shared by several workloads. Either way, one of the secrets is probably forgotten and still valid. "
            "Only user-managed credentials of the same kind are counted."
        ),
        remediation=(
            "Find which workload uses each credential (last-used dates and services in the evidence), move all "
            "of them to one, and deactivate and delete the others. If several workloads share the identity, "
            "give each its own."
        ),
        owasp_nhi=("NHI7:2025", "NHI9:2025"),
        nist_800_207=("Tenet 6",),
        nist_800_53=("IA-5", "AC-2(9)"),
        cis=("CIS AWS v3.0.0 1.13",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            by_kind: dict[str, list[Credential]] = defaultdict(list)
            for cred in ctx.active_programmatic(identity.id):
                if cred.managed_by == "user":
                    by_kind[cred.kind.value].append(cred)
            for kind, creds in sorted(by_kind.items()):
                if len(creds) < 2:
                    continue
                names = ", ".join(c.name or c.id for c in creds)
                yield self.finding(
                    ctx,
                    identity,
                    key=kind,
                    description=(f"{describe(identity)} has {len(creds)} active {kind.replace('_', ' ')}s ({names})."),
                    evidence={
                        "credential_kind": kind,
                        "credentials": [
                            {
                                "id": c.id,
                                "created": iso(c.created),
                                "last_used": iso(c.last_used),
                                "last_used_service": c.last_used_service,
                            }
                            for c in creds
                        ],
                    },
                )
