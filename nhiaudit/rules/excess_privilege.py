"""excess-privilege: granted services and actions an NHI has not used within the window.

Cross-cloud: it reads the effective permissions (``EffectiveAccess.permissions()``, grouped by
``service_of``) and ``Usage`` records with ``target_kind`` "service" / "action", whatever
telemetry produced them. The formula of the index is in docs/excess-privilege.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from nhiaudit.model import Confidence, Finding, Identity, Severity, Usage
from nhiaudit.policy.effective import EffectiveAccess
from nhiaudit.rules.base import AnalysisContext, Rule, RuleMeta, describe, iso, source_label

SHOWN_IN_TEXT = 8
"""Unused services named in the description; the evidence lists all of them."""
MAX_ACTIONS_IN_EVIDENCE = 200


@dataclass
class ServiceVerdict:
    service: str
    granted: int
    state: str  # used | unused | unknown
    last_used: datetime | None = None
    sources: set[str] = field(default_factory=set)
    unused: int = 0
    """Granted permissions of this service with evidence of no use in the window."""
    unused_actions: list[str] = field(default_factory=list)
    """For a service in use: the granted actions with action-level evidence of no use."""
    unobservable: list[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class ExcessMeasure:
    """Granted versus used for one identity."""

    services: list[ServiceVerdict]
    granted: int
    unused: int
    covered: int

    @property
    def index(self) -> int:
        return round(100 * self.unused / self.granted) if self.granted else 0

    @property
    def coverage(self) -> float:
        return self.covered / self.granted if self.granted else 0.0

    def of_state(self, state: str) -> list[ServiceVerdict]:
        return [s for s in self.services if s.state == state]


def _covers(record: Usage, cutoff: datetime, created: datetime | None) -> bool:
    """A record without any use says 'unused in the window' only if it observed the whole window."""
    start = record.window_start or created
    return start is not None and start <= cutoff


def _judge(records: list[Usage], cutoff: datetime, created: datetime | None) -> tuple[str, datetime | None, str]:
    """used / unused / unknown, the latest use, and why (for unknown)."""
    times = [r.last_used for r in records if r.last_used is not None]
    latest = max(times) if times else None
    if latest is not None and latest >= cutoff:
        return "used", latest, ""
    if latest is not None:
        return "unused", latest, ""
    if any(_covers(r, cutoff, created) for r in records):
        return "unused", None, ""
    return "unknown", None, "the evidence window is shorter than the threshold"


def measure(
    access: EffectiveAccess,
    service_records: list[Usage],
    action_records: list[Usage],
    *,
    cutoff: datetime,
    created: datetime | None,
) -> ExcessMeasure:
    """Judge every granted service (and, for services in use, every action with action-level evidence)."""
    by_service: dict[str, list[Usage]] = defaultdict(list)
    for rec in service_records:
        if rec.target:
            by_service[rec.target.lower()].append(rec)
    by_action: dict[str, list[Usage]] = defaultdict(list)
    for rec in action_records:
        if rec.target:
            by_action[rec.target.lower()].append(rec)

    verdicts: list[ServiceVerdict] = []
    unused_total = covered = granted_total = 0
    for service, count in sorted(access.service_counts().items()):
        granted_total += count
        records = by_service.get(service)
        if not records:
            verdicts.append(ServiceVerdict(service, count, "unknown", reason="no usage evidence for this service"))
            continue
        state, latest, reason = _judge(records, cutoff, created)
        verdict = ServiceVerdict(service, count, state, latest, {r.source for r in records}, reason=reason)
        verdicts.append(verdict)
        if state == "unknown":
            continue
        if state == "unused":
            hidden = dict.fromkeys(p for r in records for p in r.unobservable)
            verdict.unobservable = [p for p in hidden if access.allows_all([p])]
            verdict.unused = count - len(verdict.unobservable)
        elif any(a.startswith(f"{service}:") for a in by_action):
            for perm in access.permissions_in(service):
                action_recs = by_action.get(perm.lower())
                if action_recs and _judge(action_recs, cutoff, created)[0] == "unused":
                    verdict.unused_actions.append(perm)
                    verdict.sources.update(r.source for r in action_recs)
            verdict.unused = len(verdict.unused_actions)
        covered += count - len(verdict.unobservable)
        unused_total += verdict.unused
    return ExcessMeasure(verdicts, granted_total, unused_total, covered)


def _names(items: list[str]) -> str:
    more = len(items) - SHOWN_IN_TEXT
    return ", ".join(items[:SHOWN_IN_TEXT]) + (f" and {more} more" if more > 0 else "")


def _show(n: int) -> str:
    return "shows" if n == 1 else "show"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


class ExcessPrivilege(Rule):
    meta = RuleMeta(
        id="excess-privilege",
        title="NHI holds permissions it does not use",
        severity=Severity.MEDIUM,
        rationale=(
            "Every permission an identity holds but does not use widens the blast radius of a leaked credential "
            "or a compromised workload for no benefit. The rule compares the effective permissions (after denies "
            "and boundaries) with usage evidence from the provider's telemetry (AWS IAM Access Advisor and IAM "
            "Access Analyzer unused-access findings; GCP and Azure activity where collected) and lists the "
            "granted services and actions with no use within the window. The excess-privilege index (0-100) is "
            "the share of granted permissions with evidence of no use; permissions without evidence count as "
            "used, so the index is a lower bound, and the evidence coverage sets the confidence. Permissions a "
            "source cannot observe (iam:PassRole for Access Advisor) are never called unused. Identities younger "
            "than the window are not judged, and identities with no activity at all are left to identity-unused. "
            "Severity is high when an admin-equivalent identity leaves at least half of its access unused, medium "
            "from an index of 50, low below. The formula: docs/excess-privilege.md."
        ),
        remediation=(
            "Remove the unused services and actions listed in the evidence from the identity's policies or role "
            "bindings, or replace broad grants with a policy generated from its actual use (on AWS: IAM Access "
            "Analyzer policy generation from CloudTrail; on GCP: the IAM recommender). Re-check after one "
            "tracking window."
        ),
        owasp_nhi=("NHI5:2025",),
        nist_800_207=("Tenet 3", "Tenet 4", "Tenet 6"),
        nist_800_53=("AC-6", "AC-6(7)"),
        settings=("permission_unused_days", "excess_privilege_min_index"),
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        days = ctx.settings.permission_unused_days
        cutoff = ctx.as_of - timedelta(days=days)
        for identity in ctx.nhis():
            if identity.disabled:
                continue
            service_records = ctx.usage(identity.id, "service")
            access = ctx.access.get(identity.id)
            if not service_records or access is None or access.permission_count() == 0:
                continue
            age = ctx.days_since(identity.created)
            if age is not None and age < days:
                continue  # grace period: too young to have left anything unused for the whole window
            if self._wholly_unused(ctx, identity):
                continue  # identity-unused reports it: remove the identity, not some of its permissions
            actions = ctx.usage(identity.id, "action") + ctx.usage(identity.id, "permission")
            result = measure(access, service_records, actions, cutoff=cutoff, created=identity.created)
            if result.unused == 0 or result.index < ctx.settings.excess_privilege_min_index:
                continue
            yield self._finding(ctx, identity, access, result, days)

    @staticmethod
    def _wholly_unused(ctx: AnalysisContext, identity: Identity) -> bool:
        if "identity-unused" in ctx.settings.disabled_rules or (
            ctx.rules_run is not None and "identity-unused" not in ctx.rules_run
        ):
            return False  # nobody else would report it
        records = ctx.usage(identity.id, "identity")
        if not records:
            return False
        cutoff = ctx.as_of - timedelta(days=ctx.settings.identity_unused_days)
        return _judge(records, cutoff, identity.created)[0] == "unused"

    def _finding(
        self, ctx: AnalysisContext, identity: Identity, access: EffectiveAccess, result: ExcessMeasure, days: int
    ) -> Finding:
        unused_services = [s for s in result.of_state("unused") if s.unused]
        used_services = result.of_state("used")
        partly = [s for s in used_services if s.unused_actions]
        unknown = result.of_state("unknown")
        admin = access.admin is not None
        severity = (Severity.HIGH if admin else Severity.MEDIUM) if result.index >= 50 else Severity.LOW
        coverage = result.coverage
        confidence = Confidence.HIGH if coverage >= 0.9 else Confidence.MEDIUM if coverage >= 0.5 else Confidence.LOW
        if access.incomplete and confidence != Confidence.LOW:
            confidence = Confidence.MEDIUM if confidence == Confidence.HIGH else Confidence.LOW

        granted_services = len(result.services)
        parts = []
        if unused_services and used_services and len(unused_services) > len(used_services):
            # mostly unused: naming what it does use is shorter and more useful
            parts.append(
                f"it used only {len(used_services)} of its {granted_services} granted services in the last {days} "
                f"days ({_names([s.service for s in used_services]) or 'none'}); {len(unused_services)} show no use"
            )
        elif unused_services:
            n = len(unused_services)
            parts.append(
                f"{_count(n, 'granted service')} of {granted_services} {_show(n)} no use in the last {days} days "
                f"({_names([s.service for s in unused_services])})"
            )
        if partly:
            count = sum(len(s.unused_actions) for s in partly)
            parts.append(
                f"{_count(count, 'granted action')} of services it does use {_show(count)} no use "
                f"({_names([a for s in partly for a in s.unused_actions])})"
            )
        unobservable = sorted({p for s in result.services for p in s.unobservable})
        sources = sorted({src for s in result.services for src in s.sources})
        description = (
            f"{describe(identity)}: {'; '.join(parts)}. Excess-privilege index {result.index}/100: "
            f"{result.unused:,} of {_count(result.granted, 'granted permission')} are unused "
            f"(evidence: {', '.join(source_label(s) for s in sources)}; covers {round(100 * coverage)}% of the "
            f"granted permissions)."
        )
        if unobservable:
            description += f" Not judged (invisible to the evidence): {', '.join(unobservable)}."
        spans = {
            (r.source, r.window_start, r.window_end)
            for r in ctx.usage(identity.id, "service")
            + ctx.usage(identity.id, "action")
            + ctx.usage(identity.id, "permission")
        }
        windows = sorted(
            {(source, iso(start), iso(end)) for source, start, end in spans}, key=lambda w: (w[0], w[1] or "")
        )
        partly_actions = [p for s in partly for p in s.unused_actions]
        return self.finding(
            ctx,
            identity,
            severity=severity,
            confidence=confidence,
            description=description,
            evidence={
                "excess_privilege_index": result.index,
                "formula": "round(100 * unused_permissions / granted_permissions)",
                "granted_permissions": result.granted,
                "unused_permissions": result.unused,
                "evidence_coverage_pct": round(100 * coverage),
                "window_days": days,
                "granted_services": granted_services,
                "used_services": [{"service": s.service, "last_used": iso(s.last_used)} for s in used_services],
                "unused_services": [
                    {
                        "service": s.service,
                        "last_used": iso(s.last_used),
                        "granted_permissions": s.granted,
                        "unused_permissions": s.unused,
                    }
                    for s in unused_services
                ],
                "unused_actions_in_used_services": partly_actions[:MAX_ACTIONS_IN_EVIDENCE],
                "unused_actions_in_used_services_total": len(partly_actions),
                "services_without_evidence": [s.service for s in unknown],
                "not_judged": unobservable,
                "admin_equivalent": admin,
                "sources": sources,
                "windows": [{"source": s, "start": a, "end": b} for s, a, b in windows],
            },
        )
