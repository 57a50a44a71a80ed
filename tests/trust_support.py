"""Helpers for the trust tests: run chosen rules on an inventory, and a fixed EffectiveAccess for
providers whose policy engine is not part of this test (the GCP and Azure engines live elsewhere)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from nhiaudit.model import Finding, Inventory
from nhiaudit.policy.effective import AdminVerdict, EffectiveAccess, PermissionGrant
from nhiaudit.policy.engine import evaluate_inventory
from nhiaudit.rules import get_rule
from nhiaudit.rules.base import AnalysisContext
from nhiaudit.settings import Settings

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass
class FixedAccess(EffectiveAccess):
    """A provider-neutral access result given as data: a permission list and an optional admin verdict."""

    granted: tuple[str, ...] = ()
    levels: dict[str, int] = field(default_factory=dict)

    def allows(self, permission: str) -> PermissionGrant | None:
        return PermissionGrant(permission, ("fixture",)) if permission in self.granted else None

    def allows_all(self, permissions: Iterable[str]) -> bool:
        return all(p in self.granted for p in permissions)

    def permission_count(self) -> int:
        return len(self.granted)

    def catalog_size(self) -> int | None:
        return None

    def services(self) -> list[str]:
        return sorted({p.split(".")[0].split(":")[0] for p in self.granted})

    def permissions(self) -> Iterator[str]:
        return iter(self.granted)

    def level_counts(self) -> dict[str, int]:
        return dict(self.levels)


def admin(provider: str, identity_id: str, role: str = "Owner") -> FixedAccess:
    verdict = AdminVerdict(level="full", reason=f"holds {role} on the whole scope", policies=(role,))
    return FixedAccess(provider=provider, identity_id=identity_id, admin=verdict, granted=("*",))


def context(
    inventory: Inventory, settings: Settings | None = None, access: dict[str, EffectiveAccess] | None = None
) -> AnalysisContext:
    """Engines evaluate what they can; ``access`` adds or overrides per identity."""
    evaluated, _ = evaluate_inventory(inventory)
    evaluated.update(access or {})
    return AnalysisContext(inventory=inventory, settings=settings or Settings(), as_of=AS_OF, access=evaluated)


def run(ctx: AnalysisContext, *rule_ids: str) -> list[Finding]:
    findings: list[Finding] = []
    for rule_id in rule_ids:
        rule = get_rule(rule_id)
        assert rule is not None, rule_id
        findings.extend(rule.check(ctx))
    return findings


def by_identity(findings: list[Finding], rule_id: str) -> dict[str, Finding]:
    """identity name -> finding (asserting one finding of the rule per identity)."""
    out: dict[str, Finding] = {}
    for f in findings:
        if f.rule_id == rule_id:
            assert f.identity_name not in out, f"two {rule_id} findings for {f.identity_name}"
            out[f.identity_name] = f
    return out
