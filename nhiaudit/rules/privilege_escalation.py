"""privilege-escalation: an NHI holding a known combination of permissions that escalates."""

from __future__ import annotations

from collections.abc import Iterator

from nhiaudit.catalogs.privesc import CATEGORY_RANK, PrivescPath, load_paths, required_groups
from nhiaudit.model import Confidence, Finding, Severity
from nhiaudit.policy.effective import EffectiveAccess, PermissionGrant
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe

WEAK_PATHS = frozenset({"sts-001"})
"""Paths that escalate only if some other principal's trust admits this one (see trust rules)."""


class PrivilegeEscalation(Rule):
    meta = RuleMeta(
        id="privilege-escalation",
        title="NHI can escalate its own privileges",
        severity=Severity.HIGH,
        rationale=(
            "Some permission combinations let an identity gain more privilege than it was given: change its "
            "own policies, create credentials for other principals, or pass a privileged role to compute it "
            "controls. Such an identity is effectively as privileged as what it can reach. Paths come from "
            "pathfinding.cloud (AWS) and Rhino Security Labs' GCP IAM privilege-escalation research (GCP); "
            "permissions granted only under conditions or on specific resources (a GCP role bound on one "
            "service account rather than the project) are "
            "reported with lower severity and confidence, and self-service grants limited to the identity "
            "itself (${aws:username}) do not count as reaching other principals."
        ),
        remediation=(
            "Remove the escalation permissions listed in the evidence, or scope them to specific resources "
            "that cannot lead to more privilege (for iam:PassRole, name the roles and add an "
            "iam:PassedToService condition; on GCP, bind iam.serviceAccountUser / Token Creator on the one "
            "service account needed instead of the project). Admin-equivalent identities are reported by "
            "admin-equivalent instead."
        ),
        owasp_nhi=("NHI5:2025",),
        nist_800_207=("Tenet 3", "Tenet 6"),
        nist_800_53=("AC-6", "AC-6(1)", "AC-6(10)"),
        cis=("CIS GCP v4.0.0 1.5",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        for identity in ctx.nhis():
            access = ctx.access.get(identity.id)
            if access is None or (access.admin is not None and access.admin.account_wide):
                continue
            paths = load_paths(identity.provider)
            held = access.allows_each(required_groups(identity.provider))
            matches = [m for m in (self._match(access, p) for p, ok in zip(paths, held, strict=True) if ok) if m]
            if not matches:
                continue
            matches.sort(key=lambda m: (m[2], CATEGORY_RANK.get(m[0].category, 9), m[0].id))
            strong = [m for m in matches if not m[2] and m[0].id not in WEAK_PATHS]
            if strong:
                severity, confidence = self.meta.severity, Confidence.HIGH
            elif any(m[0].id not in WEAK_PATHS for m in matches):
                severity, confidence = Severity.MEDIUM, Confidence.MEDIUM
            else:
                severity, confidence = Severity.LOW, Confidence.LOW
            first_path, first_grants, _ = matches[0]
            policies = sorted({p for g in first_grants for p in g.policies})
            description = (
                f"{describe(identity)} can escalate privileges through {len(matches)} known path"
                f"{'s' if len(matches) > 1 else ''}; for example {first_path.id}: it "
                f"{first_path.description}, granted by {', '.join(policies)}."
            )
            if not strong:
                description += " Every path is narrowed by conditions or resource scoping, or needs a role trust."
            yield self.finding(
                ctx,
                identity,
                description=description,
                severity=severity,
                confidence=confidence,
                evidence={
                    "paths": [
                        {
                            "id": path.id,
                            "category": path.category,
                            "description": path.description,
                            "reference": path.reference,
                            "permissions": {g.permission: list(g.policies) for g in grants},
                            "narrowed": narrowed,
                            "narrowing": "; ".join(f"{g.permission} {g.narrowing()}" for g in grants if g.narrowed),
                        }
                        for path, grants, narrowed in matches
                    ],
                },
            )

    @staticmethod
    def _match(access: EffectiveAccess, path: PrivescPath) -> tuple[PrivescPath, list[PermissionGrant], bool] | None:
        grants = [access.allows(p) for p in path.required]
        if any(g is None for g in grants):
            return None
        checked = [g for g in grants if g is not None]
        if path.category == "principal-access" and any(g.self_only for g in checked):
            return None  # managing one's own keys or password reaches no other principal
        return path, checked, any(g.narrowed for g in checked)
