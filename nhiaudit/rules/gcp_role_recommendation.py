"""gcp-role-recommendation: the IAM Recommender says a service account's role is unused or too large."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nhiaudit.model import Confidence, Finding, Grant, Severity
from nhiaudit.policy.gcp import is_admin_role_name
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe

OPEN_STATES = frozenset({"ACTIVE", "CLAIMED"})
BROAD_ROLES = frozenset({"roles/owner", "roles/editor"})


class GcpRoleRecommendation(Rule):
    meta = RuleMeta(
        id="gcp-role-recommendation",
        title="IAM Recommender: role unused or larger than needed",
        severity=Severity.MEDIUM,
        rationale=(
            "Google's IAM Recommender compares the permissions of each role binding with the permissions the "
            "service account actually used over the last 90 days (policy insights) and proposes removing the "
            "role (REMOVE_ROLE) or replacing it with smaller ones (REPLACE_ROLE). Every unused permission is "
            "blast radius without benefit. Only open recommendations (active or claimed) whose binding still "
            "exists are reported; dismissed, applied, failed and stale ones are not. Recommendations to remove "
            "a basic or administrator role, or of priority P1, are high severity."
        ),
        remediation=(
            "Review the recommendation (gcloud recommender recommendations describe NAME --location=global "
            "--recommender=google.iam.policy.Recommender --project=PROJECT), then apply it: remove the binding, "
            "or grant the suggested smaller roles and remove the old one. Mark it claimed while you work on it so "
            "others see it is in hand."
        ),
        owasp_nhi=("NHI5:2025",),
        nist_800_207=("Tenet 3", "Tenet 7"),
        nist_800_53=("AC-6", "AC-6(7)"),
        providers=("gcp",),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        grants: dict[str, list[Grant]] = {}
        for grant in ctx.inventory.grants:
            grants.setdefault(grant.identity_id, []).append(grant)
        for identity in ctx.nhis(["gcp"]):
            for rec in identity.attributes.get("recommendations") or []:
                if rec.get("state") not in OPEN_STATES:
                    continue
                binding = self._binding(grants.get(identity.id, []), rec)
                if binding is None:
                    continue  # stale: the binding is already gone
                role = rec["role"]
                replace = rec["subtype"].startswith("REPLACE_ROLE")
                added = rec.get("added_roles") or []
                exercised, granted = rec.get("exercised_permissions"), rec.get("granted_permissions")
                usage = (
                    f" {exercised} of its {granted:,} permissions were used in the observation window."
                    if isinstance(exercised, int) and isinstance(granted, int)
                    else ""
                )
                revoked = rec.get("revoked_permissions")
                if replace:
                    action = f"replacing {role} with {', '.join(added) or 'smaller roles'}"
                else:
                    action = f"removing {role}"
                description = (
                    f"IAM Recommender suggests {action} for {describe(identity)} on {rec.get('resource')}.{usage}"
                    + (f" Applying it revokes {revoked:,} permissions." if isinstance(revoked, int) else "")
                    + (f" (refreshed {rec['last_refresh'][:10]})" if rec.get("last_refresh") else "")
                )
                broad = role in BROAD_ROLES or is_admin_role_name(role) or rec.get("priority") == "P1"
                yield self.finding(
                    ctx,
                    identity,
                    key=f"{rec['subtype']}|{role}|{rec.get('resource')}",
                    severity=Severity.HIGH if broad else self.meta.severity,
                    confidence=Confidence.HIGH,
                    description=description,
                    evidence=self._evidence(rec, binding),
                )

    @staticmethod
    def _binding(grants: list[Grant], rec: dict[str, Any]) -> Grant | None:
        for grant in grants:
            if grant.policy_id != rec.get("role") or grant.scope != rec.get("resource"):
                continue
            expression = (grant.condition or {}).get("expression") if isinstance(grant.condition, dict) else None
            if (expression or None) == (rec.get("condition") or None):
                return grant
        return None

    @staticmethod
    def _evidence(rec: dict[str, Any], grant: Grant) -> dict[str, Any]:
        return {
            "recommendation": rec.get("name"),
            "subtype": rec.get("subtype"),
            "role": rec.get("role"),
            "suggested_roles": rec.get("added_roles") or [],
            "resource": rec.get("resource"),
            "condition": grant.condition,
            "state": rec.get("state"),
            "priority": rec.get("priority"),
            "last_refresh": rec.get("last_refresh"),
            "observation_days": rec.get("observation_days"),
            "revoked_permissions": rec.get("revoked_permissions"),
            "exercised_permissions": rec.get("exercised_permissions"),
            "granted_permissions": rec.get("granted_permissions"),
            "source": "IAM Recommender (google.iam.policy.Recommender)",
        }
